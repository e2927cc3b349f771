"""The task keys the sweeper sets, as the task's own config declares them (``sweep_keys``).

``tasks.train`` declares them in ``conf/train.yaml``; a user's own app declares its own names
(or none: a plain ``-m x=...`` search needs none). A feature that needs a key the task has not
declared is refused in one line naming ``sweep_keys.<name>``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from omegaconf import DictConfig, OmegaConf

from sweeper._errors import SweepError

NODE = "sweep_keys"  # the task config's node; never part of a study's fixed settings


@dataclass(frozen=True)
class SweepKeys:
    lr: str | None = None  # the peak lr: range-test bounds, lr levels, lr x wd products
    wd: str | None = None  # the weight decay a product param derives
    budget: str | None = None  # the int setting a rung run shortens (epochs)
    init_from: str | None = None  # continuation: a run dir whose final weights a run starts from
    final_weights: str | None = None  # continuation: a bool setting that keeps those weights

    @classmethod
    def of(cls, task_cfg: DictConfig) -> SweepKeys:
        node = OmegaConf.select(task_cfg, NODE)
        if node is None:
            return cls()
        given = OmegaConf.to_container(node, resolve=True)
        names = {f.name for f in fields(cls)}
        if not isinstance(given, dict) or not set(given) <= names:
            raise SweepError(
                f"{NODE} must map some of {sorted(names)} to task keys, got {given!r}."
            )
        return cls(**{str(k): None if v is None else str(v) for k, v in given.items()})

    def need(self, name: str, why: str) -> str:
        key = getattr(self, name)
        if key is None:
            raise SweepError(f"{why} needs {NODE}.{name} in the task's config (the key it sets).")
        return str(key)
