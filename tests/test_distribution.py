"""tf.distribute: MirroredStrategy over two logical CPU devices trains like one device at the same global batch."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow

SCRIPT = Path(__file__).parent / "scripts" / "train_distributed.py"


def train(distribution, tmp_path, run_dir=None, env=None):
    out = tmp_path / f"{distribution}.json"
    command = [sys.executable, str(SCRIPT), distribution, str(out)] + ([str(run_dir)] if run_dir else [])
    result = subprocess.run(command, capture_output=True, text=True, timeout=600,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})})  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(out.read_text())


def test_mirrored_matches_one_device(tmp_path):
    single = train("none", tmp_path)
    mirrored = train("mirrored", tmp_path, run_dir=tmp_path / "run")
    # Same global batch, gradients averaged over the replicas: the same trajectory up to float noise.
    np.testing.assert_allclose(mirrored["loss"], single["loss"], rtol=0.1)
    np.testing.assert_allclose(mirrored["val_loss"], single["val_loss"], rtol=0.1)
    assert mirrored["loss"][-1] < mirrored["loss"][0] * 0.2
    assert (tmp_path / "run" / "manifest.json").exists()
