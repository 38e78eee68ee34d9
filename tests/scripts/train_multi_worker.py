"""Helper for tests/test_distribution.py: one worker of a two-process MultiWorkerMirroredStrategy run.

Usage: TF_CONFIG=... python train_multi_worker.py SPEC_YAML RUN_DIR OUT_JSON
Each worker runs the same `fusegen train`-like steps; only the chief writes RUN_DIR.
"""

import json
import sys


def main(spec_path: str, run_dir: str, out_json: str) -> None:
    import keras

    import fusegen

    keras.config.disable_traceback_filtering()
    generator = fusegen.Generator(spec_path)
    generator.fit(verbose=0, run_dir=run_dir)
    saved = generator.save(run_dir)
    with open(out_json, "w") as stream:
        json.dump({"history": generator.history_, "saved": saved is not None}, stream)


if __name__ == "__main__":
    main(*sys.argv[1:])
