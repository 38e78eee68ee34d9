"""The CLI: help, schema, inspect, train, predict, and one clear line for user errors."""

import json
import os
import subprocess
import sys

import pytest

import fusegen as fusegen_module
from tests.conftest import cli


def fusegen(*args, cwd=None):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run(
        [sys.executable, "-m", "fusegen.cli", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=600,
    )


def test_help_lists_the_commands():
    result = fusegen("--help")
    assert result.returncode == 0
    for command in ("inspect", "train", "predict", "schema", "demo"):
        assert command in result.stdout


def test_schema_prints_json():
    result = fusegen("schema")
    assert result.returncode == 0
    assert json.loads(result.stdout)["title"] == "GeneratorSpec"


def test_inspect_json_of_image_example(examples_dir):
    result = fusegen("inspect", examples_dir / "image_text_to_image.yaml", "--json")
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    assert plan["output"]["kind"] == "image" and plan["output"]["shape"] == [64, 64, 3]
    assert plan["inputs"]["image"] == {**plan["inputs"]["image"], "kind": "image", "shape": [64, 64, 3]}
    assert plan["inputs"]["instruction"]["kind"] == "text"
    assert plan["num_parameters"] > 0


def test_inspect_prints_a_table(examples_dir):
    result = fusegen("inspect", examples_dir / "sensors_to_series.yaml")
    assert result.returncode == 0, result.stderr
    assert "fusion attention" in result.stdout and "[25, 6]" in result.stdout
    assert "total parameters" in result.stdout


@pytest.mark.parametrize(
    "spec_text, expected",
    [
        (
            "inputs:\n  photo: {kind: image, height: -3, width: 4}\noutput: {kind: vector, size: 2}\n",
            "inputs.photo.height: expected a positive number, received -3",
        ),
        (
            "inputs:\n  a: {kind: numeric, size: 2, colour: red}\noutput: {kind: vector, size: 2}\n",
            "inputs.a.colour: unknown key",
        ),
    ],
)
def test_spec_errors_are_one_line(tmp_path, spec_text, expected):
    path = tmp_path / "spec.yaml"
    path.write_text(spec_text)
    result = fusegen("inspect", path)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("fusegen: error:") and expected in lines[0]
    assert "Traceback" not in result.stderr


def test_verbose_shows_the_traceback(tmp_path):
    result = fusegen("--verbose", "inspect", tmp_path / "missing.yaml")
    assert result.returncode == 1 and "Traceback" in result.stderr


def test_tensorflow_python_warnings_are_hidden_unless_verbose():
    # TensorFlow's own Python-side warnings (a retracing notice in a long demo, say) are logs that
    # --verbose shows; without it the CLI prints only its own lines.
    script = (
        "import sys\n"
        "from fusegen import cli\n"
        "cli._state['verbose'] = sys.argv[1] == 'verbose'\n"
        "cli._load_tensorflow()\n"
        "import tensorflow as tf\n"
        "tf.get_logger().warning('a tensorflow warning')\n"
        "tf.get_logger().error('a tensorflow error')\n"
    )
    for mode, warning_shown in (("quiet", False), ("verbose", True)):
        result = subprocess.run(
            [sys.executable, "-c", script, mode], capture_output=True, text=True, timeout=300
        )
        assert result.returncode == 0, result.stderr
        assert ("a tensorflow warning" in result.stderr) == warning_shown, mode
        assert "a tensorflow error" in result.stderr


def test_missing_spec_file_and_non_run_dir(tmp_path):
    result = fusegen("inspect", tmp_path / "missing.yaml")
    assert result.returncode == 1 and "does not exist" in result.stderr
    result = fusegen("predict", tmp_path, "--inputs", tmp_path / "x.csv", "--out", tmp_path / "o.csv")
    assert result.returncode == 1 and "--inputs" in result.stderr and "x.csv' does not exist" in result.stderr
    (tmp_path / "x.csv").write_text("a\n1\n")
    result = fusegen("predict", tmp_path, "--inputs", tmp_path / "x.csv", "--out", tmp_path / "o.csv")
    assert result.returncode == 1 and "is not a fusegen run" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_wrong_file_is_named_by_the_argument_it_was_given_as(tmp_path):
    """The sweep of session 40: `init nosuch.csv` and `evaluate RUN --real nosuch.csv` blamed
    data.source, `sample spec.yaml` said an existing file did not exist, and `validate table.csv`
    did not say that `init` writes a spec from a table."""
    code, _, err = cli("init", tmp_path / "nosuch.csv")
    assert (
        code == 1
        and "the table '" in err
        and "nosuch.csv' does not exist" in err
        and "data.source" not in err
    )
    code, _, err = cli("evaluate", tmp_path, "--real", tmp_path / "nosuch.csv")
    assert code == 1 and "--real '" in err and "data.source" not in err
    (tmp_path / "spec.yaml").write_text("inputs: {}\n")
    code, _, err = cli("sample", tmp_path / "spec.yaml", "-n", "2", "--out", tmp_path / "s.csv")
    assert code == 1 and "is a file, a spec by its name, not a run directory" in err
    assert f"fusegen train {tmp_path / 'spec.yaml'} --out RUN" in err
    (tmp_path / "table.csv").write_text("a,b\n1,2\n")
    code, _, err = cli("validate", tmp_path / "table.csv")
    assert code == 1 and f"`fusegen init {tmp_path / 'table.csv'} --out spec.yaml` writes a spec" in err


@pytest.mark.slow
def test_train_then_predict_on_a_users_csv(tmp_path):
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    rows = 120
    size = rng.uniform(1, 3, rows)
    kind = rng.choice(["small", "large"], rows)
    frame = pd.DataFrame(
        {
            "size": size,
            "kind": kind,
            "weight": size * 2 + (kind == "large") * 3 + rng.normal(0, 0.1, rows),
            "grade": np.where(size > 2, "high", "low"),
        }
    )
    frame.to_csv(tmp_path / "items.csv", index=False)
    (tmp_path / "spec.yaml").write_text(
        "name: items\n"
        "data: {source: items.csv}\n"
        "inputs:\n  size: {kind: numeric, columns: [size]}\n  kind: {kind: categorical}\n"
        "output: {kind: record, numeric: [weight], categorical: [grade]}\n"
        "training: {epochs: 40, batch_size: 16, learning_rate: 0.01}\n"
    )
    result = fusegen("train", tmp_path / "spec.yaml", "--out", tmp_path / "run")
    assert result.returncode == 0, result.stderr
    assert "Run directory" in result.stdout
    # Into a pipe or a file, a line an epoch: a progress bar's redraws had filled a 260 KB log.
    assert "Epoch 40/40" in result.stdout and "\u2501" not in result.stdout and "\r" not in result.stdout
    frame.head(10)[["size", "kind"]].to_csv(tmp_path / "new.csv", index=False)
    # Predict in this process (tests.conftest.cli), which has TensorFlow loaded: no second start-up.
    code, _, err = cli(
        "predict", tmp_path / "run", "--inputs", tmp_path / "new.csv", "--out", tmp_path / "out.csv"
    )
    assert code == 0, err
    predicted = pd.read_csv(tmp_path / "out.csv")
    assert list(predicted.columns) == ["weight", "grade"] and len(predicted) == 10
    error = np.abs(predicted["weight"] - frame.head(10)["weight"]).mean()
    assert error < 1.0, error
    # Missing input column: one line naming the input and the column.
    frame.head(3)[["size"]].to_csv(tmp_path / "bad.csv", index=False)
    code, _, err = cli(
        "predict", tmp_path / "run", "--inputs", tmp_path / "bad.csv", "--out", tmp_path / "o.csv"
    )
    assert code == 1 and "no input 'kind' (column 'kind')" in err
    assert len(err.strip().splitlines()) == 1
    # A label never seen in training is read as unknown, and counted (sample refuses it as a typo).
    pd.DataFrame({"size": [1.5, 2.5], "kind": ["medium", "small"]}).to_csv(
        tmp_path / "new_kind.csv", index=False
    )
    code, _, err = cli(
        "predict", tmp_path / "run", "--inputs", tmp_path / "new_kind.csv", "--out", tmp_path / "kinds.csv"
    )
    assert code == 0 and "1 row(s) hold labels never seen in training, ['medium']" in err
    # A column vector where a column of numbers belongs is named, not numpy's "same shape" error.
    with pytest.raises(fusegen_module.DataError, match=r"Column 'size' of input 'size' \(numeric\): expected one "
                                                       r"number per row, received an array of shape \[2, 1\]"):  # fmt: skip
        fusegen_module.load(tmp_path / "run").predict(
            {"size": np.array([[1.5], [2.0]]), "kind": ["small", "large"]}
        )
    # A file with none of the generator's columns is the wrong file, not a request for free draws.
    pd.DataFrame({"foo": [1, 3], "bar": [2, 4]}).to_csv(tmp_path / "unrelated.csv", index=False)
    code, _, err = cli(
        "predict", tmp_path / "run", "--inputs", tmp_path / "unrelated.csv", "--out", tmp_path / "o.csv"
    )
    assert code == 1 and "has none of the generator's input columns ['kind', 'size']" in err
    assert not (tmp_path / "o.csv").exists()


def test_train_refuses_a_file_a_foreign_folder_and_an_old_run_unless_told_to_overwrite(tmp_path):
    """Training into a folder holding a run replaced its model and left the old checkpoints, logs
    and report beside it; into a file it failed after loading the data, with TensorFlow's words."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    pd.DataFrame({"x": rng.normal(size=80), "kind": rng.choice(["a", "b"], 80)}).to_csv(
        tmp_path / "t.csv", index=False
    )
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "name: t\ndata: {source: t.csv}\noutput: {kind: record, numeric: [x], categorical: [kind]}\n"
        "objective: {type: cvae}\ntraining: {epochs: 2, batch_size: 16}\n"
    )
    code, _, err = cli("train", spec, "--out", "/proc/fusegen-run", "--quiet")
    assert code == 1 and "--out '/proc/fusegen-run' cannot be made a folder" in err
    code, _, err = cli("train", spec, "--out", tmp_path / "t.csv", "--quiet")
    assert code == 1 and "--out '" in err and "t.csv' is a file" in err and len(err.strip().splitlines()) == 1
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("mine")
    code, _, err = cli("train", spec, "--out", tmp_path / "mine", "--quiet")
    assert code == 1 and "holds files that are no fusegen run (notes.txt)" in err
    run = tmp_path / "run"
    code, _, err = cli("train", spec, "--out", run, "--quiet")
    assert code == 0, err
    (run / "report.html").write_text("old report")
    (run / "checkpoints" / "epoch_0099").mkdir()
    (run / "samples.csv").write_text("x\n1\n")  # the user's own file, written beside the run
    code, _, err = cli("train", spec, "--out", run, "--quiet")
    assert code == 1 and "already holds a run" in err and "--overwrite" in err
    assert (run / "report.html").exists()
    code, out, err = cli("train", spec, "--out", run, "--quiet", "--overwrite")
    assert code == 0, err
    assert "cleared the run" in out and (run / "manifest.json").exists()
    assert not (run / "report.html").exists() and not (run / "checkpoints" / "epoch_0099").exists()
    assert (run / "samples.csv").read_text() == "x\n1\n"
    fusegen_module.load(run)  # a whole run, verified against its manifest
    # inspect reads a run directory as the plan it trained with ("spec file does not exist" before).
    code, out, err = cli("inspect", run)
    assert code == 0 and "total parameters" in out, err


def test_written_files_take_the_mode_a_plain_open_gives(tmp_path):
    """Files went through mkstemp, which makes them 0600: a team could not read each other's samples."""
    import pandas as pd

    from fusegen.fileio import atomic_write_text
    from fusegen.writers import write_output_stream

    previous = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "spec.yaml", "name: x\n")
        write_output_stream([pd.DataFrame({"x": [1.5, 2.0]})], tmp_path / "samples.csv")
    finally:
        os.umask(previous)
    for name in ("spec.yaml", "samples.csv"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o644, name


@pytest.mark.slow
def test_train_resume_and_sample_from_the_cli(tmp_path, examples_dir):
    import numpy as np
    import pandas as pd
    import yaml

    raw = yaml.safe_load((examples_dir / "tabular_augment.yaml").read_text())
    raw["objective"] = {"type": "cvae", "latent_dim": 4}
    raw["conditioning"] = {"modality_dropout": 0.2}
    raw["training"].update(epochs=4, checkpoint_every=2)
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(raw))
    run = tmp_path / "run"
    result = fusegen("train", tmp_path / "spec.yaml", "--out", run, "--epochs", "2", "--quiet")
    assert result.returncode == 0, result.stderr
    result = fusegen("train", tmp_path / "spec.yaml", "--out", run, "--resume", "--quiet")
    assert result.returncode == 0, result.stderr
    assert "resuming from epoch 2" in result.stdout
    assert any((run / "logs").iterdir())  # TensorBoard event files
    pd.DataFrame({"species": ["Gentoo", "Adelie"]}).to_csv(tmp_path / "conditions.csv", index=False)
    sample = [
        "sample", run, "--conditions", tmp_path / "conditions.csv", "--num-samples", "50", "--seed", "3",
    ]  # fmt: skip
    # Once in a new process, as a user runs it, and once in this one: the same seed gives the same rows.
    result = fusegen(*sample, "--out", tmp_path / "a.csv")
    assert result.returncode == 0, result.stderr
    # The rest of the test runs the CLI in this process (tests.conftest.cli), which has TensorFlow
    # loaded already: a new process for each command cost seconds of start-up apiece.
    code, _, err = cli(*sample, "--out", tmp_path / "b.csv")
    assert code == 0, err
    outputs = [pd.read_csv(tmp_path / name) for name in ("a.csv", "b.csv")]
    pd.testing.assert_frame_equal(*outputs)
    samples = outputs[0]
    assert len(samples) == 100 and set(samples["sex"]) <= {"male", "female"}
    gentoo, adelie = samples["body_mass_g"][:50], samples["body_mass_g"][50:]
    assert gentoo.mean() > adelie.mean()  # Gentoo penguins are the heavy ones
    assert np.std(gentoo) > 0  # a distribution, not one value
    code, _, err = cli("sample", run, "--num-samples", "20", "--out", tmp_path / "free.csv")
    assert code == 0, err
    assert len(pd.read_csv(tmp_path / "free.csv")) == 20
    # Streamed batch by batch (7 batches of 16): the same rows as one in-memory sample().
    code, out, err = cli(
        "sample", run, "-n", "100", "--batch-size", "16", "--seed", "4", "--out", tmp_path / "s.parquet"
    )
    assert code == 0, err
    assert "wrote 100 record sample(s)" in out
    streamed = pd.read_parquet(tmp_path / "s.parquet")
    in_memory = fusegen_module.load(run).sample(num_samples=100, batch_size=16, seed=4)
    pd.testing.assert_frame_equal(streamed, in_memory)
    assert not list(tmp_path.glob(".s.parquet.*"))  # no temporary file left behind
    ranged = [
        "sample", run, "-n", "30", "--range", "bill_length_mm=35:40", "--range", "bill_depth_mm=17:19",
        "--out", tmp_path / "ranged.csv",
    ]  # fmt: skip
    code, _, err = cli(*ranged)
    assert code == 0, err
    assert len(pd.read_csv(tmp_path / "ranged.csv")) == 30
    code, _, err = cli("sample", run, "--range", "species=1:2", "--out", tmp_path / "x.csv")
    assert code == 1 and "not a numeric input column" in err
    pd.DataFrame({"beak": [1.0]}).to_csv(tmp_path / "bad.csv", index=False)
    code, _, err = cli("sample", run, "--conditions", tmp_path / "bad.csv", "--out", tmp_path / "x.csv")
    assert code == 1 and "conditions name ['beak']" in err


