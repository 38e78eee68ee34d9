"""End to end, small: text-guided editing with a U-Net head, and text -> image with the image metrics.

Both tasks use the bundled data at reduced size; the assertions are about
behaviour (the split, the loss, the per-group metrics, the judge's scores and
the grids), not about reaching the benchmark's quality.
"""

import json

import numpy as np
import pytest

import fusegen
from fusegen.errors import DataError
from fusegen.evaluation import evaluate_run, summary_lines
from fusegen.spec import load_spec

pytestmark = pytest.mark.slow


def editing_spec(**training):
    return load_spec(
        {
            "name": "edit_small",
            "data": {
                "source": "bundled:emoji_edits",
                "options": {"num_images": 10, "size": 16},
                "split_column": "split",
            },  # fmt: skip
            "inputs": {
                "image": {
                    "kind": "image",
                    "height": 16,
                    "width": 16,
                    "channels": 3,
                    "encoder": {"type": "residual", "filters": [8, 16]},
                },  # fmt: skip
                "instruction": {
                    "kind": "text",
                    "max_tokens": 60,
                    "sequence_length": 8,
                    "encoder": {"type": "transformer", "embedding_dim": 16, "num_heads": 2},
                },  # fmt: skip
            },
            "fusion": {"method": "concat", "width": 32},
            "output": {
                "name": "edited",
                "kind": "image",
                "height": 16,
                "width": 16,
                "channels": 3,
                "head": {
                    "type": "unet",
                    "base_filters": 16,
                    "min_filters": 8,
                    "conditioning": ["film", "cross_attention"],
                },
            },  # fmt: skip
            "objective": {"type": "regression"},
            "evaluation": {"group_by": ["operation", "phrasing"]},
            "training": {
                "batch_size": 8,
                "epochs": 6,
                "learning_rate": 0.003,
                "tensorboard": False,
                **training,
            },
        }
    )


@pytest.fixture(scope="module")
def editor():
    generator = fusegen.Generator(editing_spec())
    generator.fit(verbose=0)
    return generator


def test_editing_trains_on_the_fixed_split_and_its_loss_falls(editor):
    history = editor.history_
    assert history["loss"][-1] < 0.7 * history["loss"][0]
    # 9 training emoji x 6 instructions; the held-out emoji's 12 rows validate.
    assert len(editor.validation_table_) == 12
    assert set(editor.validation_table_.columns["split"]) == {"validation"}


def test_editing_evaluation_breaks_psnr_down_by_instruction_and_phrasing(editor, tmp_path):
    results = evaluate_run(editor, out_dir=tmp_path)

    groups = results["groups"]
    assert set(groups["phrasing"]) == {"seen", "unseen"}
    assert len(groups["operation"]) == 6 and all(row["count"] == 2 for row in groups["operation"].values())
    assert set(groups["operation/phrasing"]) == {
        f"{op}/{p}" for op in groups["operation"] for p in ("seen", "unseen")
    }
    for row in groups["operation"].values():
        assert {"psnr", "ssim", "mae", "identity_psnr", "count"} <= set(row)
    assert (tmp_path / "grid.png").stat().st_size > 0
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["groups"]["phrasing"]["seen"]["count"] == 6
    assert any(line.startswith("  phrasing=unseen: PSNR") for line in summary_lines(results))


def test_a_split_column_with_other_values_is_refused_with_the_row():
    from fusegen.data.pipeline import split_table
    from fusegen.data.sources import Table

    table = Table(
        {"x": np.arange(4.0), "split": np.array(["train", "validation", "test", "train"])}, origin="t.csv"
    )
    spec = load_spec({"data": {"split_column": "split"}, "inputs": {"x": {"kind": "numeric", "columns": ["x"]}},
                      "output": {"kind": "vector", "size": 1}})  # fmt: skip
    with pytest.raises(DataError, match=r"data.split_column 'split' holds 'test' in row 2 \(1 such rows\)"):
        split_table(table, spec)


