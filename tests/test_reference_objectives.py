"""Every objective trains on each reference example and samples the same after a reload."""

import numpy as np
import pandas as pd
import pytest
import yaml

import fusegen
from fusegen.spec import load_spec

pytestmark = pytest.mark.slow

EXAMPLES = ["tabular_augment", "sensors_to_series", "image_text_to_image"]
SMALL_OBJECTIVES = {
    "regression": {"type": "regression"},
    "cvae": {"type": "cvae", "latent_dim": 4},
    "cgan": {"type": "cgan", "noise_dim": 8, "critic_steps": 1},
    "diffusion": {"type": "diffusion", "timesteps": 50, "sampling_steps": 4, "denoiser_width": 16,
                  "denoiser_depth": 1},
}  # fmt: skip


def small_spec(examples_dir, example, objective):
    raw = yaml.safe_load((examples_dir / f"{example}.yaml").read_text())
    raw["objective"] = SMALL_OBJECTIVES[objective]
    # One model: the sensors example pools two, and tests/test_ensemble.py round-trips ensembles.
    raw["training"].update(epochs=1, steps_per_epoch=2, batch_size=8, ensemble=1)
    raw["training"]["tensorboard"] = False
    if example == "image_text_to_image":
        # Ten emoji: one is held out (data.split_column), so there are validation rows to predict.
        raw["data"]["options"] = {"num_images": 10, "size": 64}
    return load_spec(raw)


@pytest.mark.parametrize("objective", list(SMALL_OBJECTIVES))
@pytest.mark.parametrize("example", EXAMPLES)
def test_objective_trains_saves_and_samples(examples_dir, tmp_path, example, objective):
    spec = small_spec(examples_dir, example, objective)
    generator = fusegen.Generator(spec).fit(verbose=0, run_dir=tmp_path)
    assert all(np.isfinite(generator.history_["loss"]))
    generator.save(tmp_path)
    loaded = fusegen.load(tmp_path)
    conditions = generator.validation_table_
    first = generator.predict(conditions, seed=4)
    again = loaded.predict(conditions, seed=4)
    output = spec.output
    if output.kind == "record":
        pd.testing.assert_frame_equal(first, again)
        # The training table's order (a record's columns are the spec's numbers and categories).
        record = set(output.numeric + output.categorical)
        assert list(again.columns) == [column for column in conditions.columns if column in record]
    else:
        np.testing.assert_array_equal(first, again)
        assert again.shape == (len(conditions), *output.model_shape())
