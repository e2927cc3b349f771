"""Checkpoint and resume: an interrupted run, run again, ends bitwise as an uninterrupted one."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from training import checkpoint
from training.checks import ConfigError
from training.runner import run

from .conftest import ROOT
from .test_train import cfg_for


class Interrupt(Exception):
    """Stands for a crash or a kill after an epoch's checkpoint was written."""


def stop_at(epoch: int):
    def callback(m: dict) -> None:
        if m["epoch"] == epoch:
            raise Interrupt

    return callback


def read(run_dir: Path) -> tuple[list[dict], dict]:
    metrics = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    for m in metrics:
        m.pop("epoch_s")
    summary = json.loads((run_dir / "summary.json").read_text())
    summary.pop("wall_s")
    return metrics, summary


@pytest.mark.slow
@pytest.mark.parametrize(
    "overrides",
    [
        (),
        ("averaging=swa", "wrapper=lookahead", "lr_estimate=true"),
        ("averaging=ema", "wrapper=sam", "model.dropout=0.2", "checkpoint.every=2"),
    ],
)
def test_a_resumed_run_ends_bitwise_as_an_uninterrupted_one(tmp_path, overrides):
    cfg = cfg_for("epochs=8", *overrides)
    run(cfg, tmp_path / "straight")
    with pytest.raises(Interrupt):
        run(cfg, tmp_path / "resumed", callbacks=[stop_at(5)])
    assert (tmp_path / "resumed" / "checkpoint.pt").is_file() and not (
        tmp_path / "resumed" / "summary.json"
    ).exists()
    run(cfg, tmp_path / "resumed")  # the same command, the same run dir
    assert read(tmp_path / "resumed") == read(tmp_path / "straight")
    assert not (tmp_path / "resumed" / "checkpoint.pt").exists(), "removed when the run ends"


def test_a_checkpoint_of_another_config_is_refused_naming_the_difference(tmp_path):
    with pytest.raises(Interrupt):
        run(cfg_for("epochs=6"), tmp_path, callbacks=[stop_at(2)])
    with pytest.raises(
        ConfigError, match=r"checkpoint.pt was written for another config \(epochs: 6 -> 8\)"
    ):
        run(cfg_for("epochs=8"), tmp_path)
    with pytest.raises(ConfigError, match=r"model.channels: 32 -> 16"):
        run(cfg_for("epochs=6", "model.channels=16"), tmp_path)


def test_a_knob_added_to_the_config_is_part_of_the_checkpoints_identity_unlisted(tmp_path):
    """A new top-level knob (here ``+new_knob``, listed nowhere in contract.py) changes what a
    run trains as far as a resume knows: a checkpoint written without it, or with another value,
    is refused; control and runtime keys are not identity."""
    with pytest.raises(Interrupt):
        run(cfg_for("epochs=6", "+new_knob=1"), tmp_path, callbacks=[stop_at(2)])
    with pytest.raises(ConfigError, match=r"new_knob: 1 -> 2"):
        run(cfg_for("epochs=6", "+new_knob=2"), tmp_path)
    fp = checkpoint.fingerprint(cfg_for("epochs=6", "+new_knob=1", "threads=3"))
    assert fp["new_knob"] == 1 and "threads" not in fp and "objective" not in fp


class _Payload:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_a_checkpoint_is_loaded_as_plain_tensors_only(tmp_path):
    torch.save({"format": 1, "payload": _Payload()}, tmp_path / "checkpoint.pt")
    with pytest.raises(ConfigError, match="is not a readable checkpoint"):
        run(cfg_for("epochs=2"), tmp_path)


def _fingerprint_only(path: Path) -> None:
    from training import checkpoint

    torch.save({"format": 1, "fingerprint": checkpoint.fingerprint(cfg_for("epochs=2"))}, path)


@pytest.mark.parametrize(
    ("write", "message"),
    [
        (
            lambda p: p.write_bytes(b""),
            r"is not a readable checkpoint \(\w+",
        ),  # what a full disk leaves
        (
            lambda p: torch.save(torch.zeros(3), p),
            r"is not a readable checkpoint \(it holds a Tensor\)",
        ),
        (_fingerprint_only, r"is not a readable checkpoint \(no step, history, model"),
    ],
)
def test_a_corrupt_checkpoint_is_one_line(tmp_path, write, message):
    write(tmp_path / "checkpoint.pt")
    with pytest.raises(ConfigError, match=message):
        run(cfg_for("epochs=2"), tmp_path)


@pytest.mark.parametrize(
    "write", [lambda p: p.write_bytes(b""), lambda p: torch.save(torch.zeros(3), p)]
)
def test_init_from_a_corrupt_file_is_one_line(tmp_path, write):
    write(tmp_path / "final.pt")
    with pytest.raises(
        ConfigError, match="init_from: .*final.pt does not hold weights for this model"
    ):
        run(cfg_for("epochs=1", f"init_from={tmp_path / 'final.pt'}"), tmp_path / "run")


