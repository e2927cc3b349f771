"""Package ``__init__`` names that load their module on first use (PEP 562), so importing
a package stays cheap: the report never pays for torch, Hydra's plugin scan never for Optuna."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_names(package: str, where: dict[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package``: ``where`` maps each public name to
    ``"module"`` or ``"module:attribute"`` when the attribute is named otherwise."""

    def __getattr__(name: str) -> Any:
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module, _, attr = where[name].partition(":")
        return getattr(importlib.import_module(module), attr or name)

    return __getattr__
