"""Create or resume a study; refuse silent reuse; fail trials a dead sweep left RUNNING.

Optuna's ``load_if_exists`` keeps a stored study's direction silently, and its
heartbeat covers only ``study.optimize``; with ask/tell we record which sweep
process asked each trial (``worker`` user attr) and, on resume, fail RUNNING
trials whose process is gone (same host) or whose heartbeat is stale (other host).
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from typing import Any

import optuna
from omegaconf import DictConfig, OmegaConf
from optuna.distributions import BaseDistribution, distribution_to_json
from optuna.trial import TrialState

from sweeper._errors import SweepError
from sweeper._job import Worker
from sweeper.record import StudyKey, TrialKey
from training.checks import flatten
from training.contract import RunStatus, is_runtime

log = logging.getLogger(__name__)


class StudyMismatch(SweepError):
    """The stored study was made for other directions or another search space."""


def space_json(space: dict[str, BaseDistribution]) -> str:
    return json.dumps(
        {k: json.loads(distribution_to_json(v)) for k, v in sorted(space.items())}, sort_keys=True
    )


def open_study(
    *,
    name: str,
    storage: optuna.storages.BaseStorage,
    directions: list[str],
    metrics: list[str],
    space: dict[str, BaseDistribution],
    sampler: optuna.samplers.BaseSampler,
    pruner: optuna.pruners.BasePruner,
    settings: dict[str, Any],
) -> tuple[optuna.Study, bool]:
    """The study and whether it already existed; an existing one must match exactly: directions,
    metrics, search space and the fixed ``settings`` every trial trains with (a resume with
    ``epochs=3`` after ``epochs=8`` would mix budgets in one study)."""
    try:
        study = optuna.load_study(study_name=name, storage=storage, sampler=sampler, pruner=pruner)
    except KeyError:
        try:
            study = optuna.create_study(
                study_name=name,
                storage=storage,
                sampler=sampler,
                pruner=pruner,
                directions=[optuna.study.StudyDirection[d.upper()] for d in directions],
            )
        except optuna.exceptions.DuplicatedStudyError:  # another worker created it just now
            study = optuna.load_study(
                study_name=name, storage=storage, sampler=sampler, pruner=pruner
            )
        else:
            study.set_user_attr(StudyKey.METRICS, metrics)
            _name_metrics(study, metrics)  # optuna-dashboard shows them instead of "Objective 0"
            study.set_user_attr(StudyKey.FIXED_SETTINGS, settings)
            study.set_user_attr(
                StudyKey.SEARCH_SPACE, space_json(space)
            )  # last: its presence means "set up"
            return study, False
    _wait_for_setup(study)
    stored = [d.name.lower() for d in study.directions]
    if stored != [d.lower() for d in directions]:
        raise StudyMismatch(
            f"study {name!r} exists with directions {stored}, this sweep asks for {directions}; use another hydra.sweeper.study_name."
        )
    if study.user_attrs.get(StudyKey.SEARCH_SPACE) != space_json(space):
        raise StudyMismatch(
            f"study {name!r} exists with search space {study.user_attrs.get('search_space')}, this sweep asks for {space_json(space)}; "
            "use another hydra.sweeper.study_name."
        )
    if study.user_attrs.get(StudyKey.METRICS, metrics) != metrics:
        raise StudyMismatch(
            f"study {name!r} optimizes {study.user_attrs.get('metrics')}, this sweep asks for {metrics}; use another hydra.sweeper.study_name."
        )
    stored_settings = study.user_attrs.get(StudyKey.FIXED_SETTINGS)
    if stored_settings is not None and stored_settings != settings:
        keys = sorted(
            k
            for k in set(stored_settings) | set(settings)
            if stored_settings.get(k) != settings.get(k)
        )
        shown = ", ".join(
            f"{k}: {stored_settings.get(k)!r} -> {settings.get(k)!r}" for k in keys[:5]
        ) + (" ..." if len(keys) > 5 else "")
        raise StudyMismatch(
            f"study {name!r} was run with other fixed settings ({shown}); use another hydra.sweeper.study_name."
        )
    return study, True


OWNER_FILE = ".supersweep-study.json"


def claim_sweep_dir(sweep_dir: Path, name: str, storage: str) -> None:
    """A sweep dir belongs to one study: its job dirs are named by trial number, so a second
    study there would overwrite the first one's. The first sweep claims it (atomically); the
    same study (a resume, another worker) may come back; any other is refused."""
    sweep_dir.mkdir(parents=True, exist_ok=True)
    owner = {"study_name": name, "storage": storage}
    path = sweep_dir / OWNER_FILE
    # written whole under a private name, then linked into place: the link fails if the claim
    # exists, so of two sweeps starting together one claims it, and no reader sees a half file
    tmp = sweep_dir / f"{OWNER_FILE}.{uuid.uuid4().hex}"
    tmp.write_text(json.dumps(owner))
    try:
        os.link(tmp, path)
        return
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    try:
        claimed = json.loads(path.read_text())
    except (OSError, ValueError):
        raise StudyMismatch(
            f"hydra.sweep.dir={sweep_dir}: {path} is unreadable; use another hydra.sweep.dir."
        ) from None
    if claimed != owner:
        raise StudyMismatch(
            f"hydra.sweep.dir={sweep_dir} belongs to study {claimed.get('study_name')!r} ({claimed.get('storage')}); "
            f"its job dirs would be overwritten: use another hydra.sweep.dir, or hydra.sweeper.study_name={claimed.get('study_name')} to resume it."
        )


def _name_metrics(study: optuna.Study, metrics: list[str]) -> None:
    import warnings

    with warnings.catch_warnings():  # experimental in Optuna 3.2 - 5
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names(metrics)


def fixed_settings(task_cfg: DictConfig, searched: list[str]) -> dict[str, Any]:
    """The task config every trial of this sweep shares, flattened to ``{dotted.key: value}``
    (interpolations as written): all but ``hydra``, the trial bridge, the searched params and
    the per-worker runtime keys."""
    container = OmegaConf.to_container(task_cfg, resolve=False)
    assert isinstance(container, dict)
    skip = {"hydra", "trial", *searched}
    top = {k: v for k, v in container.items() if k not in skip}
    return {k: v for k, v in flatten(top).items() if k not in skip and not is_runtime(k)}


def _wait_for_setup(study: optuna.Study, timeout_s: float = 30.0) -> None:
    """A worker that loses the creation race waits until the creator has stored the search space."""
    deadline = time.time() + timeout_s
    while "search_space" not in study.user_attrs and time.time() < deadline:
        time.sleep(0.1)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def trial_id(storage: optuna.storages.BaseStorage, study_name: str, number: int) -> int:
    """The storage's id of trial ``number`` of a study, via the public storage API."""
    study_id = storage.get_study_id_from_name(study_name)
    return storage.get_trial_id_from_study_id_trial_number(study_id, number)


