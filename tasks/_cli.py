"""What every app does before Hydra starts: one-line errors for bad input, exit code 2.

Group choices and every job of a multirun are checked from config alone, before any data
is loaded or any job trains.
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from importlib.resources import files
from pathlib import Path

from omegaconf import DictConfig

from training.checks import ConfigError

CONFIG_PATH = "pkg://conf"  # the apps' configs: the `conf` package, wherever it is installed


def conf_dir() -> Path:
    """The directory of the ``conf`` package (a plain directory for any pip install)."""
    return Path(str(files("conf")))


@contextmanager
def exit_on_config_error() -> Iterator[None]:
    """Bad input prints ``error: <message>`` (one line, no traceback) and exits 2.

    Used inside Hydra task functions (Hydra would print a traceback) and around
    :func:`check_group_choices` before Hydra starts.
    """
    try:
        yield
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr, flush=True)
        sys.exit(2)


def check_group_choices(args: Sequence[str], conf: Path) -> None:
    """``group=option`` command-line overrides must name an existing option.

    Hydra would say so too, over a dozen lines; this says it in one. Sweep syntax
    (``choice(...)``, ``glob(...)``) is left to Hydra.
    """
    for arg in args:
        key, sep, value = arg.lstrip("+~").partition("=")
        group = conf / key
        if not sep or "(" in value or not group.is_dir():
            continue
        allowed = sorted(p.stem for p in group.glob("*.yaml"))
        for option in value.split(","):
            if option not in allowed and option != "null":
                raise ConfigError(f"{key}={option} is not an option of '{key}'; allowed: {', '.join(allowed)}.")


def job_overrides(args: Sequence[str]) -> list[list[str]]:
    """The jobs a basic-sweeper multirun of ``args`` launches (Hydra's grid expansion).

    Only plain config overrides count: flags and ``hydra.*`` are Hydra's own.
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser

    plain = [a for a in args if "=" in a and not a.startswith(("-", "hydra.", "hydra/"))]
    axes = []
    for o in OverridesParser.create().parse_overrides(plain):
        key = o.get_key_element()
        values = list(o.sweep_string_iterator()) if o.is_sweep_override() else [o.get_value_element_as_str()]
        axes.append([f"{key}={v}" for v in values])
    return [list(job) for job in itertools.product(*axes)]


def check_each_job(args: Sequence[str], config_name: str, check: Callable[[DictConfig], None]) -> None:
    """Compose and check every job of a multirun before the first one starts."""
    from hydra import compose, initialize_config_dir

    if not {"-m", "--multirun"} & set(args):
        return
    try:
        jobs = job_overrides(args)
    except Exception:  # sweep syntax of another sweeper (interval(), tag()): its own checks apply
        return
    with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
        for job in jobs:
            try:
                check(compose(config_name, overrides=job))
            except ConfigError as e:
                raise ConfigError(f"{e} (job {' '.join(job)})") from None


def preflight(config_name: str, check: Callable[[DictConfig], None] | None = None) -> None:
    """The command line's group choices (and, for a multirun, every job) checked before Hydra starts."""
    with exit_on_config_error():
        check_group_choices(sys.argv[1:], conf_dir())
        if check is not None:
            check_each_job(sys.argv[1:], config_name, check)
