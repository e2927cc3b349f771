"""What every app does before Hydra starts: one-line errors for bad input, exit code 2.

Group choices and every job of a multirun are checked from config alone, before any data
is loaded or any job trains.
"""

from __future__ import annotations

import itertools
import logging
import math
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from importlib.resources import files
from pathlib import Path

from hydra.errors import HydraException
from omegaconf import DictConfig
from omegaconf.errors import OmegaConfBaseException

from training.checks import ConfigError, check_once
from training.errors import UserError

CONFIG_PATH = "pkg://conf"  # the apps' configs: the `conf` package, wherever it is installed
OPTIONAL_GROUPS = ("experiment", "sweep")  # groups that may be null; a run needs every other one
MAX_CHECKED_JOBS = 256
MIN_FREE_BYTES = 1 << 20  # an output dir's disk with less is full: Hydra's first file would fail


def conf_dir() -> Path:
    """The directory of the ``conf`` package (a plain directory for any pip install)."""
    return Path(str(files("conf")))


@contextmanager
def exit_on_config_error() -> Iterator[None]:
    """Bad input prints ``error: <message>`` (one line, no traceback) and exits 2.

    Used inside Hydra task functions (Hydra would print a traceback) and around
    :func:`check_group_choices` before Hydra starts.
    """
    quiet_log_file_errors()
    try:
        yield
    except UserError as e:  # every bad-input error (training/errors.py); a bug keeps its traceback
        print(f"error: {e}", file=sys.stderr, flush=True)
        sys.exit(2)


def quiet_log_file_errors() -> None:
    """A log file that cannot be written (a full disk) is said once per file, in one line, not
    as a "--- Logging error ---" traceback for every message; the console keeps every line.
    Set on the class: the handlers Hydra opens later (each job's log file) are covered too."""
    import logging

    logging.FileHandler.handleError = _said_once  # type: ignore[method-assign,assignment]


def _said_once(handler: logging.Handler, record: logging.LogRecord) -> None:
    if getattr(handler, "_said", False):
        return
    handler._said = True  # type: ignore[attr-defined]
    why = sys.exc_info()[1]
    name = getattr(handler, "baseFilename", "?")
    print(
        f"warning: the log file {name} cannot be written "
        f"({getattr(why, 'strerror', None) or why}); its lines go to the console only",
        file=sys.stderr,
        flush=True,
    )


@contextmanager
def disk_errors_one_line(what: str) -> Iterator[None]:
    """A disk that fills (or turns read-only) while an app writes its files: one line naming
    what it was writing, exit 1 (a fault of the machine, not bad input)."""
    import errno

    try:
        yield
    except OSError as e:
        if e.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EROFS):
            raise
        where = f" {e.filename}" if e.filename else ""
        print(f"error: {what}: cannot write{where}: {e.strerror}", file=sys.stderr, flush=True)
        sys.exit(1)


