"""Parts for images and words: the U-Net head with skips, FiLM and cross-attention, the transformer text encoder."""

import keras
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fusegen.errors import SpecError
from fusegen.models import build_from_spec, plan_model
from fusegen.models.layers import TextTransformer, UNetDecoder
from fusegen.spec import load_spec


def editing_spec(height=16, width=16, encoder="residual", layout="grid", conditioning=("film",), **head):
    return load_spec(
        {
            "inputs": {
                "image": {
                    "kind": "image",
                    "height": height,
                    "width": width,
                    "channels": 3,
                    "encoder": {"type": encoder, "filters": [4, 8]},
                },
                "words": {
                    "kind": "text",
                    "max_tokens": 20,
                    "sequence_length": 5,
                    "encoder": {"type": "transformer", "embedding_dim": 8, "num_heads": 2},
                },
            },
            "fusion": {"method": "concat", "layout": layout, "width": 8},
            "output": {
                "kind": "image",
                "height": height,
                "width": width,
                "channels": 3,
                "head": {
                    "type": "unet",
                    "base_filters": 8,
                    "min_filters": 4,
                    "routing_bases": 3,
                    "conditioning": list(conditioning),
                    **head,
                },  # fmt: skip
            },
        }
    )


def test_unet_head_takes_the_image_encoders_maps_at_every_size():
    plan = plan_model(editing_spec(encoder="residual"), {"words": 20})

    assert plan.skip_source == "image"
    # The residual encoder keeps 16x16 in its first stage and halves once.
    assert plan.skip_shapes == [(8, 8, 8), (16, 16, 4)]
    assert plan.to_dict()["head"]["skips"] == {"from": "image", "shapes": [[8, 8, 8], [16, 16, 4]]}


def test_a_strided_encoder_passes_the_image_itself_at_full_size():
    plan = plan_model(editing_spec(encoder="conv"), {"words": 20})

    # conv halves at once (16 -> 8 -> 4), so the full-size skip is the input image.
    assert plan.skip_shapes == [(4, 4, 8), (8, 8, 4), (16, 16, 3)]


def test_skips_can_be_turned_off_and_must_name_an_image_input():
    plan = plan_model(editing_spec(skips_from="none"), {"words": 20})
    assert plan.skip_source is None and plan.skip_shapes == []

    with pytest.raises(SpecError, match="skips_from 'words' must name an image input; the image inputs are"):
        editing_spec(skips_from="words")


@pytest.mark.parametrize(
    "conditioning", [["film"], ["cross_attention"], ["concat"], ["film", "cross_attention"]]
)
def test_edited_image_has_the_input_size_and_the_model_round_trips(tmp_path, conditioning):
    plan, model = build_from_spec(editing_spec(height=12, width=20, conditioning=conditioning), {"words": 20})
    batch = {
        "image": np.random.default_rng(0).random((2, 12, 20, 3)).astype("float32"),
        "words": np.array([[3, 4, 0, 0, 0], [5, 0, 0, 0, 0]], dtype="int32"),
    }
    output = np.asarray(model(batch))
    assert output.shape == (2, 12, 20, 3)
    assert 0 <= output.min() and output.max() <= 1

    model.save(tmp_path / "model.keras")
    reloaded = keras.saving.load_model(tmp_path / "model.keras")
    np.testing.assert_allclose(np.asarray(reloaded(batch)), output, atol=1e-6)


def test_the_condition_changes_the_output_through_film():
    decoder = UNetDecoder(8, 8, 1, conditioning=["film"], base_filters=8, min_filters=4)
    fused, skip = keras.Input((4,)), keras.Input((8, 8, 2))
    model = keras.Model([fused, skip], decoder([fused, skip]))
    # FiLM projections start at zero (the identity); give them weights, as training would.
    for weight in decoder.weights:
        if "film" in weight.path or "skip_gate" in weight.path:
            weight.assign(np.random.default_rng(1).normal(0, 0.5, weight.shape))
    image = np.random.default_rng(0).random((1, 8, 8, 2)).astype("float32")
    first = model([np.array([[1.0, -1.0, 0.5, 0.0]], "float32"), image])
    second = model([np.array([[-1.0, 1.0, 0.0, 0.5]], "float32"), image])
    assert np.abs(np.asarray(first) - np.asarray(second)).max() > 1e-3


