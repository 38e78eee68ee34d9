"""Helper for tests/test_distribution.py: train the same small spec in a fresh process.

Usage: python train_distributed.py DISTRIBUTION OUT_JSON [RUN_DIR [OBJECTIVE]]
Splits the CPU into two logical devices first, which must happen before
TensorFlow starts, hence the separate process.
"""

import json
import sys


def main(distribution: str, out_json: str, run_dir: str | None = None, objective: str = "regression") -> None:
    import tensorflow as tf

    if distribution == "mirrored":
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

    import numpy as np
    import pandas as pd

    import fusegen
    from fusegen.spec import load_spec

    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, 1024)
    frame = pd.DataFrame({"x": x, "y": 2 * x + rng.normal(0, 0.1, x.size)})
    spec = load_spec(
        {
            "inputs": {"x": {"kind": "numeric", "columns": ["x"]}},
            "output": {"kind": "record", "numeric": ["y"], "numeric_transform": "standard"},
            "training": {"epochs": 4, "batch_size": 64, "distribution": distribution, "tensorboard": False},
            "objective": {"type": objective},
        }
    )
    generator = fusegen.Generator(spec).fit(frame, verbose=0)
    if run_dir:
        generator.save(run_dir)
    with open(out_json, "w") as stream:
        json.dump(generator.history_, stream)


if __name__ == "__main__":
    main(*sys.argv[1:])
