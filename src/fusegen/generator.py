"""The facade: `Generator` plans, fits, predicts, saves and loads one spec's generator.

Example:

>>> import fusegen
>>> generator = fusegen.Generator.from_spec("examples/tabular_augment.yaml")  # doctest: +SKIP
>>> generator.fit(epochs=2).save("runs/penguins")                             # doctest: +SKIP
>>> fusegen.load("runs/penguins").predict("new_penguins.csv")                 # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from fusegen.artifacts import read_run, save_run
from fusegen.data.preprocessing import Preprocessor
from fusegen.data.sources import CodePolicy, Table
from fusegen.errors import FusegenError
from fusegen.reading import as_table, dry_run, fitted_sizes, read_user_file, reading_plan, spec_table
from fusegen.spec import GeneratorSpec, load_spec
from fusegen.training import is_chief
from fusegen.writers import concatenate_chunks


class Generator:
    """A multi-input generator built from one spec.

    Args:
        spec: a `GeneratorSpec`, its mapping (as a YAML spec reads), or a path to a YAML spec.
        base_dir: folder that relative data paths in the spec resolve
            against; the spec file's folder when loaded from a file.

    After ``fit``: ``model_`` (the Keras model), ``plan_`` (the shape plan),
    ``preprocessor_`` (fitted transforms) and ``history_`` (losses per epoch).
    With ``training.ensemble`` above 1, ``members_`` holds the other trained
    models, each built like ``model_``; sampling draws from all of them in turn.
    """

    def __init__(self, spec: GeneratorSpec | dict | str | Path, base_dir: str | Path | None = None):
        if isinstance(spec, dict):
            spec = load_spec(spec)  # the spec's own mapping, as YAML would give it: validated the same way
        if not isinstance(spec, GeneratorSpec):
            path = Path(spec)
            spec = load_spec(path)
            base_dir = base_dir if base_dir is not None else path.parent
        self.spec = spec
        self.base_dir = Path(base_dir) if base_dir is not None else Path.cwd()
        # Whether code the spec names (a python: source) may run; a loaded run says no.
        self.code_policy = CodePolicy.from_spec(spec.data) if spec.data is not None else CodePolicy()
        self.model_ = None
        self.members_: list = []  # the ensemble's models after the first (``training.ensemble``)
        self.plan_ = None
        self.preprocessor_: Preprocessor | None = None
        self.history_: dict[str, list[float]] = {}
        self.validation_table_: Table | None = None
        # Redraws sampled records too close to a training record (`fusegen.privacy`); None when off.
        self.similarity_filter_ = None
        #: What the last sampling call's label check did (`fusegen.rebalancing`): rows sampled, drawn
        #: again, and kept though their label did not come back; None where no check ran.
        self.label_check_counts_ = None
        self.run_dir_: Path | None = None  # the run directory it was loaded from
        self.worker_dirs_: list[Path] = []
        # Traced samplers by temperature, reused across `sample` calls (see `fusegen.sampling.TracedSampler`).
        self._samplers: dict[tuple, Any] = {}  # by temperature and Gibbs rounds (`fusegen.sampling`)

    @classmethod
    def from_spec(cls, path: str | Path) -> Generator:
        return cls(path)

    # ------------------------------------------------------------------
    # Data
    # ------------------------------------------------------------------

    def load_table(self) -> Table:
        """The spec's data (``data.source``), up to ``data.max_rows`` rows."""
        return spec_table(self)

    def read_file(self, path: str | Path) -> Table:
        """A CSV, Parquet or NPZ file of the user's, read with the spec's ``data.delimiter`` and ``data.encoding``."""
        return read_user_file(self, path)

    # ------------------------------------------------------------------
    # Planning and building
    # ------------------------------------------------------------------

    def build(
        self,
        vocabulary_sizes: dict[str, int] | None = None,
        context_levels: dict[int, float] | None = None,
        unseen_label_pairs: dict | None = None,
    ):
        """Plan every shape, then build the networks and the objective; returns the objective model.

        ``vocabulary_sizes``, ``context_levels`` and ``unseen_label_pairs`` are what the
        preprocessing measured on the data (`Preprocessor.vocabulary_sizes`,
        `Preprocessor.context_levels`, `Preprocessor.unseen_label_pairs`); without them the plan uses
        the spec's sizes, every context scale ignores its level and sampling rules out no label pair.
        """
        from fusegen.models import plan_model

        self.plan_ = plan_model(self.spec, dict(vocabulary_sizes or {}))
        self.plan_.context_levels = dict(context_levels or {})
        self.plan_.unseen_label_pairs = dict(unseen_label_pairs or {})
        self.model_ = _objective_model(self.spec, self.plan_)
        self.members_ = []
        return self.model_

    def build_fitted(self):
        """`build` from what the fitted preprocessing (``preprocessor_``) measured on the data."""
        preprocessor = self.preprocessor_
        return self.build(
            preprocessor.vocabulary_sizes(), preprocessor.context_levels(), preprocessor.unseen_label_pairs()
        )

    def build_member(self):
        """Another ensemble member: the model `build` made, with its own layers and fresh weights."""
        from fusegen.models import plan_model

        # A plan holds the layers it planned, so each member plans anew rather than share them.
        plan = plan_model(self.spec, dict(self.plan_.vocabulary_sizes))
        plan.context_levels = dict(self.plan_.context_levels)
        plan.unseen_label_pairs = dict(self.plan_.unseen_label_pairs)
        return _objective_model(self.spec, plan)

    def ensemble(self) -> list:
        """Every trained model: ``model_``, then ``members_``."""
        return [self.model_, *self.members_]

    def describe(self) -> dict[str, Any]:
        """The shape plan with parameter counts, as ``fusegen inspect --json`` prints it."""
        if self.model_ is None:
            raise FusegenError("build the generator (or fit it) before describing it.")
        described = self.model_.describe()
        count = len(self.ensemble()) if self.members_ else self.spec.training.ensemble
        if count > 1:
            # Each further member has the first's networks; what it measured after training differs.
            described["ensemble"] = {
                "models": count,
                "num_parameters": described["num_parameters"] * count,
                "members_objective": [member.describe()["objective"] for member in self.members_],
            }
        return described

    def fitted_sizes(self) -> dict[str, int] | None:
        """Vocabulary sizes fitted on the spec's data, for `build` (``fusegen inspect``); None when the spec fixes them all."""
        return fitted_sizes(self)

    def reading_plan(self) -> str:
        """How `fit` reads the spec's data, in words: in memory, or streamed from its files (``data.stream``)."""
        return reading_plan(self)

    def validate(self, sample_size: int | None = 1000):
        """``fusegen validate``'s dry run: the pipeline on ``sample_size`` rows (None: all), one batch checked
        against the built model, and the training schedule fit() would run. Returns a
        `fusegen.data.validation.ValidationReport`."""
        from fusegen.schedule import describe_schedule

        return dry_run(self, sample_size, describe_table=lambda table: describe_schedule(self.spec, table))

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
        from fusegen.training import train

        train(self, data, epochs, verbose, callbacks, log, run_dir, resume)
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
        ranges: dict[str, tuple] | None = None,
        extrapolate: bool = False,
        rebalance: str | dict | None = None,
        similarity_filter: bool = True,
        label_check: bool | None = None,
    ):
        """Generate outputs for conditions on any subset of the inputs (and, for records, of the columns).

        Args:
            conditions: a DataFrame, dict of arrays, `Table` or CSV/Parquet/NPZ
                path with a column for each input given; inputs left out are
                absent (the generator must have been trained with
                ``conditioning.modality_dropout`` > 0, or be a diffusion model
                with condition dropout). A record generator trained with
                ``conditioning.any_column`` also takes any of its record's
                columns, ``{"age": [40], "job": ["nurse"]}``; an empty cell
                is not given. None samples unconditionally.
            num_samples: samples per condition row (rows with R conditions
                give R * num_samples outputs, grouped by row).
            seed: the same seed gives the same samples.
            temperature: scales the latent or noise (0 = the mode for
                categories and the prior's mean for latents).
            batch_size: generate this many at a time, so memory stays bounded.
            strict: refuse condition columns that belong to no input (they
                usually mean a typo or the wrong generator); False ignores
                them, and the record's own columns too, as `predict` does.
            ranges: ``{column: (low, high)}`` for numeric input columns (each
                sample draws its condition uniformly in the range) and, with
                ``conditioning.any_column``, numeric record columns (drawn as
                the training values fall in the range; a datetime column's
                bounds are dates, ``("2020-01-01", "2020-03-31")``, and a last
                date without a time of day covers its whole day).
            extrapolate: let numeric conditions outside the training range
                (beyond ``fusegen.sampling.EXTRAPOLATION_MARGIN`` of its width on
                either side) through, with a `FusegenWarning`; without it they
                are a `DataError` naming the column, the value and the range.
            rebalance: a categorical column whose labels the samples share
                equally, or ``{column: {label: share, ...}}``: each sample is
                conditioned on one label, in exactly those shares
                (`fusegen.rebalancing`).
            similarity_filter: where the run has one (``privacy.similarity_filter``),
                draw again each record closer to a training record than the
                training records' own nearest-neighbour distance at
                ``privacy.similarity_quantile`` (`fusegen.privacy`); False
                returns the first draws.
            label_check: with ``rebalance`` on a record's categorical column,
                draw again each row whose label the generator does not impute
                back from the row's other cells, so the rows of a rare class
                look like that class (`fusegen.rebalancing`). None (the
                default) checks wherever it can; False keeps the first draws;
                True without such a rebalance is an error.

        A record column that is also a given condition comes back with the
        given value, so conditional sampling returns exactly the rows asked
        for, with no rejection (rebalanced rows may be drawn again, by the
        label check, but keep their label). A category never seen in training maps to
        the out-of-vocabulary id (counted in ``preprocessor_.unseen_counts``).

        Returns:
            Outputs in the user's units and types: a DataFrame with the
            original labels for records, uint8 images (N, H, W, C), arrays
            (N, T, C) for sequences and (N, size) for vectors.
        """
        chunks = self.iter_samples(
            conditions, num_samples=num_samples, seed=seed, temperature=temperature, batch_size=batch_size,
            strict=strict, ranges=ranges, extrapolate=extrapolate, rebalance=rebalance,
            similarity_filter=similarity_filter, label_check=label_check,
        )  # fmt: skip
        return concatenate_chunks(list(chunks))

    def sample_table(self, conditions=None, num_samples: int = 1, quantiles=None, **options):
        """Sequence samples as a long table: one row per sample and step, or per step with ``quantiles``.

        Takes `sample`'s arguments. For a run cut from a long table
        (``data.windows``), each window's group and the time of every step it
        forecasts come with the values, as the conditions' table writes them
        (its row numbers without a time column). With ``quantiles`` (levels
        in (0, 1), e.g. ``[0.1, 0.5, 0.9]``) each window and step gets one
        row, with a column per channel and level (``demand_q0.1``). See
        `fusegen.writers.sequence_frame` for the columns.

        Example:

        >>> generator.sample_table("demand.csv", num_samples=100, quantiles=[0.1, 0.5, 0.9])  # doctest: +SKIP
        """
        from fusegen.sampling import window_steps_of
        from fusegen.writers import sequence_frame

        output = self.spec.output
        if output.kind != "sequence":
            raise FusegenError(
                f"sample_table writes sequence samples as a table, but this run's output '{output.name}' is "
                f"a {output.kind}.",
                hint="use sample(): it returns records as a DataFrame already, and images or vectors as arrays.",
            )
        if quantiles is not None:
            from fusegen.metrics.forecast import check_quantile_levels

            quantiles = check_quantile_levels(quantiles)
        conditions, steps = window_steps_of(self, conditions)
        samples = self.sample(conditions, num_samples=num_samples, **options)
        return sequence_frame(samples, num_samples, output, steps, quantiles)

    def impute(
        self,
        data,
        num_imputations: int = 1,
        seed: int = 0,
        temperature: float = 1.0,
        strategy: str = "draw",
        columns: list[str] | None = None,
    ):
        """Fill each row's missing cells (None, NaN, empty), given the row's observed cells.

        Needs a record generator trained with ``conditioning.any_column``.
        Observed cells come back exactly; with ``num_imputations`` N > 1,
        each row comes back N times, numbered by an ``imputation`` column.
        ``strategy="draw"`` fills a cell with one draw from its conditional
        distribution; ``"expected"`` with its conditional mean (numbers) or
        most likely label (`fusegen.imputation`). ``columns`` fills only
        those columns; the others' missing cells stay missing, and condition
        the fills as missing where training saw them missing.

        Example:

        >>> generator.impute({"age": [40, None], "job": [None, "nurse"]})  # doctest: +SKIP
        """
        from fusegen.imputation import impute

        return impute(
            self,
            data,
            num_imputations=num_imputations,
            seed=seed,
            temperature=temperature,
            strategy=strategy,
            columns=columns,
        )

    def iter_samples(self, conditions=None, **options) -> Iterator:
        """`sample`, one batch at a time: memory stays bounded however many samples are asked for.

        Takes `sample`'s arguments and yields its output in consecutive
        chunks of at most ``batch_size`` samples; joined, they equal what
        `sample` returns for the same seed. Every condition is checked
        before the first chunk is generated.
        """
        from fusegen.sampling import iter_samples

        return iter_samples(self, conditions, {**SAMPLE_DEFAULTS, **_known(options, SAMPLE_DEFAULTS)})

    def predict(self, data, batch_size: int | None = None, seed: int = 0, extrapolate: bool = False):
        """One output per row of ``data`` (every input given), in the user's units.

        For the regression objective this is its prediction; for the
        generative objectives it is one sample per row (see `sample`, also
        for ``extrapolate``).
        """
        return self.sample(
            data, num_samples=1, seed=seed, batch_size=batch_size, strict=False, extrapolate=extrapolate
        )

    # ------------------------------------------------------------------
    # Saving and loading
    # ------------------------------------------------------------------

    def writes_run_files(self) -> bool:
        """False on a multi-worker run's non-chief workers, which leave the run directory to the chief."""
        return self.spec.training.distribution != "multi_worker" or is_chief()

    def save(self, run_dir: str | Path) -> Path | None:
        """Write the run directory: networks (.keras), spec, preprocessing, plan, history, manifest.

        On a multi-worker run only the chief writes it; the others return None.
        """
        self._require_fitted()
        return save_run(self, run_dir)

    @classmethod
    def load(cls, run_dir: str | Path, allow_code: bool = False) -> Generator:
        """Restore a saved run. The manifest is verified first; Keras loads in safe mode.

        A run directory is data: loading it, and sampling, predicting or
        evaluating with it, never imports or calls anything named in it. A
        ``python:`` data source in its spec is refused where the real data is
        needed (pass the data instead) unless ``allow_code`` is True, which
        runs that code: only for runs whose author you trust.
        """
        return read_run(cls, run_dir, allow_code)

    def _require_fitted(self):
        if self.model_ is None or self.preprocessor_ is None:
            raise FusegenError(
                "the generator is not trained yet.", hint="call fit() or fusegen.load(RUN_DIR)."
            )

    def _as_table(self, data, training: bool = False) -> Table:
        return as_table(self, data, training)


#: `Generator.sample`'s keyword arguments and their defaults, which ``iter_samples`` takes too.
SAMPLE_DEFAULTS = {
    "num_samples": 1,
    "seed": 0,
    "temperature": 1.0,
    "batch_size": None,
    "strict": True,
    "ranges": None,
    "extrapolate": False,
    "rebalance": None,
    "similarity_filter": True,
    "label_check": None,
}


def _objective_model(spec: GeneratorSpec, plan):
    """The spec's objective model over the networks ``plan`` planned."""
    from fusegen.models import build_networks
    from fusegen.objectives import OBJECTIVES

    return OBJECTIVES[spec.objective.type](spec, plan, build_networks(plan), plan.vocabulary_sizes)


def _known(options: dict, defaults: dict) -> dict:
    unknown = sorted(set(options) - set(defaults))
    if unknown:
        raise TypeError(f"unexpected keyword argument(s) {unknown}; expected some of {sorted(defaults)}")
    return options


def load(run_dir: str | Path, allow_code: bool = False) -> Generator:
    """Load a trained generator from its run directory (see `Generator.load`)."""
    return Generator.load(run_dir, allow_code=allow_code)
