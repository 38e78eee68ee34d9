"""The facade: `Generator` plans, fits, predicts, saves and loads one spec's generator.

Example:

>>> import fusegen
>>> generator = fusegen.Generator.from_spec("examples/tabular_augment.yaml")  # doctest: +SKIP
>>> generator.fit(epochs=2).save("runs/penguins")                             # doctest: +SKIP
>>> fusegen.load("runs/penguins").predict("new_penguins.csv")                 # doctest: +SKIP
"""

from __future__ import annotations

import glob
import io
import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable, Iterable, Iterator
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
from fusegen.data.adapters import is_batch_source, source_name, table_from_batches
from fusegen.data.pipeline import check_against_model, make_dataset, prepare_data
from fusegen.data.preprocessing import Preprocessor
from fusegen.data.sources import CodePolicy, Table, load_table, read_file, table_from_frame
from fusegen.errors import DataError, FusegenError, FusegenWarning, RunError
from fusegen.spec import GeneratorSpec, load_spec, spec_to_yaml

#: How far beyond its training range, as a share of the range's width, a numeric condition may lie.
EXTRAPOLATION_MARGIN = 0.1


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
        # Whether code the spec names (a python: source) may run; a loaded run says no.
        self.code_policy = CodePolicy.from_spec(spec.data) if spec.data is not None else CodePolicy()
        self.model_ = None
        self.plan_ = None
        self.preprocessor_: Preprocessor | None = None
        self.history_: dict[str, list[float]] = {}
        self.objective_ = None
        self.validation_table_: Table | None = None
        self.run_dir_: Path | None = None  # the run directory it was loaded from
        self._worker_dirs: list[Path] = []
        # Traced samplers by temperature, reused across `sample` calls (see `_Sampler`).
        self._samplers: dict[float, _Sampler] = {}

    @classmethod
    def from_spec(cls, path: str | Path) -> Generator:
        return cls(path)

    # ------------------------------------------------------------------
    # Data
    # ------------------------------------------------------------------

    def load_table(self) -> Table:
        if self.spec.data is None or self.spec.data.source is None:
            raise DataError(
                f"spec '{self.spec.name}' has no data.source, and no data was passed.",
                hint="add data.source to the spec, or pass data to fit().",
            )
        if self.run_dir_ is not None:
            self._check_run_data_exists()
        table = load_table(self.spec.data, self.base_dir, self.code_policy)
        if self.spec.data.max_rows:
            table = table.take(np.arange(min(len(table), self.spec.data.max_rows)))
        return table

    def read_file(self, path: str | Path) -> Table:
        """A CSV, Parquet or NPZ file of the user's, read with the spec's ``data.delimiter`` and ``data.encoding``."""
        data = self.spec.data
        if data is None:
            return read_file(path)
        return read_file(path, delimiter=data.delimiter, encoding=data.encoding)

    def _check_run_data_exists(self) -> None:
        """A loaded run looks for its data where training found it; say so when it is not there."""
        source = self.spec.data.source
        if source.startswith(("bundled:", "python:")) or glob.has_magic(source):
            return
        path = Path(os.path.normpath(self.base_dir / source))
        if not path.exists():
            raise RunError(
                f"run '{self.run_dir_}': its training data '{source}' is not at '{path}', where it was "
                "relative to the run when it trained (the run was moved without it).",
                hint="pass the real data with --real DATA (Python: real=...).",
            )

    # ------------------------------------------------------------------
    # Planning and building
    # ------------------------------------------------------------------

    def build(self, vocabulary_sizes: dict[str, int] | None = None):
        """Plan every shape, then build the networks and the objective; returns the objective model."""
        from fusegen.models import build_networks, plan_model
        from fusegen.objectives import OBJECTIVES

        sizes = dict(vocabulary_sizes or {})
        self.plan_ = plan_model(self.spec, sizes)
        networks = build_networks(self.plan_)
        self.model_ = OBJECTIVES[self.spec.objective.type](
            self.spec, self.plan_, networks, _record_sizes(self.spec, sizes)
        )
        return self.model_

    def describe(self) -> dict[str, Any]:
        """The shape plan with parameter counts, as ``fusegen inspect --json`` prints it."""
        from fusegen.models import parameter_counts

        if self.model_ is None:
            raise FusegenError("build the generator (or fit it) before describing it.")
        networks = self.model_.networks()
        described = self.plan_.to_dict(
            parameter_counts(*[net for net in networks.values() if net is not None])
        )
        described["objective"] = {
            "type": self.spec.objective.type,
            "networks": {name: int(net.count_params()) for name, net in networks.items() if net is not None},
        }
        described["num_parameters"] = sum(described["objective"]["networks"].values())
        return described

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
        run_dir: str | Path | None = None,
        resume: bool = False,
    ) -> Generator:
        """Fit preprocessing on the training split, then train with the spec's objective.

        Args:
            data: a DataFrame, a dict of arrays, a file path, your own
                generator function, generator or ``keras.utils.PyDataset``
                of raw batches (each a dict of columns, or an ``(inputs,
                targets)`` pair of such dicts; read once, up to
                ``data.max_rows``, and checked batch by batch as a
                ``python:`` source is), or None for the spec's own data source.
            epochs: overrides ``training.epochs``.
            verbose: Keras ``fit`` verbosity.
            callbacks: extra Keras callbacks.
            log: receives one-line progress messages (rows dropped, sizes).
            run_dir: where checkpoints (every ``training.checkpoint_every``
                epochs) and TensorBoard logs go; the artifact itself is
                written by `save`.
            resume: continue from the last complete checkpoint in ``run_dir``,
                with its optimizer state, preprocessing and history.
        """
        import keras

        from fusegen.objectives.base import StepProgbar, StopOnNonFinite
        from fusegen.objectives.checkpoints import Checkpointer, read_latest, restore_checkpoint
        from fusegen.objectives.cvae import KLWarmup

        log = log or (lambda message: None)
        training = self.spec.training
        if epochs is not None and epochs < 1:
            raise FusegenError(
                f"epochs overrides training.epochs, so it must be a positive integer; received {epochs}.",
                hint="pass at least 1, or leave it out to train for training.epochs.",
            )
        total_epochs = epochs or training.epochs
        checkpoint_dir = Path(run_dir) / "checkpoints" if run_dir is not None else None
        if checkpoint_dir is not None and not self.writes_run_files():
            # Another worker is the chief: this one's checkpoints (and logs) go to a temporary folder.
            worker_dir = Path(tempfile.mkdtemp(prefix="fusegen-worker-"))
            self._worker_dirs.append(worker_dir)
            checkpoint_dir = worker_dir / "checkpoints"
            state_dir = Path(run_dir) / "checkpoints"
            run_dir = worker_dir
        else:
            state_dir = checkpoint_dir
        state = None
        if resume:
            if checkpoint_dir is None:
                raise FusegenError("resume needs the run directory of the interrupted run.")
            state = read_latest(state_dir)
            if state is None:
                raise RunError(
                    f"nothing to resume in '{run_dir}': it has no complete checkpoint.",
                    hint="train without --resume to start afresh.",
                )

        table = self._as_table(data, training=True) if data is not None else self.load_table()
        preprocessor = Preprocessor(self.spec, state["preprocessing"]) if state else None
        prepared = prepare_data(self.spec, table, preprocessor)
        if len(prepared.dropped_rows):
            log(
                f"dropped {len(prepared.dropped_rows)} row(s) with missing values "
                f"(data.missing: drop_rows), first rows {prepared.dropped_rows[:5].tolist()}"
            )
        log(f"training on {prepared.num_train} rows, validating on {len(prepared.validation_rows)}")
        self.preprocessor_ = prepared.preprocessor

        keras.utils.set_random_seed(training.seed)
        if training.distribution != "none" and self.spec.objective.type == "cgan":
            # Its own train_step (two optimizers) fails inside TensorFlow under MirroredStrategy
            # ("You must feed a value for placeholder tensor ... int32"); refuse before any work.
            raise FusegenError(
                "the cgan objective does not train under tf.distribute yet "
                f"(training.distribution: {training.distribution}).",
                hint="use objective cvae or diffusion for distributed training, or distribution: none.",
            )
        strategy = _strategy(training.distribution, log)
        with _scope(strategy):
            model = self.build(self.preprocessor_.vocabulary_sizes())
            check_against_model(prepared.train_inputs, model.condition_model)
            model.compile_for_training(distributed=strategy is not None)

        train = make_dataset(
            prepared.train_inputs,
            prepared.train_targets,
            training.batch_size,
            shuffle=True,
            seed=training.seed,
        )
        steps = training.steps_per_epoch
        if steps:
            # Exactly `steps` batches an epoch, as a dataset of that length: given steps_per_epoch,
            # Keras runs whole executions (48 batches for 43 at steps_per_execution 8).
            train = train.repeat().take(steps)
        _warn_about_short_averages(
            training, total_epochs, steps or -(-prepared.num_train // training.batch_size), log
        )
        validation = None
        if prepared.validation_inputs is not None:
            validation = make_dataset(
                prepared.validation_inputs, prepared.validation_targets, training.batch_size
            )

        history = {}
        initial_epoch = 0
        with _scope(strategy):
            _build_variables(model, train)
            if state:
                restore_checkpoint(state, model)
        if state:
            initial_epoch = int(state["epoch"])
            history = state["history"]
            log(f"resuming from epoch {initial_epoch} ({state['path'].name})")
        all_callbacks = [StopOnNonFinite()]
        if verbose != 0 and not any(
            isinstance(callback, keras.callbacks.ProgbarLogger) for callback in callbacks or []
        ):
            all_callbacks.append(StepProgbar())
        if self.spec.objective.type == "cvae" and self.spec.objective.kl_warmup_epochs:
            all_callbacks.append(KLWarmup(self.spec.objective.kl_warmup_epochs))
        if checkpoint_dir is not None:
            all_callbacks.append(
                Checkpointer(
                    checkpoint_dir,
                    training.checkpoint_every,
                    total_epochs,
                    self.preprocessor_.get_state(),
                    history,
                )  # fmt: skip
            )
            if training.tensorboard:
                if _tensorboard_installed():
                    all_callbacks.append(keras.callbacks.TensorBoard(log_dir=str(Path(run_dir) / "logs")))
                else:
                    log("TensorBoard is not installed, so no logs are written (pip install tensorboard)")
        if training.early_stopping_patience and validation is not None:
            all_callbacks.append(
                keras.callbacks.EarlyStopping(
                    monitor="val_loss", patience=training.early_stopping_patience, restore_best_weights=True
                )
            )
        result = model.fit(
            train,
            validation_data=validation,
            epochs=total_epochs,
            initial_epoch=initial_epoch,
            shuffle=False,  # the tf.data pipeline already reshuffles each epoch
            verbose=verbose,
            callbacks=[*all_callbacks, *(callbacks or [])],
        )
        for name, values in result.history.items():
            history.setdefault(name, []).extend(float(value) for value in values)
        self.history_ = history
        # The run directory records what ran: an epochs override replaces the spec's count.
        self.spec = self.spec.model_copy(
            update={"training": training.model_copy(update={"epochs": total_epochs})}
        )
        self.validation_table_ = (
            prepared.table.take(prepared.validation_rows) if len(prepared.validation_rows) else None
        )
        return self

    # ------------------------------------------------------------------
    # Generation
    # ------------------------------------------------------------------

    def sample(
        self,
        conditions=None,
        num_samples: int = 1,
        seed: int = 0,
        temperature: float = 1.0,
        batch_size: int | None = None,
        strict: bool = True,
        ranges: dict[str, tuple[float, float]] | None = None,
        extrapolate: bool = False,
    ):
        """Generate outputs for conditions on any subset of the inputs.

        Args:
            conditions: a DataFrame, dict of arrays, `Table` or CSV/Parquet/NPZ
                path with a column for each input given; inputs left out are
                absent (the generator must have been trained with
                ``conditioning.modality_dropout`` > 0, or be a diffusion model
                with condition dropout). None samples unconditionally.
            num_samples: samples per condition row (rows with R conditions
                give R * num_samples outputs, grouped by row).
            seed: the same seed gives the same samples.
            temperature: scales the latent or noise (0 = the mode for
                categories and the prior's mean for latents).
            batch_size: generate this many at a time, so memory stays bounded.
            strict: refuse condition columns that belong to no input (they
                usually mean a typo or the wrong generator).
            ranges: ``{column: (low, high)}`` for numeric input columns: each
                sample draws its condition uniformly in the range.
            extrapolate: let numeric conditions outside the training range
                (beyond a margin of ``EXTRAPOLATION_MARGIN`` of its width on
                either side) through, with a `FusegenWarning`; without it they
                are a `DataError` naming the column, the value and the range.

        A record column that is also a given condition comes back with the
        given value, so conditional sampling returns exactly the rows asked
        for, with no rejection. A category never seen in training maps to
        the out-of-vocabulary id (counted in ``preprocessor_.unseen_counts``).

        Returns:
            Outputs in the user's units and types: a DataFrame with the
            original labels for records, uint8 images (N, H, W, C), arrays
            (N, T, C) for sequences and (N, size) for vectors.
        """
        chunks = list(
            self.iter_samples(
                conditions, num_samples, seed, temperature, batch_size, strict, ranges, extrapolate
            )
        )
        if hasattr(chunks[0], "iloc"):
            import pandas as pd

            return pd.concat(chunks, ignore_index=True)
        return _concatenate(chunks)

    def iter_samples(
        self,
        conditions=None,
        num_samples: int = 1,
        seed: int = 0,
        temperature: float = 1.0,
        batch_size: int | None = None,
        strict: bool = True,
        ranges: dict[str, tuple[float, float]] | None = None,
        extrapolate: bool = False,
    ) -> Iterator:
        """`sample`, one batch at a time: memory stays bounded however many samples are asked for.

        Takes `sample`'s arguments and yields its output in consecutive
        chunks of at most ``batch_size`` samples; joined, they equal what
        `sample` returns for the same seed. Every condition is checked
        before the first chunk is generated.
        """
        self._require_fitted()
        if num_samples < 1:
            raise FusegenError(f"num_samples must be at least 1, received {num_samples}.")
        table = self._as_table(conditions) if conditions is not None else None
        rows = (
            np.repeat(np.arange(len(table)), num_samples) if table is not None else np.zeros(num_samples, int)
        )
        if ranges:
            table = self._with_ranges(table, rows, ranges, seed)
            rows = np.arange(len(rows))
        table, present_inputs = self._conditions_table(table, strict=strict)
        batch_size = batch_size or max(self.spec.training.batch_size, 256)
        if strict:
            self._check_known_labels(table, present_inputs)
        self._check_ranges(table, present_inputs, extrapolate)
        # Every condition row is checked and transformed before any sampling starts.
        given = self.preprocessor_.transform_inputs(table, present_inputs) if present_inputs else {}
        sampler = self._sampler(float(temperature))
        return self._generate_chunks(sampler, seed, given, table, rows, present_inputs, batch_size)

    def _sampler(self, temperature: float) -> _Sampler:
        """The traced sampler for this model and temperature, built on first use."""
        sampler = self._samplers.get(temperature)
        if sampler is None or sampler.model is not self.model_:
            sampler = self._samplers[temperature] = _Sampler(self.model_, temperature)
        return sampler

    def _generate_chunks(self, sampler, seed, given, table, rows, present_inputs, batch_size):
        # Each call keeps its own random state, so the same seed gives the
        # same samples however calls share the sampler or interleave.
        state = sampler.initial_state(seed)
        for start in range(0, len(rows), batch_size):
            chunk_rows = rows[start : start + batch_size]
            inputs, present = self._model_inputs(given, chunk_rows, present_inputs)
            outputs, state = sampler(inputs, present, state)
            outputs = self.preprocessor_.inverse_outputs(_to_numpy(outputs))
            yield self._keep_conditioned_columns(outputs, table, chunk_rows, present_inputs)

    def _check_known_labels(self, table, present_inputs) -> None:
        """A condition on a category never seen in training is an error (likely a typo)."""
        for name in present_inputs:
            if self.spec.inputs[name].kind != "categorical":
                continue
            vocabulary = self.preprocessor_.inputs[name].vocabulary
            labels = {str(label) for label in table.columns[self.spec.input_column(name)]}
            unseen = sorted(labels - set(vocabulary))
            if unseen:
                raise DataError(
                    f"conditions for input '{name}' use {unseen}, never seen in training; "
                    f"known labels: {vocabulary}.",
                    hint="use a known label, or predict() to map unseen labels to the out-of-vocabulary id.",
                )

    def _check_ranges(self, table, present_inputs, extrapolate: bool) -> None:
        """Numeric conditions far outside the training range saturate the model: refuse them, or warn."""
        problems = [
            problem
            for name in present_inputs
            if hasattr(converter := self.preprocessor_.inputs[name], "out_of_range")
            for problem in converter.out_of_range(table, self.spec.input_column(name), EXTRAPOLATION_MARGIN)
        ]
        if not problems:
            return
        message = (
            "; ".join(problems) + ". The model never saw such values, so its samples there are unreliable"
        )
        if not extrapolate:
            raise DataError(
                message + ".",
                hint="give conditions inside the training range, or pass --allow-extrapolation "
                "(Python: extrapolate=True) to sample there anyway.",
            )
        warnings.warn(message + "; sampling anyway, as asked.", FusegenWarning, stacklevel=3)

    def _input_columns(self) -> dict[str, str]:
        """Column -> the input that reads it."""
        owners = {}
        for name, input_spec in self.spec.inputs.items():
            columns = (
                input_spec.columns if getattr(input_spec, "columns", None) else [self.spec.input_column(name)]
            )
            for column in columns:
                owners[column] = name
        return owners

    def _with_ranges(self, table, rows, ranges, seed) -> Table:
        """One condition row per sample, with each ranged column drawn uniformly in its range."""
        owners = self._input_columns()
        numeric = sorted(
            column for column, name in owners.items() if self.spec.inputs[name].kind == "numeric"
        )
        rng = np.random.default_rng(seed)
        columns = {name: values[rows] for name, values in table.columns.items()} if table is not None else {}
        for column, bounds in ranges.items():
            if column not in numeric:
                raise DataError(
                    f"a range is given for '{column}', which is not a numeric input column; "
                    f"numeric input columns: {numeric}.",
                    hint="fix categorical values through conditions, and ranges only for numeric inputs.",
                )
            try:
                low, high = (float(bound) for bound in bounds)
            except (TypeError, ValueError):
                raise DataError(
                    f"the range for '{column}' must be (low, high), received {bounds!r}."
                ) from None
            if not low <= high:
                raise DataError(f"the range for '{column}' must have low <= high, received ({low}, {high}).")
            columns[column] = rng.uniform(low, high, len(rows))
        return Table(columns, origin="the conditions")

    def _keep_conditioned_columns(self, result, table, rows, present_inputs):
        """A record column that is also a given condition keeps the given value.

        The model generated it conditioned on that very value; returning the
        value itself makes the conditioning exact rather than very likely.
        """
        output = self.spec.output
        if output.kind != "record" or table is None:
            return result
        owners = self._input_columns()
        for column in output.numeric + output.categorical:
            if owners.get(column) in present_inputs and column in table.columns:
                values = np.asarray(table.columns[column])[rows]
                if column in output.categorical:
                    result[column] = values.astype(str).astype(object)
                else:
                    result[column] = values.astype("float64")
        return result

    def predict(self, data, batch_size: int | None = None, seed: int = 0, extrapolate: bool = False):
        """One output per row of ``data`` (every input given), in the user's units.

        For the regression objective this is its prediction; for the
        generative objectives it is one sample per row (see `sample`, also
        for ``extrapolate``).
        """
        return self.sample(
            data, num_samples=1, seed=seed, batch_size=batch_size, strict=False, extrapolate=extrapolate
        )

    def _conditions_table(self, conditions, strict: bool):
        if conditions is None:
            present: list[str] = []
            table = None
        else:
            table = self._as_table(conditions)
            known = self._input_columns()
            unknown = sorted(set(table.columns) - set(known) - set(self.spec.inputs))
            if unknown and strict:
                raise DataError(
                    f"conditions name {unknown}, but the generator has no such input; "
                    f"its inputs (columns) are {sorted(known)}.",
                    hint="drop those columns or rename them to an input's column.",
                )
            present = [
                name
                for name in self.spec.inputs
                if all(column in table.columns for column, owner in known.items() if owner == name)
            ]
        absent = [name for name in self.spec.inputs if name not in present]
        if absent and not self.plan_.uses_presence:
            described = ", ".join(f"'{name}' (column {self._columns_of(name)})" for name in absent)
            raise DataError(
                f"the conditions have no input {described}, and this generator needs every input: "
                "it was trained without conditioning.modality_dropout.",
                hint="give every input, or retrain with conditioning: {modality_dropout: 0.2}.",
            )
        return table, present

    def _columns_of(self, name: str) -> str:
        input_spec = self.spec.inputs[name]
        columns = (
            input_spec.columns if getattr(input_spec, "columns", None) else [self.spec.input_column(name)]
        )
        return ", ".join(repr(column) for column in columns)

    def _model_inputs(self, given, rows, present_inputs):
        count = len(rows)
        inputs = {name: values[rows] for name, values in given.items()}
        for name, branch in self.plan_.branches.items():
            if name not in inputs:
                inputs[name] = np.zeros((count, *branch.input_shape), dtype=branch.input_dtype)
        present = None
        if self.plan_.uses_presence:
            flags = [1.0 if name in present_inputs else 0.0 for name in self.plan_.branches]
            present = np.tile(np.array(flags, dtype="float32"), (count, 1))
        return inputs, present

    # ------------------------------------------------------------------
    # Saving and loading
    # ------------------------------------------------------------------

    def writes_run_files(self) -> bool:
        """False on a multi-worker run's non-chief workers, which leave the run directory to the chief."""
        return self.spec.training.distribution != "multi_worker" or is_chief()

    def save(self, run_dir: str | Path) -> Path | None:
        """Write the artifact: networks (.keras), spec, preprocessing, plan, history, manifest.

        On a multi-worker run only the chief writes ``run_dir``; the other
        workers save to a temporary folder that is then deleted (every worker
        saves, as TensorFlow's multi-worker guide asks) and return None.
        """
        self._require_fitted()
        if not self.writes_run_files():
            with tempfile.TemporaryDirectory(prefix="fusegen-worker-") as temporary:
                self._write_artifact(Path(temporary))
            for folder in self._worker_dirs:
                shutil.rmtree(folder, ignore_errors=True)
            return None
        return self._write_artifact(Path(run_dir))

    def _write_artifact(self, run_dir: Path) -> Path:
        run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(run_dir / "spec.yaml", spec_to_yaml(self.spec))
        for name, network in self.model_.networks().items():
            if network is not None:
                atomic_save_model(network, run_dir / f"{name}.keras")
        atomic_write_json(run_dir / "preprocessing.json", self.preprocessor_.get_state())
        atomic_write_json(run_dir / "plan.json", self.describe())
        atomic_write_json(run_dir / "history.json", self.history_)
        # Where the spec's relative data paths resolve, relative to the run itself: nothing
        # machine-specific is stored, and a run moved together with its data still finds it.
        write_manifest(run_dir, {"data_dir": _relative_path(self.base_dir, run_dir)})
        return run_dir

    @classmethod
    def load(cls, run_dir: str | Path, allow_code: bool = False) -> Generator:
        """Restore a saved run. The manifest is verified first; Keras loads in safe mode.

        A run directory is data: loading it, and sampling, predicting or
        evaluating with it, never imports or calls anything named in it. A
        ``python:`` data source in its spec is refused where the real data is
        needed (pass the data instead) unless ``allow_code`` is True, which
        runs that code: only for runs whose author you trust.
        """
        import keras

        manifest = verify_run_dir(run_dir)
        run_dir = Path(run_dir)
        spec = load_spec(run_dir / "spec.yaml")
        generator = cls(spec, base_dir=_data_dir(run_dir, manifest))
        generator.run_dir_ = run_dir
        if not allow_code:
            generator.code_policy = CodePolicy(
                refusal=f"fusegen never runs code named in a run directory ('{run_dir}')",
                hint="pass the real data with --real DATA (Python: real=...), or --allow-code if you trust "
                "whoever wrote the run (it runs the code named in the run directory).",
            )
        try:
            state = json.loads((run_dir / "preprocessing.json").read_text())
        except ValueError as error:
            raise RunError(f"run '{run_dir}': preprocessing.json is not valid JSON ({error}).") from None
        generator.preprocessor_ = Preprocessor(spec, state)
        model = generator.build(generator.preprocessor_.vocabulary_sizes())
        for name, network in model.networks().items():
            if network is None:
                continue
            path = run_dir / f"{name}.keras"
            try:
                saved = keras.saving.load_model(path, compile=False, safe_mode=True)
            except Exception as error:  # Keras raises many types for a bad archive
                raise RunError(f"run '{run_dir}': {path.name} cannot be loaded safely ({error}).") from None
            # Weights go into freshly planned networks, so the loaded generator
            # is exactly the one the spec describes, whatever the file claims.
            try:
                network.set_weights(saved.get_weights())
            except ValueError as error:
                raise RunError(f"run '{run_dir}': {path.name} does not match its spec ({error}).") from None
        history_path = run_dir / "history.json"
        generator.history_ = json.loads(history_path.read_text()) if history_path.exists() else {}
        return generator

    # ------------------------------------------------------------------

    def _require_fitted(self):
        if self.model_ is None or self.preprocessor_ is None:
            raise FusegenError(
                "the generator is not trained yet.", hint="call fit() or fusegen.load(RUN_DIR)."
            )

    def _as_table(self, data, training: bool = False) -> Table:
        if isinstance(data, Table):
            return data
        if isinstance(data, (str, Path)):
            return self.read_file(data)
        if isinstance(data, dict):
            return Table(data, origin="the given arrays")
        if hasattr(data, "columns") and hasattr(data, "iloc"):
            return table_from_frame(data)
        if is_batch_source(data):
            # The adapter of python: sources: every batch checked against the first, key by key.
            max_rows = self.spec.data.max_rows if training and self.spec.data else None
            return table_from_batches(data, origin=source_name(data), max_rows=max_rows)
        raise DataError(
            f"cannot read data of type {type(data).__name__}; expected a DataFrame, a dict of arrays, "
            "a CSV/Parquet/NPZ path, or a generator function, generator or keras.utils.PyDataset of "
            f"batches of columns, received {type(data).__name__}."
        )


def load(run_dir: str | Path, allow_code: bool = False) -> Generator:
    """Load a trained generator from its run directory (see `Generator.load`)."""
    return Generator.load(run_dir, allow_code=allow_code)


def _relative_path(folder: Path, run_dir: Path) -> str | None:
    try:
        return Path(os.path.relpath(Path(folder).resolve(), Path(run_dir).resolve())).as_posix()
    except ValueError:  # another drive on Windows: no relative path exists
        return None


def _data_dir(run_dir: Path, manifest: dict) -> Path | None:
    """The folder the run's spec's relative data paths resolve against, if the manifest records one."""
    relative = manifest.get("data_dir")
    if isinstance(relative, str) and not Path(relative).is_absolute():
        return run_dir / relative
    base_dir = manifest.get("base_dir")  # runs written before data_dir: an absolute path
    return Path(base_dir) if isinstance(base_dir, str) else None


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
        return [_write_png(image, path / f"{name}_{index:05d}.png") for index, image in enumerate(outputs)]
    raise DataError(
        f"cannot write {name} outputs of shape {list(outputs.shape)} to '{path}'; "
        "use a .npz file (or a folder for uint8 images)."
    )


def write_output_stream(chunks: Iterable, path: str | Path, name: str = "output") -> tuple[list[Path], int]:
    """Write chunks of outputs as they come, so memory holds one chunk at a time.

    Records stream to CSV or Parquet, and uint8 images to PNGs in a folder.
    Files appear under their name only when complete (written to a temporary
    name, then renamed). Arrays for ``.npz`` are gathered first, since NPZ
    cannot be appended to. Returns the paths written and the number of samples.
    """
    path = Path(path)
    iterator = iter(chunks)
    first = next(iterator)
    if hasattr(first, "to_csv"):
        return [path], _stream_records(first, iterator, path)
    first = np.asarray(first)
    if first.ndim == 4 and first.dtype == np.uint8 and not path.suffix:
        written: list[Path] = []
        for chunk in _chain(first, iterator):
            for image in np.asarray(chunk):
                written.append(_write_png(image, path / f"{name}_{len(written):05d}.png"))
        return written, len(written)
    outputs = _concatenate([first, *map(np.asarray, iterator)])
    return write_outputs(outputs, path, name), len(outputs)


def _write_png(image: np.ndarray, target: Path) -> Path:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image.squeeze(-1) if image.shape[-1] == 1 else image).save(buffer, format="PNG")
    atomic_write_bytes(target, buffer.getvalue())
    return target


