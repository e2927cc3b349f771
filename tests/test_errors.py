"""One root for bad input (training/errors.py): every project error a user's input raises is a
UserError and exits 2 in one line; a programming error is never caught as bad input."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from reports import ReportError
from sweeper import SearchSpaceError, StorageError, SweepError
from tasks._cli import exit_on_config_error
from training.checks import ConfigError
from training.data.stream import DataSourceError
from training.errors import UserError


def _bug(**kwargs):
    raise ValueError("a bug in a schedule builder, not bad input")


@pytest.mark.parametrize(
    "cls", [ConfigError, SweepError, SearchSpaceError, StorageError, ReportError, DataSourceError]
)
def test_every_bad_input_error_has_one_root(cls):
    assert issubclass(cls, UserError)


def test_bad_input_is_one_line_and_exit_2(capsys):
    with pytest.raises(SystemExit) as e, exit_on_config_error():
        raise SweepError("hydra.sweeper.n_trials must be an integer >= 1, got 0.")
    assert e.value.code == 2
    assert (
        capsys.readouterr().err == "error: hydra.sweeper.n_trials must be an integer >= 1, got 0.\n"
    )


def test_a_bug_in_a_composite_step_keeps_its_traceback():
    """runner.plan builds the average and the schedule: a schedule's own check is one line (a
    ConfigError), but a plain ValueError there is a bug and reaches the caller as itself."""
    from training.runner import plan

    class Stepper:
        model = None

    cfg = OmegaConf.create(
        {
            "batch_size": 10,
            "epochs": 2,
            "warmup_epochs": 0,
            "averaging": {"_target_": "training.averaging.NoAveraging", "_partial_": True},
            "schedule": {"_target_": f"{__name__}._bug", "_partial_": True},
        }
    )
    with pytest.raises(ValueError, match="a bug in a schedule builder") as e:
        with exit_on_config_error():
            plan(cfg, Stepper(), 100)  # type: ignore[arg-type]
    assert not isinstance(e.value, UserError)
    cfg.schedule = {
        "_target_": "training.schedules.one_cycle",
        "_partial_": True,
        "max_lr": 0.1,
        "pct_start": 2.0,  # must be in (0, 1)
        "div": 25.0,
        "div_final": 1e5,
        "anneal": "cos",
        "three_phase": False,
        "cycle_momentum": True,
        "base_momentum": 0.85,
        "max_momentum": 0.95,
    }
    with pytest.raises(ConfigError, match="schedule.pct_start"):
        plan(cfg, Stepper(), 100)  # type: ignore[arg-type]


def test_a_log_file_on_a_full_disk_is_one_line_for_every_handler_opened_later(
    tmp_path, capsys, monkeypatch
):
    """The campaign's full sweep dir: each job's log file (opened by Hydra after the app's
    start) failed with a "--- Logging error ---" traceback per message. Now one line a file."""
    import errno
    import logging

    from tasks._cli import quiet_log_file_errors

    monkeypatch.setattr(logging.FileHandler, "handleError", logging.FileHandler.handleError)
    quiet_log_file_errors()

    class Full:
        def write(self, _):
            raise OSError(errno.ENOSPC, "No space left on device")

        def flush(self):
            pass

    log = logging.getLogger("full-disk-test")
    log.propagate = False
    for k in range(2):  # opened after the call, as a job's log file is
        handler = logging.FileHandler(tmp_path / f"job{k}.log")
        handler.stream.close()
        handler.stream = Full()
        log.addHandler(handler)
    for i in range(3):
        log.warning(f"line {i}")
    err = capsys.readouterr().err
    assert "Logging error" not in err and "Traceback" not in err, err
    assert err.count("cannot be written (No space left on device)") == 2, err
