"""The trust model: a run directory, or a spec marked as someone else's, never runs code it names.

Each test plants code that would leave a marker file behind if it ever ran,
then checks that no marker appears, and that the command fails (or works)
with the right one-line message.
"""

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fusegen
from fusegen.artifacts import sha256
from fusegen.errors import DataError
from fusegen.spec import load_spec
from tests.conftest import cli

pytestmark = pytest.mark.slow

SPEC = {
    "inputs": {"x": {"kind": "numeric", "columns": ["x"]}},
    "output": {"kind": "record", "numeric": ["y"], "categorical": ["c"]},
    "objective": {"type": "cvae", "latent_dim": 2},
    "training": {"epochs": 1, "batch_size": 16},
}


def table(rows=64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=rows)
    return pd.DataFrame(
        {"x": x, "y": 2 * x + rng.normal(size=rows) * 0.1, "c": np.where(x > 0, "up", "down")}
    )


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A run trained from a CSV beside its spec, with that CSV as the real data."""
    folder = tmp_path_factory.mktemp("trained")
    table().to_csv(folder / "data.csv", index=False)
    (folder / "spec.yaml").write_text(yaml.safe_dump({**SPEC, "data": {"source": "data.csv"}}))
    fusegen.Generator(folder / "spec.yaml").fit(verbose=0).save(folder / "run")
    return folder


def reseal(run_dir):
    """An attacker who can edit the run also rewrites the manifest's checksums."""
    manifest = json.loads((run_dir / "manifest.json").read_text())
    manifest["files"] = {name: sha256(run_dir / name) for name in manifest["files"]}
    (run_dir / "manifest.json").write_text(json.dumps(manifest))


def plant_code(run_dir, marker):
    """Point the run's data.source at code that touches ``marker``, and fix up the hashes."""
    spec = yaml.safe_load((run_dir / "spec.yaml").read_text())
    spec["data"] = {**spec["data"], "source": "python:os:system", "options": {"command": f"touch '{marker}'"}}
    (run_dir / "spec.yaml").write_text(yaml.safe_dump(spec))
    reseal(run_dir)


