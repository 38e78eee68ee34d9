"""The spec: validation of good and bad specs, key paths, every problem at once, the schema."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fusegen.errors import SpecError
from fusegen.spec import load_spec, spec_json_schema, spec_to_yaml

MINIMAL = {
    "inputs": {"reading": {"kind": "numeric", "columns": ["a", "b"]}},
    "output": {"kind": "vector", "size": 3},
}


def problems_of(raw):
    with pytest.raises(SpecError) as caught:
        load_spec(raw)
    return caught.value.problems


def test_minimal_spec_gets_defaults():
    spec = load_spec(MINIMAL)
    assert spec.inputs["reading"].encoder.type == "dense"
    assert spec.fusion.method == "concat"
    assert spec.objective.type == "regression"
    assert spec.output.model_shape() == (3,)


@pytest.mark.parametrize("path", ["image_text_to_image", "sensors_to_series", "tabular_augment"])
def test_examples_validate(examples_dir, path):
    spec = load_spec(examples_dir / f"{path}.yaml")
    assert spec.name == path


def test_a_generator_takes_the_spec_as_a_mapping_and_validates_it_the_same_way(tmp_path):
    import fusegen

    generator = fusegen.Generator(MINIMAL, base_dir=tmp_path)
    assert generator.spec == load_spec(MINIMAL) and generator.base_dir == tmp_path
    with pytest.raises(SpecError) as caught:
        fusegen.Generator({**MINIMAL, "output": {"kind": "vector", "size": -3}})
    assert caught.value.problems == ["output.size: expected a positive number, received -3"]


def test_negative_height_names_the_key_path_and_value():
    raw = {
        "inputs": {"photo": {"kind": "image", "height": -3, "width": 8}},
        "output": {"kind": "vector", "size": 2},
    }
    assert problems_of(raw) == ["inputs.photo.height: expected a positive number, received -3"]


def test_every_problem_is_reported_at_once():
    raw = {
        "inputs": {
            "photo": {"kind": "image", "height": -3, "width": 8, "colour": 1},
            "words": {"kind": "txt"},
        },
        "output": {"kind": "image", "height": 4},
        "fusion": {"method": "sum"},
        "trainnig": {},
    }
    found = problems_of(raw)
    assert any(p.startswith("inputs.photo.height:") for p in found)
    assert any(p.startswith("inputs.photo.colour: unknown key") for p in found)
    assert any(p.startswith("inputs.words: unknown kind 'txt'") and "'image'" in p for p in found)
    assert any(p.startswith("fusion: unknown method 'sum'") and "'attention'" in p for p in found)
    assert any(p == "output.width: required key is missing" for p in found)
    assert (
        "trainnig: unknown key (received {}); did you mean 'training'? (`fusegen schema` lists them all)"
        in found
    )
    assert len(found) == 6


def test_a_key_of_several_forms_is_one_problem_naming_each_form():
    """`epochs: ten` was two problems in pydantic's terms: 'training.epochs.constrained-int' and
    "training.epochs.literal['auto']"."""
    raw = {"inputs": {}, "output": {"kind": "vector", "size": 2}}
    assert problems_of({**raw, "training": {"epochs": "ten", "batch_sise": 8}}) == [
        "training.epochs: expected an integer or one of 'auto', received 'ten'",
        "training.batch_sise: unknown key (received 8); did you mean 'batch_size'? (`fusegen schema` lists "
        "them all)",
    ]
    assert problems_of({**raw, "training": {"ema_momentum": 2.0}}) == [
        "training.ema_momentum: expected a number less than 1.0 or one of 'auto', received 2.0"
    ]


def test_unknown_encoder_type_lists_registered_ones():
    raw = {
        "inputs": {"photo": {"kind": "image", "height": 8, "width": 8, "encoder": {"type": "vit"}}},
        "output": {"kind": "vector", "size": 2},
    }
    (problem,) = problems_of(raw)
    assert problem.startswith("inputs.photo.encoder: unknown type 'vit'")
    assert "'conv'" in problem and "'residual'" in problem


def test_cross_checks():
    raw = {
        "inputs": {"record": {"kind": "numeric", "size": 2}},
        "output": {"kind": "record", "numeric": ["x"], "categorical": ["x"]},
        "loss_weights": {"y": 2.0},
    }
    found = problems_of(raw)
    assert any("both numeric and categorical" in p for p in found)


def test_loss_weights_must_name_output_parts():
    raw = {
        **MINIMAL,
        "output": {"kind": "record", "numeric": ["x"], "categorical": ["c"]},
        "loss_weights": {"numeric": 1.0, "colour": 2.0},
    }
    (problem,) = problems_of(raw)
    assert "loss_weights has unknown parts ['colour']" in problem
    assert "['numeric', 'c']" in problem


def test_grid_layout_needs_image_input_and_output():
    raw = {**MINIMAL, "fusion": {"layout": "grid"}}
    (problem,) = problems_of(raw)
    assert "layout 'grid' needs an image input and an image output" in problem


def test_attention_width_must_divide_heads():
    raw = {**MINIMAL, "fusion": {"method": "attention", "width": 30, "num_heads": 4}}
    (problem,) = problems_of(raw)
    assert problem.startswith("fusion:") and "divisible by num_heads" in problem


def test_sequence_selection_must_match_shape():
    raw = {
        "inputs": {
            "acc": {
                "kind": "sequence",
                "steps": 10,
                "channels": 2,
                "select": {"steps": [0, 12], "channels": [0]},
            }
        },
        "output": {"kind": "vector", "size": 2},
    }
    (problem,) = problems_of(raw)
    assert "inputs.acc" in problem and "select.channels lists 1 channels but channels=2" in problem


def test_yaml_syntax_error_names_the_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("inputs:\n  a: {kind: numeric\noutput: 3\n")
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    assert str(path) in str(caught.value)
    assert "line" in caught.value.problems[0] and "not valid YAML" in caught.value.problems[0]


def test_missing_spec_file(tmp_path):
    with pytest.raises(SpecError, match="does not exist"):
        load_spec(tmp_path / "nope.yaml")


def test_non_mapping_spec():
    with pytest.raises(SpecError, match="expected a mapping"):
        load_spec("- just\n- a list\n")


def test_yaml_round_trip():
    spec = load_spec(MINIMAL)
    again = load_spec(spec_to_yaml(spec))
    assert again == spec


def test_schema_is_json_and_names_the_kinds():
    schema = spec_json_schema()
    text = json.dumps(schema)
    for kind in ("image", "text", "numeric", "categorical", "sequence", "record", "vector"):
        assert f'"{kind}"' in text
    assert schema["additionalProperties"] is False


@settings(max_examples=60, deadline=None)
@given(
    st.dictionaries(
        st.text(min_size=1, max_size=8), st.one_of(st.integers(), st.text(), st.none()), max_size=4
    )
)
def test_random_top_level_mappings_fail_cleanly(raw):
    # Whatever is thrown at the loader, it answers with a SpecError or a valid spec.
    try:
        load_spec(raw)
    except SpecError as error:
        assert error.problems


yaml_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=12)
)
yaml_values = st.recursive(
    yaml_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None)
@given(
    st.one_of(
        st.text(max_size=200),  # arbitrary text, mostly not YAML
        yaml_values.map(lambda value: __import__("yaml").safe_dump(value)),
        st.fixed_dictionaries(
            {"inputs": yaml_values, "output": yaml_values}, optional={"fusion": yaml_values}
        ).map(lambda value: __import__("yaml").safe_dump(value)),
    )
)
def test_random_yaml_is_a_spec_or_a_spec_error(text):
    # Never any other exception, never a hang: a user gets either a spec or a SpecError.
    try:
        load_spec(text if "\n" in text else text + "\n")
    except SpecError as error:
        assert error.problems and all(isinstance(problem, str) for problem in error.problems)
