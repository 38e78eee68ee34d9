"""The docs that are generated stay in step with the code."""

from pathlib import Path

from fusegen.spec.reference import spec_reference_markdown

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_spec_reference_is_up_to_date():
    committed = (DOCS / "spec-reference.md").read_text()
    assert committed == spec_reference_markdown(), (
        "regenerate: fusegen schema --markdown > docs/spec-reference.md"
    )


def test_reference_documents_every_kind_and_objective():
    text = spec_reference_markdown()
    for section in ("ImageInput", "TextInput", "NumericInput", "CategoricalInput", "SequenceInput", "ImageOutput",
                    "SequenceOutput", "RecordOutput", "VectorOutput", "CVAEObjective", "CGANObjective",
                    "DiffusionObjective", "ConcatFusion", "AttentionFusion", "TrainingSpec"):  # fmt: skip
        assert f"## {section}" in text