@pytest.fixture
def hostile_run(trained, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(trained / "run", run)
    marker = tmp_path / "PWNED"
    plant_code(run, marker)
    return run, marker


REFUSED = (
    "data.source 'python:os:system' names Python code, and fusegen never runs code named in a run directory"
)


@pytest.mark.parametrize("command", ["evaluate", "report"])
def test_scoring_a_hostile_run_refuses_its_code(hostile_run, command):
    run, marker = hostile_run
    code, _, err = cli(command, run)
    assert not marker.exists()
    assert code == 1
    assert err.startswith(f"fusegen: error: {REFUSED}")
    assert "--real DATA" in err and "--allow-code" in err
    assert len(err.strip().splitlines()) == 1


def test_scoring_a_hostile_run_on_real_data_runs_nothing(hostile_run, trained):
    run, marker = hostile_run
    code, out, err = cli("evaluate", run, "--real", trained / "data.csv", "--json")
    assert (code, err) == (0, "")
    assert not marker.exists()
    assert json.loads(out)["quality"]["score"] > 0


def test_allow_code_runs_the_named_code(hostile_run):
    run, marker = hostile_run
    # os.system returns an int: the opt-in runs it, and its result gets a clear error.
    code, _, err = cli("evaluate", run, "--allow-code")
    assert marker.exists()
    assert code == 1
    assert "data.source 'python:os:system' returned int 0; expected a generator" in err


def test_sampling_predicting_exporting_and_loading_a_hostile_run_run_nothing(hostile_run, tmp_path):
    run, marker = hostile_run
    pd.DataFrame({"x": [0.5, -0.5]}).to_csv(tmp_path / "inputs.csv", index=False)
    assert (
        cli("sample", run, "-c", tmp_path / "inputs.csv", "-n", 3, "--out", tmp_path / "samples.csv")[0] == 0
    )
    assert len(pd.read_csv(tmp_path / "samples.csv")) == 6
    assert (
        cli("predict", run, "--inputs", tmp_path / "inputs.csv", "--out", tmp_path / "predicted.csv")[0] == 0
    )
    assert len(pd.read_csv(tmp_path / "predicted.csv")) == 2
    assert cli("export", run, "--out", tmp_path / "exported")[0] == 0
    generator = fusegen.load(run)
    with pytest.raises(DataError, match=REFUSED):
        generator.load_table()
    assert not marker.exists()


def test_a_run_directory_is_portable(trained, tmp_path):
    """Copied elsewhere, a run samples and evaluates on --real data; it stores no absolute path."""
    for name in ("manifest.json", "spec.yaml", "plan.json", "preprocessing.json"):
        text = (trained / "run" / name).read_text()
        assert str(trained) not in text and str(trained.resolve()) not in text, name
    manifest = (trained / "run" / "manifest.json").read_text()
    assert json.loads(manifest)["data_dir"] == ".."
    moved = tmp_path / "elsewhere" / "run"
    shutil.copytree(trained / "run", moved)
    pd.DataFrame({"x": [0.5]}).to_csv(tmp_path / "inputs.csv", index=False)
    assert cli("sample", moved, "-c", tmp_path / "inputs.csv", "-n", 2, "--out", tmp_path / "s.csv")[0] == 0
    code, out, _ = cli("evaluate", moved, "--real", trained / "data.csv", "--json")
    assert code == 0 and json.loads(out)["quality"]["score"] > 0
    # Without --real, the spec's data is looked for beside the run, as it was trained: gone here.
    code, _, err = cli("evaluate", moved)
    assert code == 1 and "its training data 'data.csv' is not at" in err and "--real DATA" in err
    assert f"is not at '{tmp_path / 'elsewhere' / 'data.csv'}'" in err  # where it looked, in full
    # Moved together with its data, the run finds the data again.
    shutil.copy(trained / "data.csv", tmp_path / "elsewhere" / "data.csv")
    assert cli("evaluate", moved)[0] == 0


# --------------------------------------------------------------------------
# A spec from someone else
# --------------------------------------------------------------------------


def write_hostile_spec(folder, marker, source="python:os:system", **data):
    (folder / "evil.py").write_text(
        f"import pathlib\npathlib.Path({str(marker)!r}).touch()\n\ndef gen(**options):\n    yield {{'x': [1.0]}}\n"
    )
    spec = {**SPEC, "data": {"source": source, "options": {"command": f"touch '{marker}'"}, **data}}
    if source.startswith("python:evil"):
        spec["data"]["options"] = {}
    (folder / "spec.yaml").write_text(yaml.safe_dump(spec))
    return folder / "spec.yaml"


@pytest.mark.parametrize("source", ["python:os:system", "python:evil.py:gen", "python:evil:gen"])
@pytest.mark.parametrize("switch", [{"trusted": False}, {"confine_paths": True}])
@pytest.mark.parametrize("command", ["validate", "inspect", "train"])
def test_an_untrusted_spec_runs_no_code(tmp_path, source, switch, command):
    marker = tmp_path / "PWNED"
    spec_path = write_hostile_spec(tmp_path, marker, source, **switch)
    extra = ["--out", tmp_path / "run"] if command == "train" else []
    code, _, err = cli(command, spec_path, *extra)
    assert not marker.exists()
    assert code == 1
    name = "data.trusted is false" if "trusted" in switch else "data.confine_paths is on"
    assert err.startswith(f"fusegen: error: data.source '{source}' names Python code, and {name}")
    assert "nothing was imported or run" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("command", ["validate", "inspect", "train"])
def test_the_untrusted_flag_marks_any_spec(tmp_path, command):
    marker = tmp_path / "PWNED"
    spec_path = write_hostile_spec(tmp_path, marker, "python:evil.py:gen")
    extra = ["--out", tmp_path / "run"] if command == "train" else []
    code, _, err = cli(command, spec_path, "--untrusted", *extra)
    assert not marker.exists() and code == 1
    assert "names Python code, and data.trusted is false" in err


def test_an_untrusted_spec_still_trains_on_files(tmp_path):
    table().to_csv(tmp_path / "data.csv", index=False)
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump({**SPEC, "data": {"source": "data.csv"}}))
    code, _, err = cli("train", tmp_path / "spec.yaml", "--untrusted", "--out", tmp_path / "run", "--quiet")
    assert (code, err) == (0, "")
    assert load_spec(tmp_path / "run" / "spec.yaml").data.trusted is False


