"""fusegen's Keras layers: config round trip, symbolic and eager calls, one training step, .keras files."""

import keras
import numpy as np
import pytest

from fusegen.models.builder import build_from_spec
from fusegen.models.layers import BranchAttentionFusion, GatedFusion, ResidualBlock2D, TileToGrid
from fusegen.models.registry import FUSIONS
from fusegen.spec import load_spec


def run_layer_test(layer, input_shapes, expected_shape):
    """Config round trip, symbolic call, eager call and one training step, like Keras's own helper."""
    clone = type(layer).from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    multi = isinstance(input_shapes, list)
    symbolic = [keras.Input(shape) for shape in input_shapes] if multi else keras.Input(input_shapes)
    output = layer(symbolic)
    assert tuple(output.shape[1:]) == expected_shape
    model = keras.Model(symbolic, output)
    rng = np.random.default_rng(0)
    data = (
        [rng.random((4, *shape)).astype("float32") for shape in input_shapes]
        if multi
        else rng.random((4, *input_shapes)).astype("float32")
    )
    eager = model(data)
    assert tuple(eager.shape) == (4, *expected_shape)
    if model.trainable_weights:
        model.compile(optimizer="adam", loss="mse")
        target = np.zeros((4, *expected_shape), "float32")
        before = model.evaluate(data, target, verbose=0)
        for _ in range(5):
            model.train_on_batch(data, target)
        assert model.evaluate(data, target, verbose=0) < before


def test_tile_to_grid():
    run_layer_test(TileToGrid(3, 5), (7,), (3, 5, 7))


def test_gated_fusion():
    run_layer_test(GatedFusion(3), [(6,), (6,), (6,)], (6,))
    run_layer_test(GatedFusion(2), [(2, 3, 6), (2, 3, 6)], (2, 3, 6))


def test_gated_fusion_gates_sum_to_one():
    layer = GatedFusion(2)
    same = np.ones((3, 4), "float32")
    # Equal branches: any convex combination returns the branch itself.
    np.testing.assert_allclose(layer([same, same]), same, rtol=1e-6)


def test_branch_attention_fusion():
    run_layer_test(BranchAttentionFusion(2), [(5, 8), (1, 8)], (8,))
    run_layer_test(BranchAttentionFusion(4), [(2, 3, 1, 8), (2, 3, 1, 8)], (2, 3, 8))


def test_residual_block():
    run_layer_test(ResidualBlock2D(6), (8, 8, 3), (8, 8, 6))


@pytest.mark.parametrize("bad", [0, -1, 2.5])
def test_layers_validate_arguments(bad):
    with pytest.raises(ValueError, match="positive integer"):
        TileToGrid(bad, 2)
    with pytest.raises(ValueError, match="num_branches"):
        GatedFusion(bad)


@pytest.mark.parametrize("method", FUSIONS.names("any"))
def test_model_saves_and_loads_in_safe_mode(tmp_path, method):
    spec = load_spec(
        {
            "inputs": {
                "photo": {"kind": "image", "height": 12, "width": 10, "encoder": {"filters": [4, 8]}},
                "words": {"kind": "text", "max_tokens": 20, "sequence_length": 5},
            },
            "output": {"kind": "image", "height": 12, "width": 10, "head": {"base_filters": 8}},
            "fusion": {"method": method, "width": 8, "layout": "grid" if method == "gated" else "vector"},
        }
    )
    _, model = build_from_spec(spec)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    rng = np.random.default_rng(1)
    batch = {
        "photo": rng.random((2, 12, 10, 3)).astype("float32"),
        "words": rng.integers(0, 20, (2, 5)).astype("int32"),
    }
    np.testing.assert_allclose(model(batch), loaded(batch), rtol=1e-5, atol=1e-6)