def _chain(first, rest):
    yield first
    yield from rest


def _stream_records(first, rest, path: Path) -> int:
    import os
    import tempfile

    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    count = 0
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            import pyarrow as pa
            import pyarrow.parquet as pq

            writer = None
            for chunk in _chain(first, rest):
                batch = pa.Table.from_pandas(chunk, preserve_index=False)
                if writer is None:
                    writer = pq.ParquetWriter(temporary, batch.schema)
                writer.write_table(batch.cast(writer.schema))
                count += len(chunk)
            writer.close()
        else:
            with open(temporary, "w", encoding="utf-8", newline="") as stream:
                for index, chunk in enumerate(_chain(first, rest)):
                    chunk.to_csv(stream, index=False, header=index == 0)
                    count += len(chunk)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return count


def _warn_about_short_averages(training, epochs: int, steps_per_epoch: int, log) -> None:
    """Say so when a weight average cannot forget its start in the steps this fit runs.

    Keras starts the average at the first step's weights and gives them a
    weight of ``momentum ** steps`` at the end, so a short fit would generate
    from weights close to the untrained ones.
    """
    momentum = training.ema_momentum
    total = epochs * steps_per_epoch
    if not momentum or momentum**total < 0.05:
        return
    log(
        f"warning: training.ema_momentum {momentum} averages over about {round(1 / (1 - momentum)):,} steps, "
        f"but this fit runs {total:,}: the first steps' weights still make up {momentum**total:.0%} of "
        f"the average it generates from. Lower ema_momentum (or remove it) or train longer."
    )


