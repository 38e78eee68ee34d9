"""Helper for tests/test_distribution.py: one worker of a two-process run that streams Parquet shards.

Usage: TF_CONFIG=... python train_streamed_worker.py SPEC_YAML RUN_DIR OUT_JSON
Counts the rows this worker reads from each file once training has begun (before
it, the fitting pass reads every file on every worker) and writes them with the
history to OUT_JSON.
"""

import collections
import json
import sys
from pathlib import Path


def main(spec_path: str, run_dir: str, out_json: str) -> None:
    import keras

    import fusegen
    from fusegen.data import streaming

    rows, training = collections.Counter(), []
    read_batches = streaming.read_batches

    def counted(*args, **kwargs):
        for table in read_batches(*args, **kwargs):
            if training:
                rows[Path(table.origin).name] += len(table)
            yield table

    streaming.read_batches = counted

    class TrainingBegins(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            training.append(True)

    generator = fusegen.Generator(spec_path)
    generator.fit(verbose=0, run_dir=run_dir, callbacks=[TrainingBegins()])
    generator.save(run_dir)
    with open(out_json, "w") as stream:
        json.dump({"history": generator.history_, "rows": rows}, stream)


if __name__ == "__main__":
    main(*sys.argv[1:])