def test_unet_decoder_validates_its_arguments():
    with pytest.raises(ValueError, match="`conditioning` must list some of"):
        UNetDecoder(8, 8, 1, conditioning=["magic"])
    with pytest.raises(ValueError, match="`height` must be a positive integer"):
        UNetDecoder(0, 8, 1)
    with pytest.raises(ValueError, match="skips must differ in size"):
        UNetDecoder(8, 8, 1).compute_output_shape([(None, 4), (None, 4, 4, 2), (None, 4, 4, 3)])
    with pytest.raises(ValueError, match="exceeds the output"):
        UNetDecoder(8, 8, 1).compute_output_shape([(None, 4), (None, 16, 16, 2)])


def test_text_transformer_ignores_padding_and_reads_word_order():
    layer = TextTransformer(vocabulary_size=10, sequence_length=4, embedding_dim=8, num_layers=2, num_heads=2)
    ids = keras.Input((4,), dtype="int32")
    model = keras.Model(ids, layer(ids))
    short = np.array([[3, 4, 0, 0]], dtype="int32")
    swapped = np.array([[4, 3, 0, 0]], dtype="int32")
    before = np.asarray(model(short))

    assert before.shape == (1, 8)
    assert np.abs(before - np.asarray(model(swapped))).max() > 1e-4
    # Whatever the padding id's embedding holds, padded positions change nothing.
    table = layer.token_embedding.embeddings
    table.assign(np.concatenate([np.full((1, 8), 5.0), np.asarray(table)[1:]]).astype("float32"))
    np.testing.assert_allclose(np.asarray(model(short)), before, atol=1e-5)
    with pytest.raises(ValueError, match="divisible by `num_heads`"):
        TextTransformer(10, 4, embedding_dim=6, num_heads=4)


@st.composite
def unet_specs(draw):
    height, width = draw(st.integers(1, 40)), draw(st.integers(1, 40))
    scale = draw(st.sampled_from([1, 1, 2]))  # the output may be larger than the image input
    depth = draw(st.integers(1, 3))
    return {
        "inputs": {
            "image": {
                "kind": "image",
                "height": height,
                "width": width,
                "channels": draw(st.sampled_from([1, 3])),
                "encoder": {"type": draw(st.sampled_from(["conv", "residual"])), "filters": [4] * depth},
            },
            "words": {
                "kind": "text",
                "max_tokens": 20,
                "sequence_length": 3,
                "encoder": {"embedding_dim": 4},
            },
        },
        "fusion": {"method": "concat", "layout": draw(st.sampled_from(["vector", "grid"])), "width": 4},
        "output": {
            "kind": "image",
            "height": height * scale,
            "width": width * scale,
            "channels": draw(st.sampled_from([1, 3])),
            "head": {
                "type": "unet",
                "base_filters": 8,
                "min_filters": 4,
                "routing_bases": 3,
                "max_stages": draw(st.integers(1, 5)),
                "skips_from": draw(st.sampled_from(["image", None, "none"])),
                "conditioning": draw(
                    st.lists(st.sampled_from(["film", "cross_attention", "concat"]), min_size=1, unique=True)
                ),
            },
        },
        "objective": draw(st.sampled_from([{"type": "regression"}, {"type": "cvae", "latent_dim": 2}])),
    }


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(unet_specs())
def test_unet_output_shape_always_equals_requested(raw):
    plan, model = build_from_spec(load_spec(raw), {"words": 20})
    inputs = {
        "image": np.zeros((2, *plan.branches["image"].input_shape), "float32"),
        "words": np.ones((2, 3), "int32"),
    }
    if plan.latent_dim:
        inputs["_latent"] = np.zeros((2, plan.latent_dim), "float32")
    assert tuple(model(inputs).shape[1:]) == tuple(load_spec(raw).output.model_shape())


def test_route_map_moves_cells_and_positions_inside_them():
    from fusegen.models.layers import route_map

    # A 4x6 map as a 2x3 grid of 2x2 cells: flip the cells left-right and
    # the positions inside each cell left-right, which flips the whole map.
    x = np.arange(4 * 6 * 2, dtype="float32").reshape(1, 4, 6, 2)

    def horizontal_flip(rows, columns):
        order = np.arange(rows * columns).reshape(rows, columns)[:, ::-1].ravel()
        return np.eye(rows * columns, dtype="float32")[order][None]

    flipped = route_map(x, horizontal_flip(2, 3), horizontal_flip(2, 2), (2, 3))
    np.testing.assert_array_equal(np.asarray(flipped), x[:, :, ::-1])
    # Cells alone: whole 2x2 blocks move, their insides stay.
    blocks = np.asarray(route_map(x, horizontal_flip(2, 3), None, (2, 3)))
    np.testing.assert_array_equal(blocks[:, :, 0:2], x[:, :, 4:6])