def _record_sizes(spec, sizes):
    """Vocabulary sizes with any fixed by the spec filled in."""
    output = spec.output
    if output.kind == "record":
        for column, labels in output.vocabularies.items():
            sizes.setdefault(f"output.{column}", len(labels))
        for part in output.missing_parts():
            sizes.setdefault(f"output.{part}", 2)
    return sizes


class _Sampler:
    """A model's ``generate`` traced once into a TensorFlow graph, with its random state.

    Run eagerly, a diffusion model's 50-100 denoising steps cost a Python
    round trip each (about 100x slower); traced, they run as one graph. The
    trace is kept across calls: tracing takes about a second, which a new
    graph per `sample` call would pay every time (0.3 images/s at batch 1).
    It is traced for any batch size from the start, so every call runs the
    same graph: one traced for a fixed size computes in a different order,
    and the same seed would give samples that differ in the last bits
    depending on which sizes were asked for before. The random state is a
    variable the graph reads, so a call sets it to its own ``[seed, counter]``
    before each chunk instead of retracing.
    """

    def __init__(self, model, temperature: float):
        import keras

        self.model = model
        self.seed_generator = keras.random.SeedGenerator(0)
        self.temperature = temperature
        self._traced = {}

    def _run(self, inputs, present):
        return self.model.generate(inputs, present, self.seed_generator, self.temperature)

    def _graph(self, inputs, present):
        """The traced function for inputs like these (with or without presence flags)."""
        import keras

        if keras.backend.backend() != "tensorflow":
            return self._run if present is not None else lambda inputs: self._run(inputs, None)
        key = present is None
        if key not in self._traced:
            import tensorflow as tf

            def any_batch(value):
                value = np.asarray(value)
                return tf.TensorSpec((None, *value.shape[1:]), tf.as_dtype(value.dtype))

            signature = {name: any_batch(value) for name, value in inputs.items()}
            if present is None:
                self._traced[key] = tf.function(lambda inputs: self._run(inputs, None), autograph=False,
                                                input_signature=[signature])  # fmt: skip
            else:
                self._traced[key] = tf.function(self._run, autograph=False,
                                                input_signature=[signature, any_batch(present)])  # fmt: skip
        return self._traced[key]

    def initial_state(self, seed: int) -> np.ndarray:
        """The state a fresh ``SeedGenerator(seed)`` starts from."""
        return np.array([seed, 0], dtype=self.seed_generator.state.dtype)

    def __call__(self, inputs, present, state):
        """Generate one chunk from random state ``state``; returns the outputs and the next state."""
        import keras

        self.seed_generator.state.assign(state)
        graph = self._graph(inputs, present)
        outputs = graph(inputs) if present is None else graph(inputs, present)
        return outputs, keras.ops.convert_to_numpy(self.seed_generator.state.value)


