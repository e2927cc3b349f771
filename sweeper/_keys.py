"""The task keys the sweeper sets, as the task's own config declares them (``sweep_keys``).

``tasks.train`` declares them in ``conf/train.yaml``; a user's own app declares its own names
(or none: a plain ``-m x=...`` search needs none). A feature that needs a key the task has not
declared is refused in one line naming ``sweep_keys.<name>``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from omegaconf import DictConfig, OmegaConf

from sweeper._errors import SweepError

NODE = "sweep_keys"  # the task config's node; never part of a study's fixed settings
_ABSENT = object()


@dataclass(frozen=True)
class SweepKeys:
    lr: str | None = None  # the peak lr: range-test bounds, lr levels, lr x wd products
    wd: str | None = None  # the weight decay a product param derives
    budget: str | None = None  # the int setting a rung run shortens (epochs)
    init_from: str | None = None  # continuation: a run dir whose final weights a run starts from
    final_weights: str | None = None  # continuation: a bool setting that keeps those weights
    seed: str | None = None  # the run seed an adaptive balance design adds
    task: DictConfig | None = field(default=None, repr=False, compare=False)  # to check keys exist

    @classmethod
    def of(cls, task_cfg: DictConfig) -> SweepKeys:
        node = OmegaConf.select(task_cfg, NODE)
        if node is None:
            return cls()
        given = OmegaConf.to_container(node, resolve=True)
        names = {f.name for f in fields(cls)} - {"task"}
        if not isinstance(given, dict) or not set(given) <= names:
            raise SweepError(
                f"{NODE} must map some of {sorted(names)} to task keys, got {given!r}."
            )
        keys = {str(k): None if v is None else str(v) for k, v in given.items()}
        return cls(**keys, task=task_cfg)

    def need(self, name: str, why: str) -> str:
        """The task key ``why`` sets; one line when the task declares none, or one it lacks."""
        key = getattr(self, name)
        if key is None:
            raise SweepError(f"{why} needs {NODE}.{name} in the task's config (the key it sets).")
        if self.task is not None and OmegaConf.select(self.task, key, default=_ABSENT) is _ABSENT:
            raise SweepError(f"{NODE}.{name}={key} ({why}): the task's config has no key {key!r}.")
        return str(key)
