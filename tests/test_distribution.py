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


def train(distribution, tmp_path, run_dir=None, env=None, objective="regression"):
    out = tmp_path / f"{distribution}_{objective}.json"
    run_dir = run_dir or tmp_path / f"run_{distribution}_{objective}"
    command = [sys.executable, str(SCRIPT), distribution, str(out), str(run_dir), objective]
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


def test_the_gan_under_a_strategy_is_refused_before_any_work(tmp_path):
    import pandas as pd

    import fusegen
    from fusegen.errors import FusegenError
    from fusegen.spec import load_spec

    spec = load_spec(
        {
            "inputs": {"x": {"kind": "numeric", "columns": ["x"]}},
            "output": {"kind": "record", "numeric": ["y"]},
            "objective": {"type": "cgan"},
            "training": {"distribution": "mirrored", "tensorboard": False},
        }
    )
    with pytest.raises(FusegenError, match="cgan objective does not train under tf.distribute"):
        fusegen.Generator(spec).fit(pd.DataFrame({"x": [0.0, 1.0] * 8, "y": [1.0, 2.0] * 8}), verbose=0)


def test_the_cvae_trains_under_mirrored_strategy(tmp_path):
    # Random draws (the latent) from the objective's seed generator, per replica.
    history = train("mirrored", tmp_path, run_dir=tmp_path / "cvae", objective="cvae")
    assert len(history["loss"]) == 4 and all(np.isfinite(history["loss"]))
    assert history["loss"][-1] < history["loss"][0]
    assert (tmp_path / "cvae" / "posterior.keras").exists()


MULTI_WORKER = Path(__file__).parent / "scripts" / "train_multi_worker.py"
STREAMED_WORKER = Path(__file__).parent / "scripts" / "train_streamed_worker.py"


def free_ports(count):
    import socket

    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


def run_two_workers(script, raw_spec, tmp_path):
    """Run ``script`` as two MultiWorkerMirroredStrategy workers on 127.0.0.1; what each wrote to its JSON."""
    import yaml

    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(raw_spec))
    cluster = {"worker": [f"127.0.0.1:{port}" for port in free_ports(2)]}
    workers = []
    for index in range(2):
        config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
        command = [sys.executable, str(script), str(spec), str(tmp_path / f"run{index}"),
                   str(tmp_path / f"worker{index}.json")]  # fmt: skip
        env = {**os.environ, "TF_CONFIG": config, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
        workers.append(
            subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        )
    try:
        outputs = [worker.communicate(timeout=600) for worker in workers]
    finally:
        for worker in workers:
            worker.kill()
    for worker, (_, stderr) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, stderr[-3000:]
    return [json.loads((tmp_path / f"worker{index}.json").read_text()) for index in range(2)]


def test_two_worker_processes_train_an_example_and_only_the_chief_saves(tmp_path, examples_dir):
    import yaml

    import fusegen

    raw = yaml.safe_load((examples_dir / "tabular_augment.yaml").read_text())
    raw["training"].update(epochs=2, steps_per_epoch=10, distribution="multi_worker", tensorboard=False)
    chief, other = run_two_workers(MULTI_WORKER, raw, tmp_path)
    assert chief["saved"] and not other["saved"]
    assert len(chief["history"]["loss"]) == len(other["history"]["loss"]) == 2
    assert (tmp_path / "run0" / "manifest.json").exists()
    assert (tmp_path / "run0" / "checkpoints").is_dir()
    assert not (tmp_path / "run1").exists()  # the other worker wrote only to temporary folders
    samples = fusegen.load(tmp_path / "run0").sample({"species": ["Gentoo"]}, num_samples=5)
    assert len(samples) == 5


def test_two_workers_stream_only_their_own_parquet_shards(tmp_path):
    import pandas as pd

    rng = np.random.default_rng(0)
    for index, rows in enumerate([640, 480, 640, 480]):  # worker 0 reads files 0 and 2: more rows
        x = rng.uniform(-1, 1, rows)
        frame = pd.DataFrame(
            {"id": np.arange(rows) + 1000 * index, "x": x, "y": 2 * x + rng.normal(0, 0.1, rows)}
        )
        frame.to_parquet(tmp_path / f"part-{index}.parquet")
    raw = {
        "data": {"source": str(tmp_path / "part-*.parquet"), "stream": True, "split_key": "id"},
        "inputs": {"x": {"kind": "numeric", "columns": ["x"]}},
        "output": {"kind": "record", "numeric": ["y"], "numeric_transform": "standard"},
        "objective": {"type": "regression"},
        "training": {"epochs": 3, "batch_size": 64, "distribution": "multi_worker", "tensorboard": False},
    }
    chief, other = run_two_workers(STREAMED_WORKER, raw, tmp_path)
    # Once training began, each worker read its own two files alone, at least an epoch's rows (a pass
    # over the smaller share, ~860 training rows) in each of the 3 epochs.
    assert set(chief["rows"]) == {"part-0.parquet", "part-2.parquet"}
    assert set(other["rows"]) == {"part-1.parquet", "part-3.parquet"}
    assert min(sum(chief["rows"].values()), sum(other["rows"].values())) > 3 * 860
    assert chief["history"]["loss"] == other["history"]["loss"]  # the same global steps, all-reduced
    assert chief["history"]["loss"][-1] < chief["history"]["loss"][0]
    assert len(chief["history"]["val_loss"]) == 3