def test_positional_routing_is_a_row_stochastic_attention():
    from fusegen.models.layers import PositionalRouting

    routing = PositionalRouting(3, 4, num_bases=2, key_dim=4)
    attention = np.asarray(routing(np.random.default_rng(0).normal(size=(2, 5)).astype("float32")))

    assert attention.shape == (2, 12, 12)
    np.testing.assert_allclose(attention.sum(-1), 1.0, atol=1e-5)


def test_a_one_by_one_map_routes_to_itself_without_a_keras_warning():
    """A U-Net's coarsest map can be 1x1 (a small image, several halvings): Keras warns of a softmax
    over one key there, which a user would read as a fault."""
    import warnings

    from fusegen.models.layers import PositionalRouting

    routing = PositionalRouting(1, 1, num_bases=2, key_dim=4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        attention = np.asarray(routing(np.random.default_rng(0).normal(size=(2, 5)).astype("float32")))
    np.testing.assert_array_equal(attention, np.ones((2, 1, 1), "float32"))


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    height=st.integers(5, 36),
    width=st.integers(5, 36),
    channels=st.sampled_from([1, 3]),
    depth=st.integers(1, 4),
)
def test_diffusion_image_denoiser_keeps_any_image_shape(height, width, channels, depth):
    from fusegen.models.denoisers import build_denoiser

    denoiser = build_denoiser((height, width, channels), (6,), 16, depth)
    batch = {
        "noisy": np.random.default_rng(0).normal(size=(2, height, width, channels)).astype("float32"),
        "time": np.full((2, 1), 0.5, "float32"),
        "fused": np.ones((2, 6), "float32"),
    }
    assert tuple(denoiser(batch).shape) == (2, height, width, channels)
    # Channels double per halving up to twice the width; the coarsest grid has self-attention.
    middle = denoiser.get_layer("middle_conv_b").output.shape[-1]
    assert middle in (8, 16, 32)
    assert denoiser.get_layer("middle_attention_attention") is not None


def test_diffusion_image_denoiser_reads_the_condition():
    from fusegen.models.denoisers import build_denoiser

    keras.utils.set_random_seed(0)
    denoiser = build_denoiser((8, 8, 1), (4,), 16, 2)
    # FiLM and the output convolution start at zero; random weights everywhere let the condition show.
    rng = np.random.default_rng(1)
    for weight in denoiser.weights:
        weight.assign(0.2 * rng.normal(size=weight.shape).astype("float32"))
    noisy = np.random.default_rng(0).normal(size=(1, 8, 8, 1)).astype("float32")
    outputs = [
        denoiser(
            {
                "noisy": noisy,
                "time": np.full((1, 1), 0.5, "float32"),
                "fused": np.full((1, 4), value, "float32"),
            }
        )
        for value in (0.0, 1.0)
    ]
    assert not np.allclose(outputs[0], outputs[1])


def test_uint8_pixels_and_files_are_read_in_0_255_whatever_the_training_images_were(tmp_path):
    """Fitted on float pixels in [0, 1], a converter read PNG files and uint8 arrays 255 times too
    bright; fitted on files, it read float pixels in [0, 1] 255 times too dark. uint8 is now always
    0..255, and float pixels in the other range are refused."""
    from PIL import Image

    from fusegen.data.image_converters import ImageConverter
    from fusegen.data.sources import Table
    from fusegen.errors import DataError
    from fusegen.spec import load_spec

    spec = load_spec(
        {
            "inputs": {"photo": {"kind": "image", "height": 4, "width": 4, "channels": 1}},
            "output": {"kind": "vector", "size": 1, "column": "y"},
        }
    ).inputs["photo"]
    pixels = np.random.default_rng(0).integers(0, 256, (3, 4, 4, 1), dtype=np.uint8)
    for index, image in enumerate(pixels):
        Image.fromarray(image[..., 0]).save(tmp_path / f"{index}.png")
    files = Table({"photo": np.array([str(tmp_path / f"{i}.png") for i in range(3)], dtype=object)}, "files")
    expected = pixels.astype("float32") / 255.0
    floats = Table({"photo": expected}, "floats")
    on_floats = ImageConverter("photo", spec).fit(floats, "photo")
    for table in (files, Table({"photo": pixels}, "uint8"), floats):
        np.testing.assert_allclose(on_floats.transform(table, "photo"), expected, atol=1e-6)
    on_files = ImageConverter("photo", spec).fit(files, "photo")
    np.testing.assert_allclose(
        on_files.transform(Table({"photo": pixels}, "uint8"), "photo"), expected, atol=1e-6
    )
    with pytest.raises(DataError, match=r"float pixels in 0\.\.1 .* trained on images in 0\.\.255"):
        on_files.transform(floats, "photo")
    with pytest.raises(DataError, match=r"float pixels in 0\.\.255 .* trained on images in 0\.\.1"):
        on_floats.transform(Table({"photo": pixels.astype("float32")}, "float 0..255"), "photo")