def searchpath_dirs(args: Sequence[str]) -> list[Path]:
    """The config dirs a ``hydra.searchpath=[file:///a,pkg://b]`` override adds (the standard
    Hydra way to bring configs of one's own: ``data/mydata.yaml``, ``model/mynet.yaml``)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    dirs: list[Path] = []
    for arg in args:
        if not arg.lstrip("+~").startswith("hydra.searchpath="):
            continue
        try:
            value = OverridesParser.create().parse_overrides([arg.lstrip("+~")])[0].value()
        except Exception:  # Hydra's own check says it when it composes
            continue
        for entry in value if isinstance(value, list) else [value]:
            entry = str(entry)
            if entry.startswith("pkg://"):
                try:
                    dirs.append(Path(str(files(entry.removeprefix("pkg://").replace("/", ".")))))
                except ModuleNotFoundError:
                    raise ConfigError(f"hydra.searchpath: no package {entry!r}.") from None
            else:
                dirs.append(Path(entry.removeprefix("file://")).expanduser())
    return dirs


def check_group_choices(args: Sequence[str], conf: Path) -> None:
    """``group=option`` command-line overrides must name an existing option (of the package's
    configs or of a ``hydra.searchpath`` dir on the command line).

    Hydra would say so too, over a dozen lines; this says it in one. Sweep syntax
    (``choice(...)``, ``glob(...)``) is left to Hydra.
    """
    roots = [conf, *searchpath_dirs(args)]
    for arg in args:
        key, sep, value = arg.lstrip("+~").partition("=")
        groups = [root / key for root in roots if (root / key).is_dir()]
        if not sep or "(" in value or not groups:
            continue
        allowed = sorted({p.stem for group in groups for p in group.glob("*.yaml")})
        for option in value.split(","):
            if option == "null" and key not in OPTIONAL_GROUPS:
                raise ConfigError(
                    f"{key}=null: a run needs one {key} option; allowed: {', '.join(allowed)}."
                )
            if option not in allowed and option != "null":
                raise ConfigError(
                    f"{key}={option} is not an option of '{key}'; allowed: {', '.join(allowed)}."
                )


def job_overrides(args: Sequence[str]) -> list[list[str]]:
    """The jobs a basic-sweeper multirun of ``args`` launches (Hydra's grid expansion); for the
    search syntax of the supersweep sweeper (``interval()``, ``tag(log, ...)``) the ends of each
    interval stand for it, so a bad bound is caught before the first trial trains.

    Only plain config overrides count: flags and ``hydra.*`` are Hydra's own. Beyond
    ``MAX_CHECKED_JOBS`` combinations, each value is checked with the other axes at their first.
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.core.override_parser.types import IntervalSweep

    plain = [
        a
        for a in args
        if ("=" in a or a.startswith("~")) and not a.startswith("-") and not is_hydra(a)
    ]
    axes = []
    for o in OverridesParser.create().parse_overrides(plain):
        key, value = o.get_key_element(), o.value()
        if o.is_delete():
            axes.append([str(o.input_line)])
            continue
        if isinstance(value, IntervalSweep):
            values = [str(value.start), str(value.end)]
        else:
            values = (
                list(o.sweep_string_iterator())
                if o.is_sweep_override()
                else [o.get_value_element_as_str()]
            )
        axes.append([f"{key}={v}" for v in values])
    if math.prod(len(a) for a in axes) <= MAX_CHECKED_JOBS:
        return [list(job) for job in itertools.product(*axes)]
    first = [a[0] for a in axes]
    return [[*first[:i], v, *first[i + 1 :]] for i, axis in enumerate(axes) for v in axis]


def is_hydra(arg: str) -> bool:
    """An override of Hydra's own config (``hydra.sweeper.n_trials=3``, ``hydra/launcher=x``)."""
    return arg.lstrip("+~").startswith(("hydra.", "hydra/"))


def check_each_job(
    args: Sequence[str], config_name: str, check: Callable[[DictConfig], None] | None
) -> None:
    """Compose and check the run, or every job of a multirun, before the first one starts; the
    first is composed with Hydra's own config too, so a bad ``hydra.*`` override (a type, an
    unknown option, an environment variable that is not set) is one line as well."""
    from hydra import compose, initialize_config_dir
    from hydra.errors import OverrideParseException

    try:
        jobs = job_overrides(args)
    except OverrideParseException as e:  # not an override at all (choice(), foo(1)): Hydra's words
        raise ConfigError(hydra_words(e)) from None
    except Exception:  # sweep syntax of another sweeper: its own checks apply
        return
    own = [a for a in args if "=" in a and not a.startswith("-") and is_hydra(a)]
    check_hydra_overrides(own)
    searchpath = [a for a in own if a.lstrip("+~").startswith("hydra.searchpath=")]
    multirun = bool({"-m", "--multirun"} & set(args))
    which = (lambda job: f" (job {' '.join(job)})") if multirun else (lambda job: "")
    limit = None
    with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
        for i, job in enumerate(jobs):
            try:
                cfg = compose(
                    config_name,
                    overrides=[*own, *job] if i == 0 else [*searchpath, *job],
                    return_hydra_config=i == 0,
                )
                if i == 0:
                    _resolve_hydra_settings(cfg)
                    _check_sweeper_settings(cfg)
                    check_output_dir(cfg, "hydra.sweep.dir" if multirun else "hydra.run.dir")
                    limit = _trial_time_limit(cfg) if multirun else None
                if check is not None:
                    try:
                        _check_within(limit, cfg, check)
                    except OmegaConfBaseException as e:  # e.g. ${data.num_classes} not there
                        raise ConfigError(option_key_words(e, cfg) or hydra_words(e)) from None
            except ConfigError as e:
                raise ConfigError(f"{e}{which(job)}") from None
            except (HydraException, OmegaConfBaseException) as e:  # Hydra's own words, one line
                words = unknown_key_words(e, config_name, args) or hydra_words(e)
                raise ConfigError(f"{words}{which(job)}") from None


def option_key_words(e: BaseException, cfg: DictConfig) -> str | None:
    """An interpolation that names a key a group option does not have (``${data.num_classes}``
    with ``num_clases: 4`` in one's own data YAML) as one line naming the option's file, the key
    and the key it may have meant."""
    import re

    from omegaconf import OmegaConf

    m = re.search(r"Interpolation key '(\w+)\.([\w.]+)' not found", str(e))
    if not m:
        return None
    group, key = m.group(1), m.group(2)
    node = cfg.get(group)
    if not isinstance(node, DictConfig):
        return None
    choice = OmegaConf.select(cfg, f"hydra.runtime.choices.{group}", default=None)
    where = f"{group}={choice}" if choice else group
    path = _option_file(cfg, group, choice)
    if path:
        where += f" ({path})"
    hint = did_you_mean(key, [str(k) for k in node.keys()])
    said = f"; did you mean {' or '.join(hint)}?" if hint else ""
    return f"{where} has no key {key!r}, which {getattr(e, 'full_key', '') or 'the config'} reads{said}"


def _option_file(cfg: DictConfig, group: str, choice: str | None) -> str | None:
    """The YAML file a group's chosen option came from (a searchpath dir or the app's own)."""
    from omegaconf import OmegaConf

    if not choice:
        return None
    for source in OmegaConf.select(cfg, "hydra.runtime.config_sources", default=None) or []:
        path = str(source.get("path", ""))
        if source.get("schema") == "file" and (Path(path) / group / f"{choice}.yaml").is_file():
            return str(Path(path) / group / f"{choice}.yaml")
    return None


def check_output_dir(cfg: DictConfig, key: str) -> None:
    """The run's (or the sweep's) output dir can be made and written: Hydra would make it with a
    traceback after the run started (a file in its path, a read-only file system)."""
    import shutil
    import tempfile

    from omegaconf import OmegaConf

    try:
        where = Path(str(OmegaConf.select(cfg, key))).absolute()
    except OmegaConfBaseException:  # an interpolation only Hydra's job context resolves
        return
    parent = where
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise ConfigError(f"{key}={where} cannot be created: {parent} is a file.")
    try:  # a real write: root passes every permission check, not a read-only mount
        with tempfile.TemporaryFile(dir=parent):
            pass
    except OSError as e:
        raise ConfigError(
            f"{key}={where} cannot be written: {parent}: {e.strerror or e}; pick a dir you can write."
        ) from None
    free = shutil.disk_usage(parent).free
    if free < MIN_FREE_BYTES:
        raise ConfigError(
            f"{key}={where}: the disk of {parent} is full ({free // 1024} KiB free); free some "
            "space or pick a dir on another disk."
        )


def _trial_time_limit(cfg: DictConfig) -> float | None:
    """The supersweep sweeper's ``jobs.trial_timeout_s`` (None for another sweeper, or unset)."""
    from omegaconf import OmegaConf

    limit = OmegaConf.select(cfg, "hydra.sweeper.jobs.trial_timeout_s", default=None)
    return float(limit) if isinstance(limit, (int, float)) and limit > 0 else None


def _check_within(
    limit: float | None, cfg: DictConfig, check: Callable[[DictConfig], None]
) -> None:
    """``check`` (which calls the user's data source, Dataset and model constructor) under the
    trial's time limit: a Dataset item that blocks fails the check in one line, as it would
    fail each trial, instead of hanging the sweep before its study exists."""
    if limit is None:
        check_once(cfg, check)
        return
    from sweeper import TrialTimeout, time_limit

    try:
        with time_limit(limit):
            check_once(cfg, check)
    except TrialTimeout:
        raise ConfigError(
            f"the pre-check of data={cfg.data.get('name')} and model={cfg.model.get('_target_')} "
            f"ran past hydra.sweeper.jobs.trial_timeout_s={limit:g} (it loads the data, reads "
            "every training item once for its statistics and builds the model): does "
            "data.source or a Dataset item block?"
        ) from None


def check_hydra_overrides(own: Sequence[str]) -> None:
    """Hydra's own settings as one line each: sweep syntax on a ``hydra.*`` key (Hydra refuses
    to sweep its own config), a true/false setting of the sweeper given another value (OmegaConf
    would read ``2`` as true), a ``hydra.searchpath`` dir that does not exist (Hydra only warns)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import OverrideParseException

    from sweeper.settings import bool_settings

    flags = bool_settings()
    try:
        parsed = OverridesParser.create().parse_overrides([a.lstrip("+~") for a in own])
    except OverrideParseException as e:  # not an override at all: Hydra's words, one line
        raise ConfigError(hydra_words(e)) from None
    for o in parsed:
        key = o.get_key_element()
        if o.is_sweep_override():
            leaf, value = key.rpartition(".")[2], str(o.input_line).partition("=")[2]
            raise ConfigError(
                f"{o.input_line}: Hydra does not sweep its own config; quote the search "
                f"(\"{key}='{value}'\") or give it on the command line as '{leaf}={value}'."
            )
        if key in flags and o.get_value_element_as_str().lower() not in ("true", "false"):
            raise ConfigError(f"{key} must be true or false, got {o.get_value_element_as_str()!r}.")
    for path in searchpath_dirs(own):
        if not path.is_dir():
            raise ConfigError(f"hydra.searchpath: {path} is not a directory.")


def did_you_mean(key: str, known: Sequence[str]) -> list[str]:
    """Known keys a typed ``key`` may have meant, at its own level first (a top-level typo is
    answered with top-level keys): ones it is a part of (``lr`` -> ``max_lr``) and close
    spellings (``epoch`` -> ``epochs``)."""
    import difflib

    parent, _, leaf = key.rpartition(".")
    same = [k for k in known if k.rpartition(".")[0] == parent]
    for pool in (same, list(known)):
        leaves = {k.rpartition(".")[2]: k for k in pool}
        parts = [k for lf, k in leaves.items() if leaf in lf.split("_")]
        close = [leaves[m] for m in difflib.get_close_matches(leaf, list(leaves), n=3, cutoff=0.75)]
        hits = list(dict.fromkeys([*parts, *close]))[:3]
        if hits:
            return hits
    return []


def unknown_key_words(e: BaseException, config_name: str, args: Sequence[str]) -> str | None:
    """Hydra's "Could not override 'lr'. To append to your config use +lr=0.1" as one line that
    says what the app does have: "lr is not a key of train's config; did you mean max_lr?"."""
    import re

    from hydra import compose
    from omegaconf import OmegaConf

    m = re.match(r"Could not override '([^']+)'", str(e))
    if not m:
        return None
    key = m.group(1)
    from sweeper.settings import moved

    if moved(key):  # a setting of an earlier release: its new place
        return moved(key)
    ours = any(a.lstrip("+").startswith(("hydra/sweeper=supersweep", "sweep=")) for a in args)
    if key.startswith("hydra.sweeper.") and not ours:
        return (
            f"{key} is a setting of the supersweep sweeper, and this multirun uses another: "
            "add hydra/sweeper=supersweep or a preset (sweep=lr_wd)."
        )
    if key.startswith("hydra.sweeper."):  # ours: its settings, not the app's keys
        from sweeper.settings import dotted_names

        hint = did_you_mean(key, dotted_names())
        if hint:
            return f"{key} is not a setting of the sweeper; did you mean {' or '.join(hint)}?"
        return f"{key} is not a setting of the sweeper (--cfg hydra lists them under hydra.sweeper)"
    cfg = compose(config_name)
    container = OmegaConf.to_container(cfg, resolve=False)
    known = [k for k in _dotted(container) if k != "hydra"]
    hint = did_you_mean(key, known)
    head = f"{key} is not a key of {config_name}'s config"
    if hint:
        return f"{head}; did you mean {' or '.join(hint)}? (to add a new key: +{key}=...)"
    return f"{head} (to add a new key: +{key}=...; --cfg job lists the keys)"


def _dotted(node: object, prefix: str = "") -> list[str]:
    if not isinstance(node, dict):
        return []
    out = []
    for k, v in node.items():
        name = f"{prefix}{k}"
        out += [name, *_dotted(v, f"{name}.")]
    return out


def hydra_words(e: BaseException) -> str:
    """Hydra's error on one line, with its cause (what the value should have been) and without
    the config search path it appends to an unknown option."""
    words = " ".join(str(e).split()).split(" Config search path:")[0]
    cause = e.__cause__  # "Error merging override x=abc" says why only in its cause
    if words.startswith("Error merging override") and cause is not None and str(cause).strip():
        words += ": " + " ".join(str(cause).split()).split(" full_key:")[0]
    return words


def _resolve_hydra_settings(cfg: DictConfig) -> None:
    """The sweeper's and launcher's settings resolve (``${oc.env:OPTUNA_DB}`` with the variable
    not exported fails here, in one line, not in three chained tracebacks)."""
    from omegaconf import OmegaConf

    for node in ("sweeper", "launcher"):
        try:
            OmegaConf.to_container(cfg.hydra[node], resolve=True)
        except OmegaConfBaseException as e:
            key = str(getattr(e, "full_key", None) or node).removeprefix("hydra.")
            raise ConfigError(
                f"hydra.{key}: {' '.join(str(e).split()).split(' full_key:')[0]}"
            ) from None


def _check_sweeper_settings(cfg: DictConfig) -> None:
    """The supersweep sweeper's settings (``sweeper.settings.settings_problem``), one line."""
    from omegaconf import OmegaConf

    sweeper = OmegaConf.to_container(cfg.hydra.sweeper, resolve=True)
    if not isinstance(sweeper, dict) or "supersweep" not in str(sweeper.get("_target_", "")):
        return
    from sweeper.settings import settings_problem

    problem = settings_problem({str(k): v for k, v in sweeper.items()})
    if problem:
        raise ConfigError(problem)
    space = sweeper.get("space") or {}
    if space.get("range_test_overrides"):  # a typo there failed after the study was made
        from importlib.resources import files

        from training.range_test.run import config_for_run

        settings = OmegaConf.load(str(files("conf") / "range_test.yaml"))
        try:
            config_for_run(cfg, settings, list(space["range_test_overrides"]))  # type: ignore[arg-type]
        except ConfigError as e:
            raise ConfigError(f"hydra.sweeper.space.range_test_overrides: {e}") from None


def preflight(config_name: str, check: Callable[[DictConfig], None] | None = None) -> None:
    """The command line's group choices, the run (or every job of a multirun) and Hydra's own
    settings checked before Hydra starts."""
    with exit_on_config_error():
        check_group_choices(sys.argv[1:], conf_dir())
        check_each_job(sys.argv[1:], config_name, check)
