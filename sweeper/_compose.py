"""Compose each distinct *shape* of job overrides once; derive the other jobs by setting values.

Hydra's launchers call ``config_loader.load_sweep_config`` for every job, which rebuilds
the defaults tree and merges every config file again (~2/3 of a no-op job's cost). Trials
of one sweep differ only in the values of the same keys, so a job whose overrides set
plain scalar values of non-group keys starts from a copy of the config composed for the
first job of that shape (kept pickled where it can be: unpickling copies a config ~5x
faster than ``copy.deepcopy``), with those values set the way Hydra sets them (``OmegaConf.update``
with the parsed override value) and Hydra's per-job bookkeeping (``hydra.overrides``,
``hydra.job.override_dirname``) rebuilt. Anything else (a group choice, a list or dict
value, a deletion, a ``hydra.*`` key other than ``hydra.sweep.subdir``) is part of the
shape, so it is composed by Hydra itself. tests/test_compose.py checks that both ways give
identical configs.
"""

from __future__ import annotations

import copy
import pickle
from functools import lru_cache
from typing import Any

from hydra.core.config_loader import ConfigLoader
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf, open_dict

PATCHABLE_HYDRA_KEYS = ("hydra.sweep.subdir",)
_PARSER = OverridesParser.create()


def _template(cfg: DictConfig) -> bytes | DictConfig:
    """The config pickled: unpickling copies it ~5x faster than ``copy.deepcopy``. A config
    typed by a class pickle cannot name (a plugin's config class imported twice by Hydra's
    plugin scan, as with the joblib launcher) stays a config, deep-copied per job."""
    try:
        return pickle.dumps(cfg, protocol=pickle.HIGHEST_PROTOCOL)
    except (pickle.PicklingError, TypeError, AttributeError):
        return copy.deepcopy(cfg)


@lru_cache(maxsize=4096)
def _parse(line: str) -> Override:
    """Hydra's grammar parses a line in ~0.3 ms; most of a job's lines repeat from job to job."""
    return _PARSER.parse_override(line)


class CachedConfigLoader(ConfigLoader):
    """A ``ConfigLoader`` that delegates to Hydra's and caches ``load_sweep_config`` by shape."""

    def __init__(self, inner: ConfigLoader) -> None:
        self.inner = inner
        self.templates: dict[tuple, bytes | DictConfig] = {}
        self.groups: dict[str, bool] = {}

    def load_sweep_config(
        self, master_config: DictConfig, sweep_overrides: list[str]
    ) -> DictConfig:
        parsed = [_parse(line) for line in sweep_overrides]
        patch = [
            o for o in parsed if self._patchable(o)
        ]  # judged once per job: parsing values is not free
        shape = tuple(o.key_or_group if o in patch else o.input_line for o in parsed)
        template = self.templates.get(shape)
        if template is None:
            cfg = self.inner.load_sweep_config(master_config, list(sweep_overrides))
            self.templates[shape] = _template(cfg)
            return cfg
        cfg = pickle.loads(template) if isinstance(template, bytes) else copy.deepcopy(template)
        for o in patch:
            OmegaConf.update(cfg, o.key_or_group, o.value(), merge=True, force_add=True)
        app = [o for o in parsed if not o.is_hydra_override()]
        job = cfg.hydra.job.config.override_dirname
        with open_dict(cfg.hydra):
            cfg.hydra.overrides.task = [o.input_line for o in app]
            # as written: iterating the ListConfig would resolve ${oc.env:...} into the job's .hydra/hydra.yaml
            hydra_lines = OmegaConf.to_container(master_config.hydra.overrides.hydra, resolve=False)
            assert isinstance(hydra_lines, list)
            cfg.hydra.overrides.hydra = [
                *hydra_lines,
                *(o.input_line for o in parsed if o.is_hydra_override()),
            ]
            # as Hydra's ConfigLoaderImpl builds it: sorted ``key=value`` lines, then the separators
            lines = sorted(str(o.input_line) for o in app if o.key_or_group not in job.exclude_keys)
            cfg.hydra.job.override_dirname = job.item_sep.join(lines).replace("=", job.kv_sep)
        OmegaConf.copy_cache(from_config=master_config, to_config=cfg)
        return cfg

    def _patchable(self, o: Override) -> bool:
        key = o.key_or_group
        return (
            not o.is_sweep_override()
            and not o.is_delete()
            and o.package is None
            and "/" not in key
            and (not key.startswith("hydra.") or key in PATCHABLE_HYDRA_KEYS)
            and not isinstance(o.value(), (dict, list))
            and not self._is_group(key)
        )

    def _is_group(self, key: str) -> bool:
        if key not in self.groups:
            self.groups[key] = bool(
                self.inner.list_groups(key) or self.inner.get_group_options(key)
            )
        return self.groups[key]

    # --- everything else is Hydra's ---

    def load_configuration(
        self,
        config_name: str | None,
        overrides: list[str],
        run_mode: RunMode,
        from_shell: bool = True,
        validate_sweep_overrides: bool = True,
    ) -> DictConfig:
        return self.inner.load_configuration(
            config_name, overrides, run_mode, from_shell, validate_sweep_overrides
        )

    def get_search_path(self) -> Any:
        return self.inner.get_search_path()

    def get_sources(self) -> list:
        return self.inner.get_sources()

    def list_groups(self, parent_name: str) -> list[str]:
        return self.inner.list_groups(parent_name)

    def get_group_options(
        self,
        group_name: str,
        results_filter: Any = None,
        config_name: str | None = "",
        overrides: Any = None,
    ) -> list[str]:
        return self.inner.get_group_options(group_name, results_filter, config_name, overrides)

    def compute_defaults_list(
        self, config_name: str | None, overrides: list[str], run_mode: RunMode
    ) -> Any:
        return self.inner.compute_defaults_list(config_name, overrides, run_mode)