def test_init_on_a_table_of_image_paths_generates_the_last_image_column_from_the_others(tmp_path):
    """A CSV of edits (a source image, an instruction, the edited image) went through init as records:
    both image columns left out as free text."""
    import pandas as pd
    from PIL import Image

    from fusegen.errors import DataError, FusegenError
    from fusegen.scaffold import init_spec

    (tmp_path / "pics").mkdir()
    rows = []
    for index in range(12):
        Image.new("L" if index % 2 else "RGB", (20, 10)).save(tmp_path / "pics" / f"{index}.png")
        rows.append({
            "row": index,
            "before": f"pics/{index}.png",
            "instruction": ["turn it upside down", "make it darker please", "swap red and blue"][index % 3],
            "operation": ["flip", "darken", "swap"][index % 3],
            "strength": None if index == 3 else index / 10,
            "after": f"pics/{(index + 1) % 12}.png",
        })  # fmt: skip
    pd.DataFrame(rows).to_csv(tmp_path / "edits.csv", index=False)
    spec, text = init_spec(tmp_path / "edits.csv", out=tmp_path / "specs" / "edits.yaml")
    assert spec["output"] == {"name": "after", "kind": "image", "height": 10, "width": 20, "channels": 3,
                              "convert_channels": True, "column": "after"}  # fmt: skip
    inputs = spec["inputs"]
    assert inputs["before"] == {"kind": "image", "height": 10, "width": 20, "channels": 3,
                                "convert_channels": True, "column": "before"}  # fmt: skip
    assert inputs["instruction"]["kind"] == "text" and inputs["instruction"]["sequence_length"] == 4
    assert inputs["operation"] == {"kind": "categorical"} and "row" not in inputs
    assert inputs["strength"] == {"kind": "numeric", "columns": ["strength"], "missing": "impute"}
    assert spec["evaluation"] == {"label_column": "operation"} and spec["data"]["source"] == "../edits.csv"
    assert "the output is 'after', the last column of image paths" in text
    load_spec(tmp_path / "specs" / "edits.yaml")
    # --condition is for records; a path that is not there is named before any training.
    with pytest.raises(FusegenError, match="names images in"):
        init_spec(tmp_path / "edits.csv", conditions=["operation"])
    (tmp_path / "pics" / "5.png").unlink()
    with pytest.raises(DataError, match=r"column 'before' names image files, but 'pics/5.png' is not found"):
        init_spec(tmp_path / "edits.csv")


def test_init_on_a_folder_of_grey_and_colour_images_writes_colour_and_names_skipped_files(tmp_path):
    """scikit-image's samples mix grey and colour: init took the first image's one channel and
    validate refused the rest. A class of WebP files vanished without a word."""
    from PIL import Image

    from fusegen.data.image_inference import infer_image_folder_spec
    from fusegen.errors import FusegenWarning

    for label, mode in (("grey", "L"), ("colour", "RGB"), ("clear", "RGBA")):
        (tmp_path / "photos" / label).mkdir(parents=True)
        for index in range(3):
            Image.new(mode, (8, 8)).save(tmp_path / "photos" / label / f"{index}.png")
    (tmp_path / "photos" / "webp").mkdir()
    for index in range(2):
        Image.new("RGB", (8, 8)).save(tmp_path / "photos" / "webp" / f"{index}.webp")
    with pytest.warns(
        FusegenWarning, match=r"2 image file\(s\) skipped \(2 \.webp\).*\['webp'\] have no image left"
    ):
        spec, notes = infer_image_folder_spec(tmp_path / "photos")
    assert spec["output"]["channels"] == 3 and spec["output"]["convert_channels"] is True
    assert any("converted to colour" in note for note in notes)
    load_spec(spec)
