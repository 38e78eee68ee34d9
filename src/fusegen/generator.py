"""The facade: `Generator` plans, fits, predicts, saves and loads one spec's generator.

Example:

>>> import fusegen
>>> generator = fusegen.Generator.from_spec("examples/tabular_augment.yaml")  # doctest: +SKIP
>>> generator.fit(epochs=2).save("runs/penguins")                             # doctest: +SKIP
>>> fusegen.load("runs/penguins").predict("new_penguins.csv")                 # doctest: +SKIP
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from fusegen.artifacts import (
    atomic_save_model,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    verify_run_dir,
    write_manifest,
)
from fusegen.data.pipeline import check_against_model, make_dataset, prepare_data
from fusegen.data.preprocessing import Preprocessor
from fusegen.data.sources import Table, load_table, read_file, table_from_frame
from fusegen.errors import DataError, FusegenError, RunError
from fusegen.spec import GeneratorSpec, load_spec, spec_to_yaml


class Generator:
    """A multi-input generator built from one spec.

    Args:
        spec: a `GeneratorSpec`, or a path to a YAML spec.
        base_dir: folder that relative data paths in the spec resolve
            against; the spec file's folder when loaded from a file.

    After ``fit``: ``model_`` (the Keras model), ``plan_`` (the shape plan),
    ``preprocessor_`` (fitted transforms) and ``history_`` (losses per epoch).
    """

    def __init__(self, spec: GeneratorSpec | str | Path, base_dir: str | Path | None = None):
        if not isinstance(spec, GeneratorSpec):
            path = Path(spec)
            spec = load_spec(path)
            base_dir = base_dir if base_dir is not None else path.parent
        self.spec = spec
        self.base_dir = Path(base_dir) if base_dir is not None else Path.cwd()
        self.model_ = None
        self.plan_ = None
        self.preprocessor_: Preprocessor | None = None
        self.history_: dict[str, list[float]] = {}
        self.objective_ = None
        self.validation_table_: Table | None = None

    @classmethod
    def from_spec(cls, path: str | Path) -> Generator:
        return cls(path)

    # ------------------------------------------------------------------
    # Data
    # ------------------------------------------------------------------

    def load_table(self) -> Table:
        if self.spec.data is None:
            raise DataError(
                f"spec '{self.spec.name}' has no data section, and no data was passed.",
                hint="add data.source to the spec, or pass data to fit().",
            )
        table = load_table(self.spec.data, self.base_dir)
        if self.spec.data.max_rows:
            table = table.take(np.arange(min(len(table), self.spec.data.max_rows)))
        return table

    # ------------------------------------------------------------------
    # Planning and building
    # ------------------------------------------------------------------

    def build(self, vocabulary_sizes: dict[str, int] | None = None):
        """Plan every shape, then build the model; returns the model."""
        from fusegen.models import build_model, plan_model
        from fusegen.objectives import OBJECTIVES

        self.plan_ = plan_model(self.spec, vocabulary_sizes)
        self.model_ = build_model(self.plan_)
        self.objective_ = OBJECTIVES[self.spec.objective.type](self.spec, self.model_)
        return self.model_

    def describe(self) -> dict[str, Any]:
        """The shape plan with parameter counts, as ``fusegen inspect --json`` prints it."""
        from fusegen.models import parameter_counts

        if self.model_ is None:
            raise FusegenError("build the generator (or fit it) before describing it.")
        return self.plan_.to_dict(parameter_counts(self.model_))

    # ------------------------------------------------------------------
    # Training
    # ------------------------------------------------------------------

    def fit(
        self,
        data=None,
        epochs: int | None = None,
        verbose: int | str = "auto",
        callbacks: list | None = None,
        log: Callable[[str], None] | None = None,
    ) -> Generator:
        """Fit preprocessing on the training split, then train the model.

        Args:
            data: a DataFrame, a dict of arrays, a file path, or None for the
                spec's own data source.
            epochs: overrides ``training.epochs``.
            verbose: Keras ``fit`` verbosity.
            callbacks: extra Keras callbacks.
            log: receives one-line progress messages (rows dropped, sizes).
        """
        import keras

        from fusegen.objectives.base import StopOnNonFinite

        log = log or (lambda message: None)
        table = self._as_table(data) if data is not None else self.load_table()
        prepared = prepare_data(self.spec, table)
        if len(prepared.dropped_rows):
            log(
                f"dropped {len(prepared.dropped_rows)} row(s) with missing values "
                f"(data.missing: drop_rows), first rows {prepared.dropped_rows[:5].tolist()}"
            )
        log(f"training on {prepared.num_train} rows, validating on {len(prepared.validation_rows)}")
        self.preprocessor_ = prepared.preprocessor

        training = self.spec.training
        keras.utils.set_random_seed(training.seed)
        self.build(self.preprocessor_.vocabulary_sizes())
        check_against_model(prepared.train_inputs, self.model_)
        model = self.objective_.training_model()

        train = make_dataset(
            prepared.train_inputs,
            prepared.train_targets,
            training.batch_size,
            shuffle=True,
            seed=training.seed,
        )
        steps = training.steps_per_epoch
        if steps:
            train = train.repeat()
        validation = None
        if prepared.validation_inputs is not None:
            validation = make_dataset(
                prepared.validation_inputs, prepared.validation_targets, training.batch_size
            )
        history = model.fit(
            train,
            validation_data=validation,
            epochs=epochs or training.epochs,
            steps_per_epoch=steps,
            shuffle=False,  # the tf.data pipeline already reshuffles each epoch
            verbose=verbose,
            callbacks=[StopOnNonFinite(), *(callbacks or [])],
        )
        self.history_ = {name: [float(value) for value in values] for name, values in history.history.items()}
        self.validation_table_ = (
            prepared.table.take(prepared.validation_rows) if len(prepared.validation_rows) else None
        )
        return self

    # ------------------------------------------------------------------
    # Generation
    # ------------------------------------------------------------------

    def predict(self, data, batch_size: int | None = None):
        """Run the generator on new inputs, returning outputs in the user's units.

        Args:
            data: a DataFrame, a dict of arrays, a `Table`, or a CSV, Parquet
                or NPZ path, with a column for every input.

        Returns:
            A DataFrame for record outputs (original labels), a uint8 or
            float array (N, H, W, C) for images, an array (N, T, C) for
            sequences, an array (N, size) for vectors.
        """
        self._require_fitted()
        table = self._as_table(data)
        inputs = self.preprocessor_.transform_inputs(table)
        outputs = self.objective_.generate(inputs, batch_size or self.spec.training.batch_size)
        return self.preprocessor_.inverse_outputs(outputs)

    # ------------------------------------------------------------------
    # Saving and loading
    # ------------------------------------------------------------------

    def save(self, run_dir: str | Path) -> Path:
        """Write the run directory: model, spec, preprocessing, plan, history and manifest."""
        self._require_fitted()
        run_dir = Path(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(run_dir / "spec.yaml", spec_to_yaml(self.spec))
        atomic_save_model(self.model_, run_dir / "model.keras")
        atomic_write_json(run_dir / "preprocessing.json", self.preprocessor_.get_state())
        atomic_write_json(run_dir / "plan.json", self.describe())
        atomic_write_json(run_dir / "history.json", self.history_)
        write_manifest(run_dir, {"base_dir": str(self.base_dir.resolve())})
        return run_dir

    @classmethod
    def load(cls, run_dir: str | Path) -> Generator:
        """Restore a saved run. The manifest is verified first; Keras loads in safe mode."""
        import keras

        manifest = verify_run_dir(run_dir)
        run_dir = Path(run_dir)
        spec = load_spec(run_dir / "spec.yaml")
        generator = cls(spec, base_dir=manifest.get("base_dir"))
        try:
            state = json.loads((run_dir / "preprocessing.json").read_text())
        except ValueError as error:
            raise RunError(f"run '{run_dir}': preprocessing.json is not valid JSON ({error}).") from None
        generator.preprocessor_ = Preprocessor(spec, state)
        generator.build(generator.preprocessor_.vocabulary_sizes())
        try:
            saved = keras.saving.load_model(run_dir / "model.keras", compile=False, safe_mode=True)
        except Exception as error:  # Keras raises many types for a bad archive
            raise RunError(f"run '{run_dir}': model.keras cannot be loaded safely ({error}).") from None
        # Weights go into a freshly planned model, so the loaded model is
        # exactly the one the spec describes, whatever the file claims.
        try:
            generator.model_.set_weights(saved.get_weights())
        except ValueError as error:
            raise RunError(f"run '{run_dir}': model.keras does not match its spec ({error}).") from None
        history_path = run_dir / "history.json"
        generator.history_ = json.loads(history_path.read_text()) if history_path.exists() else {}
        return generator

    # ------------------------------------------------------------------

    def _require_fitted(self):
        if self.model_ is None or self.preprocessor_ is None:
            raise FusegenError(
                "the generator is not trained yet.", hint="call fit() or fusegen.load(RUN_DIR)."
            )

    def _as_table(self, data) -> Table:
        if isinstance(data, Table):
            return data
        if isinstance(data, (str, Path)):
            return read_file(data)
        if isinstance(data, dict):
            return Table(data, origin="the given arrays")
        if hasattr(data, "columns") and hasattr(data, "iloc"):
            return table_from_frame(data)
        raise DataError(
            f"cannot read data of type {type(data).__name__}; "
            "expected a DataFrame, a dict of arrays or a CSV/Parquet/NPZ path."
        )


def load(run_dir: str | Path) -> Generator:
    """Load a trained generator from its run directory (see `Generator.load`)."""
    return Generator.load(run_dir)


def write_outputs(outputs, path: str | Path, name: str = "output") -> list[Path]:
    """Write predictions: records to CSV/Parquet, arrays to NPZ, images also as PNGs in a folder."""
    path = Path(path)
    if hasattr(outputs, "to_csv"):
        if path.suffix.lower() in (".parquet", ".pq"):
            buffer = io.BytesIO()
            outputs.to_parquet(buffer, index=False)
            atomic_write_bytes(path, buffer.getvalue())
        else:
            atomic_write_text(path, outputs.to_csv(index=False))
        return [path]
    outputs = np.asarray(outputs)
    if path.suffix.lower() == ".npz":
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **{name: outputs})
        atomic_write_bytes(path, buffer.getvalue())
        return [path]
    if outputs.ndim == 4 and outputs.dtype == np.uint8 and not path.suffix:
        from PIL import Image

        written = []
        for index, image in enumerate(outputs):
            buffer = io.BytesIO()
            Image.fromarray(image.squeeze(-1) if image.shape[-1] == 1 else image).save(buffer, format="PNG")
            target = path / f"{name}_{index:05d}.png"
            atomic_write_bytes(target, buffer.getvalue())
            written.append(target)
        return written
    raise DataError(
        f"cannot write {name} outputs of shape {list(outputs.shape)} to '{path}'; "
        "use a .npz file (or a folder for uint8 images)."
    )