def test_text_to_image_reports_conditional_accuracy_distances_diversity_and_a_sample_grid(tmp_path):
    spec = load_spec(
        {
            "name": "t2i_small",
            "data": {
                "source": "bundled:animal_shapes",
                "options": {"per_class": 12},
                "validation_split": 0.25,
            },
            "inputs": {"caption": {"kind": "text", "max_tokens": 40, "sequence_length": 6}},
            "output": {"name": "image", "kind": "image", "height": 28, "width": 28, "channels": 1},
            "objective": {
                "type": "diffusion",
                "denoiser_width": 16,
                "denoiser_depth": 1,
                "sampling_steps": 4,
            },
            "evaluation": {"label_column": "animal", "classifier_epochs": 1},
            "training": {"batch_size": 32, "epochs": 2, "tensorboard": False},
        }
    )
    generator = fusegen.Generator(spec)
    generator.fit(verbose=0)
    handed = []
    results = evaluate_run(generator, out_dir=tmp_path, on_generated=lambda *pair: handed.append(pair))

    # The samples drawn for the held-out rows are handed back once (the demo writes its samples from them).
    [(rows, generated)] = handed
    assert len(rows) == len(generator.validation_table_) == results["samples"]["count"]
    assert generated.shape == (len(rows), 28, 28, 1)
    sampled = results["sampled"]
    assert 0 <= sampled["conditional_accuracy"] <= 1 and 0 <= sampled["judge_accuracy_on_real"] <= 1
    assert sampled["feature_frechet"] >= 0 and sampled["diversity"] > 0 and sampled["real_diversity"] > 0
    assert sampled["judge"]["classes"] == sorted(set(generator.load_table().columns["animal"]))
    # Per class, and the overall share is their row-weighted mean.
    held_out = np.asarray(generator.validation_table_.columns["animal"]).astype(str)
    by_class = sampled["conditional_accuracy_by_class"]
    assert set(by_class) == set(held_out)
    weighted = sum(by_class[label] * np.sum(held_out == label) for label in by_class) / len(held_out)
    assert weighted == pytest.approx(sampled["conditional_accuracy"])
    assert (tmp_path / "samples.png").stat().st_size > 0
    assert any(line.startswith("conditional accuracy") for line in summary_lines(results))


def test_evaluation_columns_must_exist():
    spec = load_spec(
        {
            "data": {"source": "bundled:animal_shapes", "options": {"per_class": 2}},
            "inputs": {"caption": {"kind": "text"}},
            "output": {"name": "image", "kind": "image", "height": 28, "width": 28, "channels": 1},
            "objective": {"type": "diffusion"},
            "evaluation": {"label_column": "species"},
        }
    )
    with pytest.raises(DataError, match="evaluation.label_column 'species' is not a column"):
        fusegen.Generator(spec).fit(verbose=0)


def test_an_editor_trained_on_image_files_is_evaluated_against_its_input_files(tmp_path):
    """animal-mnist edits as a user lays them out, a CSV of PNG paths: evaluate built the identity
    baseline from the input column as it stood, paths, and failed comparing them with the images."""
    from PIL import Image

    rng = np.random.default_rng(0)
    rows = []
    (tmp_path / "imgs").mkdir()
    for index in range(24):
        before = rng.integers(0, 256, (12, 12), dtype=np.uint8)
        after = before[:, ::-1] if index % 2 else before // 2
        Image.fromarray(before).save(tmp_path / "imgs" / f"{index}_in.png")
        Image.fromarray(after).save(tmp_path / "imgs" / f"{index}_out.png")
        caption = "flip it" if index % 2 else "make it darker"
        rows.append(f"imgs/{index}_in.png,{caption},imgs/{index}_out.png")
    (tmp_path / "edits.csv").write_text("image,caption,target\n" + "\n".join(rows) + "\n")
    image = {"kind": "image", "height": 12, "width": 12, "channels": 1}
    spec = load_spec(
        {
            "data": {"source": "edits.csv", "validation_split": 0.25},
            "inputs": {
                "image": {**image, "encoder": {"type": "conv", "filters": [4]}},
                "caption": {"kind": "text", "max_tokens": 10, "sequence_length": 4},
            },
            "output": {
                **image,
                "name": "edited",
                "column": "target",
                "head": {"type": "unet", "conditioning": ["film"], "base_filters": 4, "min_filters": 4},
            },
            "objective": {"type": "regression"},
            "evaluation": {"group_by": ["caption"]},
            "training": {"batch_size": 8, "epochs": 1, "tensorboard": False},
        }  # fmt: skip
    )
    generator = fusegen.Generator(spec, base_dir=tmp_path).fit(verbose=0)
    results = evaluate_run(generator, out_dir=tmp_path / "evaluation")
    # The baseline compares each target with its input image, decoded as the target is.
    pixels = np.stack([np.asarray(Image.open(tmp_path / "imgs" / f"{i}_in.png")) for i in range(24)])
    targets = np.stack([np.asarray(Image.open(tmp_path / "imgs" / f"{i}_out.png")) for i in range(24)])
    assert 0 < results["identity_baseline"]["mae"] <= np.abs(pixels.astype(float) - targets).max()
    assert set(results["groups"]["caption"]) <= {"flip it", "make it darker"}
    assert (tmp_path / "evaluation" / "grid.png").exists()
