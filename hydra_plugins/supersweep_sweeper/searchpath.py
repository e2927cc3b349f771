"""Puts the plugin's own config groups (``hydra/sweeper/supersweep_scheduler``) on Hydra's search
path for every app that uses the sweeper, not only this project's ``conf/``."""

from __future__ import annotations

from hydra.core.config_search_path import ConfigSearchPath
from hydra.plugins.search_path_plugin import SearchPathPlugin


class SupersweepSearchPath(SearchPathPlugin):
    def manipulate_search_path(self, search_path: ConfigSearchPath) -> None:
        search_path.append(
            provider="supersweep", path="pkg://hydra_plugins.supersweep_sweeper.conf"
        )
