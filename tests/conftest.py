import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"


@pytest.fixture(scope="session")
def examples_dir() -> Path:
    return EXAMPLES


def cli(*args):
    """Run the `fusegen` command in this process; return (exit code, stdout, stderr)."""
    import contextlib
    import io
    import sys

    from fusegen.cli import run as cli_main

    out, err = io.StringIO(), io.StringIO()
    saved, sys.argv = sys.argv, ["fusegen", *map(str, args)]
    code = 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            cli_main()
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    finally:
        sys.argv = saved
    return code, out.getvalue(), err.getvalue()


def continuation_spec_dict(
    context: int, horizon: int, objective: str = "regression", output_steps=None, **output
):
    """A spec (as a dict) forecasting one channel ``horizon`` steps on from its ``context`` steps."""
    start, end = output_steps or (context, context + horizon)
    return {
        "inputs": {
            "history": {
                "kind": "sequence",
                "steps": context,
                "channels": 1,
                "column": "series",
                "select": {"steps": [0, context]},
            },
        },  # fmt: skip
        "output": {
            "name": "ahead",
            "kind": "sequence",
            "steps": horizon,
            "channels": 1,
            "column": "series",
            "select": {"steps": [start, end]},
            **output,
        },
        "objective": {"type": objective},
        "training": {"epochs": 12, "batch_size": 32, "learning_rate": 0.003, "tensorboard": False},
    }
