"""The Optuna search behind ``hydra/sweeper=supersweep``.

Public: :class:`SweeperSettings` (``hydra.sweeper.*``), :class:`SweeperCore` (the ask/tell
loop over a Hydra launcher), :func:`trial_callbacks` (the job side: a task function passes
them to its training loop to report epochs and stop when pruned), :func:`parse_space`
(override strings -> Optuna distributions), :func:`open_storage`, :func:`default_url`,
:func:`redact`, :func:`study_surface` (the model of a study's runs, as the sweep ended
with), :class:`TrialRef` (the ``trial`` node of a job), :func:`time_limit` (the
trial's time limit, which the pre-check applies too). Every ``_``-module (the loop,
the job, the search space, the budgets, the pool, the study, ...; the README's sweeper tree)
is private. The names load on first use, so
Hydra's plugin scan stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from training.lazy import lazy_names

__all__ = [
    "SearchSpaceError",
    "StorageError",
    "SweepError",
    "SweeperCore",
    "SweeperSettings",
    "TrialRef",
    "TrialTimeout",
    "default_url",
    "design_undecided",
    "open_storage",
    "parse_space",
    "redact",
    "resolve_reference",
    "shown",
    "sqlite_file",
    "study_surface",
    "time_limit",
    "trial_callbacks",
]

__getattr__ = lazy_names(
    __name__,
    {
        "SearchSpaceError": "sweeper._space",
        "StorageError": "sweeper._storage",
        "SweepError": "sweeper._errors",
        "TrialRef": "sweeper.trial_ref",
        "TrialTimeout": "sweeper._jobs",
        "time_limit": "sweeper._jobs",
        "SweeperCore": "sweeper._core",
        "SweeperSettings": "sweeper.settings",
        "default_url": "sweeper._storage",
        "design_undecided": "sweeper._recommend",
        "open_storage": "sweeper._storage",
        "parse_space": "sweeper._space:parse",
        "redact": "sweeper._storage",
        "resolve_reference": "sweeper._storage",
        "shown": "sweeper._storage",
        "sqlite_file": "sweeper._storage",
        "study_surface": "sweeper._recommend",
        "trial_callbacks": "sweeper._trial",
    },
)

if TYPE_CHECKING:
    from sweeper._core import SweeperCore
    from sweeper._errors import SweepError
    from sweeper._jobs import TrialTimeout, time_limit
    from sweeper._recommend import design_undecided, study_surface
    from sweeper._space import SearchSpaceError
    from sweeper._space import parse as parse_space
    from sweeper._storage import (
        StorageError,
        default_url,
        open_storage,
        redact,
        resolve_reference,
        shown,
    )
    from sweeper._trial import trial_callbacks
    from sweeper.settings import SweeperSettings
    from sweeper.trial_ref import TrialRef
