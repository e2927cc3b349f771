"""How a job finds its trial: the ``trial`` node the sweeper gives every job it launches.

Light on purpose (Hydra's plugin scan imports it to register the node in the ConfigStore).
"""

# no `from __future__ import annotations`: OmegaConf reads these annotations as types.

from dataclasses import dataclass, fields
from typing import Any

from omegaconf import OmegaConf


@dataclass(frozen=True)
class TrialRef:
    """The study a job belongs to, the storage as the sweep was given it (``${oc.env:VAR}``
    stays a placeholder), the trial number, the metric reported per epoch, and whether the job
    reports at all (rung runs only heartbeat), and which of its rungs the run is. The plugin registers it in Hydra's ConfigStore
    (``hydra/supersweep/trial``); the job side reads ``cfg.trial`` through it, so a malformed
    reference is a typed error, not a guess."""

    number: int
    study: str
    storage: str
    metric: str
    report: bool = True
    rung: int = (
        0  # a short run before the trial's full one: its budget (epochs=1: 1); 0: the full run
    )

    def to_overrides(self) -> list[str]:
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        return [
            f"+trial.{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in values.items()
        ]

    @classmethod
    def read(cls, node: Any) -> "TrialRef":
        """``cfg.trial`` as a job got it, checked against this schema."""
        typed = OmegaConf.merge(OmegaConf.structured(cls), node)
        return cls(**OmegaConf.to_container(typed, resolve=True))  # type: ignore[arg-type]
