"""Crash safety: training killed with SIGKILL at random moments always resumes from a complete checkpoint."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
import yaml

import fusegen
from fusegen.objectives.checkpoints import read_latest

pytestmark = pytest.mark.slow

EPOCHS = 12
TRIALS = 5


@pytest.fixture(scope="module")
def spec_file(tmp_path_factory):
    folder = tmp_path_factory.mktemp("crash")
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, 4000)
    pd.DataFrame({"x": x, "y": 2 * x + rng.normal(0, 0.1, x.size)}).to_csv(folder / "data.csv", index=False)
    spec = {
        "data": {"source": "data.csv"},
        "inputs": {"x": {"kind": "numeric", "columns": ["x"]}},
        "output": {"kind": "record", "numeric": ["y"], "numeric_transform": "standard"},
        "training": {"epochs": EPOCHS, "batch_size": 32, "checkpoint_every": 1, "tensorboard": False},
    }
    (folder / "spec.yaml").write_text(yaml.safe_dump(spec))
    return folder / "spec.yaml"


def test_sigkill_at_random_moments_then_resume(spec_file, tmp_path):
    rng = np.random.default_rng(42)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    started = time.perf_counter()
    uninterrupted = fusegen.Generator(spec_file).fit(verbose=0)
    epoch_seconds = (time.perf_counter() - started) / EPOCHS
    resumed_losses = []
    for trial in range(TRIALS):
        run = tmp_path / f"run_{trial}"
        process = subprocess.Popen(
            [sys.executable, "-m", "fusegen.cli", "train", str(spec_file), "--out", str(run), "--quiet"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
        )  # fmt: skip
        # Wait until a random epoch's checkpoint is complete, then kill at a random moment of the
        # next epoch (a checkpoint write included): mid-training however fast the machine trains.
        target_epoch = int(rng.integers(1, EPOCHS - 1))
        deadline = time.time() + 180
        while _checkpointed_epoch(run) < target_epoch and time.time() < deadline:
            if process.poll() is not None:
                break
            time.sleep(0.02)
        time.sleep(float(rng.uniform(0.0, epoch_seconds)))
        process.send_signal(signal.SIGKILL)
        process.wait()
        state = read_latest(run / "checkpoints")
        assert state is not None, f"trial {trial}: no checkpoint before the kill"
        checkpoint = state["path"]
        assert {path.name for path in checkpoint.iterdir()} == {
            "model.weights.h5",
            "optimizers.npz",
            "state.json",
        }
        assert len(state["history"]["loss"]) == state["epoch"]
        resumed = fusegen.Generator(spec_file).fit(verbose=0, run_dir=run, resume=state["epoch"] < EPOCHS)
        if state["epoch"] < EPOCHS:
            assert len(resumed.history_["loss"]) == EPOCHS
            resumed_losses.append(resumed.history_["val_loss"][-1])
        # Nothing half-written is left where a reader would look.
        assert not list((run / "checkpoints").glob("*.partial"))
        json.loads((run / "checkpoints" / "latest.json").read_text())
    assert len(resumed_losses) >= TRIALS - 1, "most kills must come mid-training, or resuming is not tested"
    final = uninterrupted.history_["val_loss"][-1]
    assert np.allclose(resumed_losses, final, atol=0.05), (resumed_losses, final)


def _checkpointed_epoch(run) -> int:
    try:
        return int(json.loads((run / "checkpoints" / "latest.json").read_text())["epoch"])
    except (OSError, ValueError, KeyError):
        return 0