def trial_handle(
    study: optuna.Study, storage: optuna.storages.BaseStorage, number: int
) -> optuna.trial.Trial:
    """A ``Trial`` for trial ``number`` of ``study`` (to tell or report to it from anywhere)."""
    return optuna.trial.Trial(study, trial_id(storage, study.study_name, number))


def tell(
    study: optuna.Study, trial: optuna.Trial, values: list[float] | None, state: TrialState
) -> None:
    study.tell(trial, values=values, state=state, skip_if_finished=True)


class _NoStop:
    """The study as a sampler's ``after_trial`` sees it, with ``stop()`` a no-op: a grid sampler
    stops a study when its grid is done, which raises outside ``optimize``; the loop checks the
    grid's size itself."""

    def __init__(self, study: optuna.Study) -> None:
        self._study = study

    def stop(self) -> None:
        pass

    def __getattr__(self, name: str) -> Any:
        return getattr(self._study, name)


class WorkerTagged(optuna.samplers.BaseSampler):
    """The sweep's sampler, recording which sweep process asked a trial as soon as the trial
    exists (Optuna calls ``before_trial`` right after creating it, before any sampling): a
    crash later inside ``ask`` leaves a RUNNING trial that is known to be this worker's."""

    def __init__(
        self,
        inner: optuna.samplers.BaseSampler,
        storage: optuna.storages.BaseStorage,
        worker: Worker,
    ) -> None:
        self.inner, self.storage, self.worker = inner, storage, worker

    def before_trial(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        tid = trial_id(self.storage, study.study_name, trial.number)
        for key, value in self.worker.as_attrs().items():
            self.storage.set_trial_user_attr(tid, key, value)
        self.inner.before_trial(study, trial)

    def infer_relative_search_space(
        self, study: optuna.Study, trial: optuna.trial.FrozenTrial
    ) -> dict[str, BaseDistribution]:
        return self.inner.infer_relative_search_space(study, trial)

    def sample_relative(
        self,
        study: optuna.Study,
        trial: optuna.trial.FrozenTrial,
        search_space: dict[str, BaseDistribution],
    ) -> dict[str, Any]:
        return self.inner.sample_relative(study, trial, search_space)

    def sample_independent(
        self,
        study: optuna.Study,
        trial: optuna.trial.FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        return self.inner.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(
        self,
        study: optuna.Study,
        trial: optuna.trial.FrozenTrial,
        state: TrialState,
        values: Sequence[float] | None,
    ) -> None:
        self.inner.after_trial(_NoStop(study), trial, state, values)  # type: ignore[arg-type]

    def reseed_rng(self) -> None:
        self.inner.reseed_rng()


# a live sweep records itself on a trial it asked within milliseconds (longer only while it
# waits for another writer's SQLite lock, at most _storage.SQLITE_TIMEOUT_S): a RUNNING trial
# still without a worker, params or heartbeat after this long belongs to no live sweep
UNOWNED_AFTER_S = 75.0


def unowned(t: optuna.trial.FrozenTrial) -> bool:
    return (
        not t.params and Worker.of(t.user_attrs) is None and TrialKey.HEARTBEAT not in t.user_attrs
    )


def unowned_wait_s(study: optuna.Study) -> float:
    """How long until every unowned RUNNING trial of the study can be failed (0: none left)."""
    ages = [
        time.time() - t.datetime_start.timestamp()
        for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        if unowned(t) and t.datetime_start
    ]
    return max((UNOWNED_AFTER_S - a for a in ages), default=0.0)


def fail_zombies(
    study: optuna.Study,
    storage: optuna.storages.BaseStorage,
    stale_after_s: float,
    retry: bool,
    *,
    mine: Collection[int] = (),
    when: str = "on resume",
    status: RunStatus = RunStatus.FAILED,
    adopt: Callable[[optuna.trial.FrozenTrial], bool] | None = None,
) -> list[int]:
    """Fail RUNNING trials whose sweep is gone (a dead process on this host, or no sign of life
    from another host for ``stale_after_s``), and this process's own RUNNING trials not in
    ``mine`` (left by a crash inside ``ask``); with ``retry``, enqueue their params again. A dead
    trial that ``adopt`` takes over (its run finished, or runs again in place) is not failed."""
    here = Worker.this()
    failed = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        worker = Worker.of(t.user_attrs)
        start = t.datetime_start.timestamp() if t.datetime_start else 0
        last_sign = t.user_attrs.get(TrialKey.HEARTBEAT) or start
        if worker is not None and worker.host == here.host:
            dead = not _alive(worker.pid) if worker.pid != here.pid else t.number not in mine
        elif unowned(t):  # its sweep died inside ask(), between creating it and recording itself
            dead = time.time() - start > UNOWNED_AFTER_S
        else:
            dead = time.time() - last_sign > stale_after_s
        if not dead or (adopt is not None and adopt(t)):
            continue
        handle = trial_handle(study, storage, t.number)
        handle.set_user_attr(TrialKey.STATUS, status)
        handle.set_user_attr(TrialKey.LOST, True)
        who = f"sweep {worker}" if worker else "a sweep that died inside ask() (no worker recorded)"
        handle.set_user_attr(TrialKey.REASON, f"left RUNNING by {who} that is gone; failed {when}")
        tell(study, handle, None, TrialState.FAIL)
        failed.append(t.number)
        if retry:
            # the retry runs in the zombie's job dir: a run that checkpointed (a preempted worker) resumes there
            study.enqueue_trial(
                t.params,
                user_attrs={
                    TrialKey.RETRY_OF: t.number,
                    TrialKey.RESUME_SUBDIR: t.user_attrs.get(TrialKey.RESUME_SUBDIR, str(t.number)),
                },
            )
    if failed:
        log.warning(
            f"failed {len(failed)} trial(s) left RUNNING by a sweep that is gone ({when}): {failed}"
            + (" (re-enqueued)" if retry else "")
        )
    return failed