def test_a_spec_that_does_not_fit_its_data_is_one_line(tmp_path):
    import pandas as pd

    pd.DataFrame({"size": [1.0, 2.0, 3.0], "weight": [2.0, 4.0, 6.0]}).to_csv(
        tmp_path / "items.csv", index=False
    )
    (tmp_path / "spec.yaml").write_text(
        "data: {source: items.csv}\n"
        "inputs:\n  size: {kind: numeric, columns: [size, length]}\n"
        "output: {kind: record, numeric: [weight]}\n"
    )
    result = fusegen("train", tmp_path / "spec.yaml", "--out", tmp_path / "run")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "'length'" in lines[0] and "size" in lines[0], lines


@pytest.mark.slow
def test_conditions_for_an_input_the_generator_does_not_have(tmp_path, examples_dir):
    import pandas as pd
    import yaml

    raw = yaml.safe_load((examples_dir / "tabular_augment.yaml").read_text())
    raw["training"]["epochs"] = 1
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(raw))
    # Trained in this process (tests.conftest.cli), which has TensorFlow loaded: a new one costs seconds.
    assert cli("train", tmp_path / "spec.yaml", "--out", tmp_path / "run", "--quiet")[0] == 0
    pd.DataFrame({"colour": ["blue"]}).to_csv(tmp_path / "conditions.csv", index=False)
    # A new process, as a user runs it: nothing TensorFlow prints adds a line to the error.
    result = fusegen(
        "sample", tmp_path / "run", "--conditions", tmp_path / "conditions.csv", "--out", tmp_path / "o.csv"
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "conditions name ['colour']" in lines[0] and "species" in lines[0]
    pd.DataFrame({"species": ["Emperor"]}).to_csv(tmp_path / "unseen.csv", index=False)
    code, _, err = cli(
        "sample", tmp_path / "run", "--conditions", tmp_path / "unseen.csv", "--out", tmp_path / "o.csv"
    )
    assert (
        code == 1 and "['Emperor'], never seen in training, the first in row 0" in err and "unseen.csv" in err
    )


@pytest.mark.slow
def test_init_from_an_image_folder_then_train_and_sample(tmp_path):
    import numpy as np
    import yaml
    from PIL import Image

    for label, colour in (("red", (220, 30, 30)), ("blue", (30, 30, 220))):
        (tmp_path / "shapes" / label).mkdir(parents=True)
        for index in range(12):
            pixels = np.full((20, 24, 3), 255, "uint8")
            pixels[4 + index % 6 : 14, 6:18] = colour
            Image.fromarray(pixels).save(tmp_path / "shapes" / label / f"{index}.png")
    # The folder as a user names it, relative to where they stand.
    result = fusegen("init", "shapes", "--out", "shapes.yaml", "--epochs", "2", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "20x24x3 images" in result.stdout and "['label']" in result.stdout
    # Its samples are judged by a classifier of the class subfolders (conditional accuracy).
    spec = yaml.safe_load((tmp_path / "shapes.yaml").read_text())
    assert spec["data"]["source"] == "shapes"  # relative: the spec and its runs hold no path of this machine
    assert spec["evaluation"] == {"label_column": "label"}
    # The cvae's latent is drawn from a prior computed from the class, so samples show their class.
    assert spec["objective"] == {"type": "cvae", "prior": "conditional"}
    # Then in this process (tests.conftest.cli), which has TensorFlow loaded: no start-up apiece.
    code, _, err = cli("train", tmp_path / "shapes.yaml", "--out", tmp_path / "run", "--quiet")
    assert code == 0, err
    pd_conditions = tmp_path / "conditions.csv"
    pd_conditions.write_text("label\nred\nblue\n")
    code, _, err = cli(
        "sample", tmp_path / "run", "--conditions", pd_conditions, "-n", "2", "--out", tmp_path / "out"
    )
    assert code == 0, err
    assert len(list((tmp_path / "out").glob("*.png"))) == 4
    # Beside the images, what each was drawn for: two of each condition row, in order.
    import pandas as pd

    drawn_for = pd.read_csv(tmp_path / "out" / "conditions.csv")
    assert drawn_for["file"].tolist() == [f"image_{index:05d}.png" for index in range(4)]
    assert drawn_for["label"].tolist() == ["red", "red", "blue", "blue"]
    # Rebalanced, the labels are shuffled among the samples: the file says which is which.
    code, _, err = cli(
        "sample", tmp_path / "run", "-n", "6", "--rebalance", "label", "--out", tmp_path / "even"
    )
    assert code == 0, err
    even = pd.read_csv(tmp_path / "even" / "conditions.csv")
    assert (
        sorted(even["label"]) == ["blue"] * 3 + ["red"] * 3
        and len(list((tmp_path / "even").glob("*.png"))) == 6
    )
    # In an NPZ, the labels are an array beside the images, row for row, readable without pickle.
    code, _, err = cli(
        "sample", tmp_path / "run", "-n", "4", "--rebalance", "label", "--out", tmp_path / "even.npz"
    )
    assert code == 0, err
    import numpy as np

    with np.load(tmp_path / "even.npz") as arrays:
        assert (
            arrays["image"].shape == (4, 20, 24, 3) and sorted(arrays["label"]) == ["blue"] * 2 + ["red"] * 2
        )
    # A second sample into the same folder would leave the first one's images beside its own.
    code, _, err = cli(
        "sample", tmp_path / "run", "--conditions", pd_conditions, "-n", "1", "--out", tmp_path / "out"
    )
    assert code == 1 and "already holds 4 image(s) of an earlier sample" in err
    # A folder passed as data (evaluate --real, predict) is an image folder, as data.source reads one.
    folder = fusegen_module.load(tmp_path / "run").read_file(tmp_path / "shapes")
    assert len(folder) == 24 and sorted(set(folder.columns["label"])) == ["blue", "red"]
    # A spec written by hand names the folder relative to itself, wherever the user stands: the
    # image paths were joined to it twice (shapes/shapes/red/0.png).
    (tmp_path / "specs").mkdir()
    spec["data"]["source"] = "../shapes"
    (tmp_path / "specs" / "shapes.yaml").write_text(yaml.safe_dump(spec))
    result = fusegen("validate", "specs/shapes.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    (tmp_path / "flat").mkdir()
    Image.fromarray(np.zeros((8, 8, 3), "uint8")).save(tmp_path / "flat" / "a.png")
    code, _, err = cli("init", tmp_path / "flat")
    assert code == 1 and "one subfolder per class" in err


def test_init_schedule_is_about_3000_steps_and_at_most_200_passes():
    from fusegen.data.inference import _default_schedule

    # A small table: 200 passes of 5 batches, grouped into epochs of 50 steps.
    assert _default_schedule(266, 64) == (20, 50)
    # 3,000 steps of 64 rows are 200 passes over 960 rows, and fewer over more.
    epochs, steps = _default_schedule(960, 64)
    assert epochs * steps == 3000
    epochs, steps = _default_schedule(2000, 64)
    assert 2900 <= epochs * steps <= 3100
    # Large tables: one pass per epoch, at least 10 of them.
    assert _default_schedule(50_000, 256) == (10, None)


@pytest.mark.parametrize("caught_as", [None, RuntimeError])
def test_a_signal_ends_the_run_as_stopped_even_when_a_library_rewraps_it(monkeypatch, capsys, caught_as):
    """TensorFlow turns an exception raised inside one of its Python ops into its own error;
    a signal that lands there must still end the run with 128 + its number, not status 1."""
    import signal

    from fusegen import cli

    def work():
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            for _ in range(1000):  # the handler runs at the next bytecode
                pass
        except BaseException as stopped:
            if caught_as is None:
                raise
            raise caught_as("Python op failed") from stopped

    monkeypatch.setattr(cli, "app", work)
    monkeypatch.setattr(cli, "_state", {"verbose": False})
    previous = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        with pytest.raises(SystemExit) as exited:
            cli.run()
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    assert exited.value.code == 128 + signal.SIGTERM
    assert capsys.readouterr().err == "fusegen: stopped by SIGTERM; partial files removed\n"


@pytest.mark.parametrize("verbose", [False, True])
def test_an_unexpected_error_is_one_line_unless_verbose(monkeypatch, capsys, verbose):
    """An exception fusegen did not check for (a library's ValueError) still ends the CLI with one
    line naming its type, and --verbose still shows Python's traceback."""
    import signal

    from fusegen import cli

    def work():
        raise ValueError("n_components=2 must be between 0 and 1\n  with svd_solver='full'")

    monkeypatch.setattr(cli, "app", work)
    monkeypatch.setattr(cli, "_state", {"verbose": verbose})
    previous = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        if verbose:
            with pytest.raises(ValueError, match="n_components"):
                cli.run()
            return
        with pytest.raises(SystemExit) as exited:
            cli.run()
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    assert exited.value.code == 1
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(
        "fusegen: error: unexpected ValueError: n_components=2 must be between 0 and 1 with"
    )
    assert "--verbose" in lines[0]


def test_a_usage_error_keeps_clicks_message_and_status():
    result = fusegen("sample")  # RUN_DIR and --out missing
    assert result.returncode == 2 and "Traceback" not in result.stderr and "Missing" in result.stderr


def test_the_training_summary_says_why_a_cvae_loss_rose():
    """A cvae's loss can end above where it began (its KL weight starts at 0), which reads as a
    failed fit; the summary then shows the reconstruction term as well."""
    from fusegen.cli import _losses

    rose = {"loss": [1.86, 2.10], "reconstruction": [-0.9, -2.19], "val_loss": [0.7, 0.62]}
    assert _losses(rose) == (
        "; loss 1.8600 -> 2.1000 (its KL weight rose from 0 in warm-up; reconstruction -0.9000 -> -2.1900)"
        ", validation loss 0.6200"
    )
    assert _losses({"loss": [2.0, 1.0], "reconstruction": [1.5, 0.5]}) == "; loss 2.0000 -> 1.0000"
    assert _losses({}) == ""
    # Early stopping keeps the best epoch's weights, so the summary names it beside the last.
    stopped = {"loss": [1.0, 0.5, 0.4], "val_loss": [-0.2, -1.101, -0.3429]}
    assert _losses(stopped).endswith(", validation loss -0.3429 (best -1.1010, epoch 2)")
