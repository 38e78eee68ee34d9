"""`fusegen report --saved-evaluation`: the report shows what `fusegen evaluate` saved, never a stale
or foreign evaluation, and embeds no file from outside the run's evaluation folder."""

import json

import numpy as np
import pandas as pd
import pytest

import fusegen
from fusegen.errors import FusegenError, RunError
from fusegen.reporting import build_report, read_saved_evaluation
from fusegen.spec import load_spec
from tests.conftest import cli

SPEC = {
    "inputs": {"x": {"kind": "numeric", "columns": ["x"]}},
    "output": {"kind": "record", "numeric": ["y"], "categorical": ["c"]},
    "objective": {"type": "cvae", "latent_dim": 2},
    "training": {"epochs": 2, "batch_size": 16},
}


@pytest.fixture()
def evaluated_run(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=80)
    frame = pd.DataFrame({"x": x, "y": 2 * x + rng.normal(size=80) * 0.1, "c": np.where(x > 0, "up", "down")})
    frame.to_csv(tmp_path / "data.csv", index=False)
    spec = load_spec({**SPEC, "data": {"source": "data.csv"}})
    run_dir = tmp_path / "run"
    fusegen.Generator(spec, base_dir=tmp_path).fit(verbose=0).save(run_dir)
    code, out, err = cli("evaluate", run_dir)
    assert code == 0, err
    return run_dir


def test_the_report_shows_the_saved_evaluation_without_evaluating_again(evaluated_run, monkeypatch):
    saved = json.loads((evaluated_run / "evaluation" / "metrics.json").read_text())
    assert saved["evaluated"]["seed"] == 0 and len(saved["evaluated"]["run_manifest"]) == 64

    def refuse(*args, **kwargs):
        raise AssertionError("evaluated again")

    monkeypatch.setattr("fusegen.reporting.evaluate_run", refuse)
    html = build_report(evaluated_run, saved_evaluation=True).read_text()
    assert f"{saved['quality']['score']:.4g}"[:4] in html and "data:image/png;base64," in html


def test_an_evaluation_of_the_run_before_it_changed_is_refused(evaluated_run):
    manifest = evaluated_run / "manifest.json"
    content = json.loads(manifest.read_text())
    content["versions"]["fusegen"] = "0.0.0"  # any change to the run changes its manifest's digest
    manifest.write_text(json.dumps(content))
    with pytest.raises(RunError, match="not an evaluation of the run as it is now"):
        read_saved_evaluation(evaluated_run)


def test_a_plot_outside_the_evaluation_folder_is_never_embedded(evaluated_run, tmp_path):
    secret = tmp_path / "secret.png"
    secret.write_bytes(b"not for the report")
    path = evaluated_run / "evaluation" / "metrics.json"
    saved = json.loads(path.read_text())
    saved["plots"]["marginals"] = str(secret)
    path.write_text(json.dumps(saved))
    code, out, err = cli("report", evaluated_run, "--saved-evaluation")
    assert code != 0 and "plot 'marginals'" in err and "not a file in" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) <= 2


def test_no_saved_evaluation_and_real_data_with_it_are_one_line_each(evaluated_run):
    (evaluated_run / "evaluation" / "metrics.json").unlink()
    code, out, err = cli("report", evaluated_run, "--saved-evaluation")
    assert code != 0 and "has no saved evaluation" in err and "fusegen evaluate" in err
    # A report named .txt would hold HTML: refused before any evaluation runs.
    code, out, err = cli("report", evaluated_run, "--out", evaluated_run / "report.txt")
    assert code != 0 and "is not an .html file" in err and "report.html" in err
    assert not (evaluated_run / "report.txt").exists()
    # --last reads the windows of a long table; a record run cuts none, whatever else is given.
    code, out, err = cli("sample", evaluated_run, "--last", "-n", "2", "--out", evaluated_run / "x.csv")
    assert code != 0 and "this run cuts no windows" in err
    with pytest.raises(FusegenError, match="--real cannot apply"):
        build_report(evaluated_run, real=evaluated_run / "data.csv", saved_evaluation=True)


def test_evaluate_scores_against_a_holdout_file_kept_apart(evaluated_run, tmp_path):
    """A test set kept apart is scored as the held-out rows, not split again as training rows (the
    session-43 sweep: --real HOLDOUT had measured distances to its own 90% as 'training records')."""
    rng = np.random.default_rng(7)
    x = rng.normal(size=30)
    pd.DataFrame({"x": x, "y": 2 * x, "c": np.where(x > 0, "up", "down")}).to_csv(
        tmp_path / "test.csv", index=False
    )
    code, out, err = cli("evaluate", evaluated_run, "--holdout", tmp_path / "test.csv", "--json")
    assert code == 0, err
    results = json.loads(out)
    assert results["privacy"]["holdout"]["rows"] == 30
    assert results["evaluated"]["holdout"] == str(tmp_path / "test.csv")
    code, _, err = cli("evaluate", evaluated_run, "--holdout", tmp_path / "nosuch.csv")
    assert code == 1 and "--holdout" in err and "nosuch.csv" in err
    # A holdout lacking a record column: one line naming it (the sweep's evaluate had a bare KeyError).
    pd.DataFrame({"x": x, "Y": 2 * x, "c": np.where(x > 0, "up", "down")}).to_csv(
        tmp_path / "renamed.csv", index=False
    )
    code, _, err = cli("evaluate", evaluated_run, "--holdout", tmp_path / "renamed.csv")
    assert (
        code == 1 and "lacks the generator's columns ['y'] ('Y' may be 'y')" in err and "renamed.csv" in err
    )
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
