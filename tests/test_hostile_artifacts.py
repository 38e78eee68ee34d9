"""A malicious artifact is refused without running any of its code."""

import json

import keras
import numpy as np
import pandas as pd
import pytest

import fusegen
from fusegen.artifacts import sha256
from fusegen.errors import RunError
from fusegen.spec import load_spec

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=64), "y": rng.normal(size=64)})
    spec = load_spec(
        {
            "inputs": {"x": {"kind": "numeric", "columns": ["x"]}},
            "output": {"kind": "record", "numeric": ["y"]},
            "training": {"epochs": 1},
        }
    )
    path = tmp_path_factory.mktemp("run")
    fusegen.Generator(spec).fit(frame, verbose=0).save(path)
    return path


def copy_run(run_dir, tmp_path):
    import shutil

    target = tmp_path / "run"
    shutil.copytree(run_dir, target)
    return target


def reseal(run_dir):
    """An attacker who also rewrites the manifest's checksums."""
    manifest = json.loads((run_dir / "manifest.json").read_text())
    manifest["files"] = {name: sha256(run_dir / name) for name in manifest["files"]}
    (run_dir / "manifest.json").write_text(json.dumps(manifest))


def test_lambda_layer_is_refused_without_running(run_dir, tmp_path):
    run = copy_run(run_dir, tmp_path)
    marker = tmp_path / "pwned"
    inputs = keras.Input((8,), name="_fused")
    # If this ever ran, it would leave a file behind (the path is baked into its bytecode).
    function = eval(f"lambda x: x + (__import__('pathlib').Path({str(marker)!r}).touch() or 0.0)")  # noqa: S307
    evil = keras.layers.Lambda(function)
    keras.Model(inputs, evil(inputs)).save(run / "decoder.keras")
    marker.unlink(missing_ok=True)
    reseal(run)
    with pytest.raises(RunError, match="decoder.keras cannot be loaded safely"):
        fusegen.load(run)
    assert not marker.exists()


def test_unknown_custom_object_is_refused(run_dir, tmp_path):
    import zipfile

    run = copy_run(run_dir, tmp_path)
    with zipfile.ZipFile(run / "decoder.keras") as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    config = json.loads(members["config.json"])
    config["module"], config["class_name"] = "evil.module", "Backdoor"
    members["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(run / "decoder.keras", "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    reseal(run)
    with pytest.raises(RunError, match="cannot be loaded safely"):
        fusegen.load(run)


def test_manifest_paths_outside_the_run_are_refused(run_dir, tmp_path):
    run = copy_run(run_dir, tmp_path)
    manifest = json.loads((run / "manifest.json").read_text())
    manifest["files"]["../outside.txt"] = "0" * 64
    (run / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(RunError, match="outside the run"):
        fusegen.load(run)


def test_edited_preprocessing_is_refused(run_dir, tmp_path):
    run = copy_run(run_dir, tmp_path)
    state = json.loads((run / "preprocessing.json").read_text())
    (run / "preprocessing.json").write_text(json.dumps(state) + " ")
    with pytest.raises(RunError, match="preprocessing.json does not match its checksum"):
        fusegen.load(run)


def test_confine_paths_refuses_data_outside_the_spec_folder(tmp_path):
    import pandas as pd
    import yaml
    from PIL import Image

    import fusegen
    from fusegen.errors import DataError

    outside, project = tmp_path / "outside", tmp_path / "project"
    outside.mkdir()
    project.mkdir()
    pd.DataFrame({"a": [1.0, 2.0], "b": [3.0, 4.0]}).to_csv(outside / "secret.csv", index=False)
    (project / "link.csv").symlink_to(outside / "secret.csv")
    spec = {
        "inputs": {"a": {"kind": "numeric", "columns": ["a"]}},
        "output": {"kind": "record", "numeric": ["b"]},
    }
    for source in (
        "../outside/secret.csv",
        str(outside / "secret.csv"),
        "link.csv",
    ):
        (project / "spec.yaml").write_text(
            yaml.safe_dump({**spec, "data": {"source": source, "confine_paths": True}})
        )
        with pytest.raises(DataError, match="outside the spec's folder"):
            fusegen.Generator(project / "spec.yaml").load_table()
    # Without the option the same spec reads the file; inside the folder it is fine either way.
    (project / "spec.yaml").write_text(yaml.safe_dump({**spec, "data": {"source": "../outside/secret.csv"}}))
    assert len(fusegen.Generator(project / "spec.yaml").load_table()) == 2

    # Image paths inside the data are confined too.
    Image.new("RGB", (4, 4)).save(outside / "cat.png")
    pd.DataFrame({"photo": ["../outside/cat.png"], "b": [1.0]}).to_csv(project / "images.csv", index=False)
    image_spec = {
        "data": {"source": "images.csv", "confine_paths": True},
        "inputs": {"photo": {"kind": "image", "height": 4, "width": 4, "channels": 3}},
        "output": {"kind": "record", "numeric": ["b"]},
    }
    (project / "images.yaml").write_text(yaml.safe_dump(image_spec))
    with pytest.raises(DataError, match="image path in row .*outside the spec's folder"):
        fusegen.Generator(project / "images.yaml").fit(verbose=0)