def test_temp_files_of_killed_writers_are_removed_and_a_full_disk_keeps_the_last_checkpoint(
    tmp_path, monkeypatch
):
    from training import checkpoint

    with pytest.raises(Interrupt):
        run(cfg_for("epochs=4"), tmp_path, callbacks=[stop_at(2)])
    good = (tmp_path / "checkpoint.pt").read_bytes()
    (tmp_path / ".checkpoint.99999.tmp.pt").write_bytes(b"half a write")  # a SIGKILL mid-write

    def full_disk(obj, f, *a, **k):
        Path(f).write_bytes(b"x")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(checkpoint.torch, "save", full_disk)
    with pytest.raises(
        ConfigError,
        match="the checkpoint could not be written .*No space left on device.*the last one is kept",
    ):
        run(cfg_for("epochs=4"), tmp_path)
    assert (tmp_path / "checkpoint.pt").read_bytes() == good
    assert not list(tmp_path.glob(".checkpoint.*.tmp.pt")), "no temp file is left behind"
    monkeypatch.undo()
    run(cfg_for("epochs=4"), tmp_path)  # resumes from the kept checkpoint and ends
    assert (tmp_path / "summary.json").is_file() and not list(tmp_path.glob(".checkpoint*"))


@pytest.mark.slow
def test_kill_9_mid_run_then_the_same_command_finishes_identically(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = lambda d: [
        sys.executable,
        "-m",
        "tasks.train",
        "epochs=40",
        "model.channels=64",
        f"hydra.run.dir={d}",
    ]  # noqa: E731
    subprocess.run(
        cmd(tmp_path / "straight"), env=env, check=True, capture_output=True, timeout=600
    )
    proc = subprocess.Popen(
        cmd(tmp_path / "killed"), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    metrics = tmp_path / "killed" / "metrics.jsonl"
    deadline = time.time() + 300
    while time.time() < deadline and (
        not metrics.exists() or len(metrics.read_text().splitlines()) < 10
    ):
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    assert not (tmp_path / "killed" / "summary.json").exists(), "killed before the end"
    subprocess.run(cmd(tmp_path / "killed"), env=env, check=True, capture_output=True, timeout=600)
    assert read(tmp_path / "killed") == read(tmp_path / "straight")


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGUSR2])
def test_a_stop_signal_checkpoints_at_a_step_boundary_and_the_run_resumes_identically(
    tmp_path, sig
):
    """SLURM's and submitit's preemption warnings: the run writes its checkpoint mid-epoch, ends
    by the signal (default handler), and the same command finishes as an uninterrupted run."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = lambda d: [
        sys.executable,
        "-m",
        "tasks.train",
        "epochs=30",
        "model.channels=64",
        "checkpoint.every=0",
        f"hydra.run.dir={d}",
    ]  # noqa: E731
    subprocess.run(
        cmd(tmp_path / "straight"), env=env, check=True, capture_output=True, timeout=600
    )
    proc = subprocess.Popen(
        cmd(tmp_path / "stopped"),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    metrics = tmp_path / "stopped" / "metrics.jsonl"
    deadline = time.time() + 300
    while time.time() < deadline and (
        not metrics.exists() or len(metrics.read_text().splitlines()) < 5
    ):
        time.sleep(0.01)
    proc.send_signal(sig)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == -sig, out
    assert f"{sig.name} after step" in out and (tmp_path / "stopped" / "checkpoint.pt").is_file()
    state = torch.load(tmp_path / "stopped" / "checkpoint.pt", weights_only=True)
    assert state["partial"] is not None, (
        "written at a step boundary inside an epoch (checkpoint.every=0: no epoch checkpoints)"
    )
    subprocess.run(cmd(tmp_path / "stopped"), env=env, check=True, capture_output=True, timeout=600)
    assert read(tmp_path / "stopped") == read(tmp_path / "straight")


def test_init_from_starts_from_another_runs_final_weights(tmp_path):
    run(cfg_for("epochs=2", "checkpoint.final=true"), tmp_path / "first")
    final = torch.load(tmp_path / "first" / "final.pt", weights_only=True)["model"]
    seen = {}

    def first_epoch(
        m: dict,
    ) -> None:  # the weights after epoch 1 moved away from the loaded ones, which were used
        seen.setdefault("val_acc", m["val_acc"])

    run(
        cfg_for("epochs=1", f"init_from={tmp_path / 'first'}", "max_lr=1e-9"),
        tmp_path / "second",
        callbacks=[first_epoch],
    )
    _, first = read(tmp_path / "first")
    assert seen["val_acc"] == pytest.approx(first["final_val_acc"], abs=0.01), (
        "a near-zero lr keeps the loaded weights' accuracy"
    )
    assert final  # the file holds the weights as plain tensors
    with pytest.raises(ConfigError, match="init_from: .* not found"):
        run(cfg_for("epochs=1", f"init_from={tmp_path / 'missing'}"), tmp_path / "third")
