"""The layers stay layered: apps (tasks) -> {sweeper, reports, plugin shim} -> library (training) and
analysis (numpy only: numbers in, results out).

Read from the import statements of every module (``ast``), so a lazy import inside a
function counts as much as one at the top.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from .conftest import ROOT

PACKAGES = ("tasks", "training", "analysis", "sweeper", "reports", "hydra_plugins")
# package -> the project packages it may import (its own included)
ALLOWED = {
    "training": {"training"},
    "analysis": {"analysis"},
    "sweeper": {"sweeper", "training", "analysis"},
    "reports": {
        "reports",
        "sweeper",
        "training",
        "analysis",
    },  # studies are opened through the sweeper's public storage functions
    "hydra_plugins": {"hydra_plugins", "sweeper"},
    "tasks": set(PACKAGES),
}


def modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def imports(path: Path) -> list[str]:
    """Absolute module names imported by ``path`` (relative imports resolve into its own package)."""
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def ours(name: str) -> str | None:
    """The project package a module name belongs to; None for third parties (Hydra's
    ``hydra_plugins`` namespace is shared with other plugins, e.g. hydra-submitit's)."""
    top = name.split(".")[0]
    if (
        top == "hydra_plugins"
        and name != top
        and not name.startswith("hydra_plugins.supersweep_sweeper")
    ):
        return None
    return top if top in PACKAGES else None


@pytest.mark.parametrize("package", PACKAGES)
def test_imports_point_down(package):
    bad = []
    for path in modules(package):
        for name in imports(path):
            top = ours(name) or ""
            if top in PACKAGES and top not in ALLOWED[package]:
                bad.append(f"{path.relative_to(ROOT)} imports {name}")
            elif (
                top != package
                and top in PACKAGES
                and top != "tasks"
                and any(part.startswith("_") for part in name.split(".")[1:])
            ):
                bad.append(
                    f"{path.relative_to(ROOT)} imports {name}, a private module of another package"
                )
    assert not bad, "\n".join(bad)


def test_the_import_rule_catches_an_upward_import(tmp_path):
    """The check above sees lazy imports inside functions, not just module-level ones."""
    f = tmp_path / "m.py"
    f.write_text(
        "def f():\n    from sweeper._trial import trial_callbacks\n    import tasks.train\n"
    )
    assert imports(f) == ["sweeper._trial", "tasks.train"]


@pytest.mark.parametrize("package", ["training", "sweeper", "reports", "tasks"])
def test_every_package_states_its_public_names_and_types(package):
    for init in (ROOT / package).rglob("__init__.py"):
        assert (init.parent / "py.typed").is_file(), f"{init.parent} has no py.typed"
    if package != "tasks":  # apps are run, not imported
        assert "__all__" in (ROOT / package / "__init__.py").read_text()


PRIVATE_OF_OTHERS = ("hydra._internal", "hydra_plugins.hydra_submitit_launcher")


@pytest.mark.parametrize("package", ["sweeper", "hydra_plugins"])
def test_the_sweeper_uses_no_private_hydra_or_hydra_submitit_names(package):
    """Hydra's ``_internal`` and hydra-submitit's launcher body change without notice (how the
    official Optuna plugin got stuck on an old Optuna): the sweeper uses their public APIs only."""
    bad = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in modules(package)
        for name in imports(path)
        if name.startswith(PRIVATE_OF_OTHERS)
    ]
    assert not bad, "\n".join(bad)
    uses = [str(p.relative_to(ROOT)) for p in modules(package) if "._EXECUTOR" in p.read_text()]
    assert not uses, f"hydra-submitit's private launcher attributes used in {uses}"