def test_init_on_a_hostile_table_runs_nothing_and_its_spec_trains_untrusted(tmp_path):
    marker = tmp_path / "PWNED"
    frame = table()
    # Values that would mean something to a shell, Python or a spreadsheet: to init they are labels.
    frame["note"] = [f"python:os:system|touch {marker}", "=cmd()", "__import__('os')", "{{7*7}}"] * 16
    frame.to_csv(tmp_path / "data.csv", index=False)
    (tmp_path / "specs").mkdir()
    spec_path = tmp_path / "specs" / "spec.yaml"
    code, _, err = cli("init", tmp_path / "data.csv", "--out", spec_path, "--epochs", 1)
    assert (code, err) == (0, "")
    # The data's path is relative to the spec's folder: no path of this machine is written.
    assert load_spec(spec_path).data.source == "../data.csv"
    assert str(tmp_path) not in spec_path.read_text()
    # An untrusted spec must keep its paths inside its folder: beside the data, it trains.
    code, _, err = cli("init", tmp_path / "data.csv", "--out", tmp_path / "spec.yaml", "--epochs", 1)
    assert (code, err) == (0, "")
    assert load_spec(tmp_path / "spec.yaml").data.source == "data.csv"
    code, _, err = cli("train", tmp_path / "spec.yaml", "--untrusted", "--out", tmp_path / "run", "--quiet")
    assert (code, err) == (0, "")
    assert not marker.exists()


def test_a_python_source_that_returns_the_wrong_thing(tmp_path):
    (tmp_path / "rows.py").write_text("def number():\n    return 3\n\ndef text():\n    return 'abc'\n")
    for function, received in (("number", "int 3"), ("text", "str 'abc'")):
        spec = load_spec({**SPEC, "data": {"source": f"python:rows.py:{function}"}})
        with pytest.raises(
            DataError, match=rf"data.source 'python:rows.py:{function}' returned {received}; expected"
        ):
            fusegen.Generator(spec, base_dir=tmp_path).load_table()


# --------------------------------------------------------------------------
# Junk in spec.yaml
# --------------------------------------------------------------------------

JUNK = st.one_of(
    st.binary(max_size=200),
    st.text(max_size=200).map(str.encode),
    # YAML that tries to construct Python objects, or is the wrong shape.
    st.sampled_from(
        [
            b"!!python/object/apply:os.system ['touch PWNED']",
            b"data: !!python/object/apply:os.system ['touch PWNED']",
            b"- 1\n- 2\n",
            b"name: [unclosed",
            b"data: {source: 'python:os:system', options: {command: 'touch PWNED'}}\n",
            b"\xff\xfe\x00",
        ]
    ),
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(junk=JUNK)
def test_junk_in_spec_yaml_never_runs_or_tracebacks(trained, tmp_path_factory, junk):
    folder = tmp_path_factory.mktemp("junk")
    run = folder / "run"
    shutil.copytree(trained / "run", run)
    (run / "spec.yaml").write_bytes(junk)
    reseal(run)
    (folder / "inputs.csv").write_text("x\n0.5\n")
    commands = (
        ["sample", run, "-c", folder / "inputs.csv", "--out", folder / "s.csv"],
        ["predict", run, "--inputs", folder / "inputs.csv", "--out", folder / "p.csv"],
        ["evaluate", run],
        ["report", run],
        ["export", run, "--out", folder / "exported"],
    )
    for command in commands:
        code, _, err = cli(*command)
        assert "Traceback" not in err
        if code != 0:
            assert code == 1 and err.startswith("fusegen: error: ") and len(err.strip().splitlines()) == 1
    assert not (folder / "PWNED").exists() and not (run / "PWNED").exists()


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    manifest=st.one_of(
        st.binary(max_size=100),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=10),
            lambda children: (
                st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
            ),
            max_leaves=8,
        ).map(lambda value: json.dumps({"files": value}).encode()),
    )
)
def test_junk_manifest_is_one_line(trained, tmp_path_factory, manifest):
    run = tmp_path_factory.mktemp("manifest") / "run"
    shutil.copytree(trained / "run", run)
    (run / "manifest.json").write_bytes(manifest)
    code, _, err = cli("evaluate", run)
    assert code == 1 and err.startswith("fusegen: error: ") and len(err.strip().splitlines()) == 1