def _to_numpy(outputs):
    if isinstance(outputs, dict):
        return {name: np.asarray(value) for name, value in outputs.items()}
    return np.asarray(outputs)


def _concatenate(chunks):
    if isinstance(chunks[0], dict):
        return {name: np.concatenate([chunk[name] for chunk in chunks]) for name in chunks[0]}
    return np.concatenate(chunks)


def _build_variables(model, dataset) -> None:
    """Create every variable (layers and optimizer slots) up front.

    A checkpoint can then be loaded into them, and objectives with their own
    ``train_step`` (the GAN) count as built when saved.
    """
    inputs, targets = next(iter(dataset.take(1)))
    model.local_batch = (inputs, targets)
    model(inputs)
    model.optimizer.build(model.trainable_variables)
    if getattr(model, "critic_optimizer", None) is not None and not model.critic_optimizer.built:
        model.critic_optimizer.build(model._critic_variables())


def _tensorboard_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("tensorboard") is not None


def is_chief() -> bool:
    """Whether this process is the chief of the cluster ``TF_CONFIG`` describes (or has no cluster).

    The chief is the task of type ``chief``, or worker 0 when the cluster
    names no chief, as in TensorFlow's multi-worker guide.
    """
    config = json.loads(os.environ.get("TF_CONFIG") or "{}")
    task = config.get("task") or {}
    if not task:
        return True
    if task.get("type") == "chief":
        return True
    has_chief = bool(config.get("cluster", {}).get("chief"))
    return task.get("type") == "worker" and int(task.get("index", 0)) == 0 and not has_chief


def _strategy(distribution: str, log):
    """The tf.distribute strategy the spec asks for, or None.

    Variables created in its scope (the networks and the optimizers) are
    mirrored; Keras's ``fit`` then splits every global batch across the
    replicas and sums their gradients.
    """
    if distribution == "none":
        return None
    import tensorflow as tf

    if distribution == "mirrored":
        strategy = tf.distribute.MirroredStrategy()
    else:
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
    log(f"training with {type(strategy).__name__} over {strategy.num_replicas_in_sync} replica(s)")
    return strategy


def _scope(strategy):
    import contextlib

    return strategy.scope() if strategy is not None else contextlib.nullcontext()
