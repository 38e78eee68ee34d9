"""Training: fit preprocessing on the data, build the objective, and run Keras ``fit`` with checkpoints.

`train` is what `fusegen.Generator.fit` runs. It asks the objective, not its
name, what training needs (callbacks, optimizers, whether it trains under
tf.distribute), and it creates a tf.distribute strategy before TensorFlow
runs any op, as MultiWorkerMirroredStrategy requires.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fusegen.data.adapters import surface_data_errors
from fusegen.data.pipeline import check_against_model, make_dataset, prepare_data
from fusegen.data.preprocessing import Preprocessor
from fusegen.data.shards import files_for_worker, stream_decision
from fusegen.data.streaming import fit_streaming, stream_dataset, validation_dataset, worker_steps
from fusegen.data.table import Table
from fusegen.errors import DataError, FusegenError, FusegenWarning, RunError
from fusegen.schedule import plan_schedule


def train(generator, data, epochs, verbose, callbacks, log, run_dir, resume) -> None:
    """What `fusegen.Generator.fit` runs, with its arguments (documented there).

    Fits ``generator``'s preprocessing on the training split, builds the
    objective and trains it; sets ``preprocessor_``, ``model_``,
    ``history_`` and ``validation_table_``, and records in the spec the
    epochs that ran.
    """
    import keras

    from fusegen.objectives import OBJECTIVES
    from fusegen.objectives.checkpoints import Checkpointer, read_latest, restore_checkpoint

    log = log or (lambda message: None)
    training = generator.spec.training
    if epochs is not None and epochs < 1:
        raise FusegenError(
            f"epochs overrides training.epochs, so it must be a positive integer; received {epochs}.",
            hint="pass at least 1, or leave it out to train for training.epochs.",
        )
    if (
        training.distribution != "none"
        and not OBJECTIVES[generator.spec.objective.type].supports_distribution
    ):
        supported = sorted(name for name, objective in OBJECTIVES.items() if objective.supports_distribution)
        raise FusegenError(
            f"the {generator.spec.objective.type} objective does not train under tf.distribute yet "
            f"(training.distribution: {training.distribution}).",
            hint=f"use one of the objectives {supported} for distributed training, or distribution: none.",
        )
    # Before anything runs a TensorFlow op (reading images, fitting lookups): collective ops
    # must be configured at program start-up.
    strategy = _strategy(training.distribution, log)
    checkpoint_dir = Path(run_dir) / "checkpoints" if run_dir is not None else None
    if checkpoint_dir is not None and not generator.writes_run_files():
        # Another worker is the chief: this one's checkpoints (and logs) go to a temporary folder.
        worker_dir = Path(tempfile.mkdtemp(prefix="fusegen-worker-"))
        generator.worker_dirs_.append(worker_dir)
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

    preprocessor = Preprocessor(generator.spec, state["preprocessing"]) if state else None
    shards, how = stream_decision(generator.spec.data, generator.base_dir) if data is None else (None, "")
    if shards is not None:
        log(f"data: {how}")
        # A resumed run streams its first epoch in the order the interrupted run would have.
        first_epoch = int(state["epoch"]) if state else 0
        prepared = _streamed_data(generator.spec, shards, preprocessor, log, first_epoch)
    else:
        table = generator._as_table(data, training=True) if data is not None else generator.load_table()
        prepared = _in_memory_data(generator.spec, table, preprocessor, log)
    log(f"training on {prepared.num_train} rows, validating on {prepared.num_validation}")
    objective = OBJECTIVES[generator.spec.objective.type]
    schedule = plan_schedule(
        training,
        prepared.num_train,
        epochs,
        stops_on_validation=objective.validation_tracks_quality and prepared.num_validation > 0,
        averages_weights=objective.averages_weights,
    )
    total_epochs = schedule.epochs
    log(f"schedule: {schedule.reason}")
    if training.ema_momentum == "auto":
        if schedule.ema_momentum:
            log(f"weight average: ema_momentum {schedule.ema_momentum} (auto, about a tenth of the steps)")
        # The model compiles from the spec, and the run records the momentum that was used.
        training = training.model_copy(update={"ema_momentum": schedule.ema_momentum})
        generator.spec = generator.spec.model_copy(update={"training": training})
    generator.preprocessor_ = prepared.preprocessor
    generator.similarity_filter_ = _similarity_filter(generator.spec, prepared, log)
    unseen = generator.preprocessor_.unseen_label_pairs()
    if unseen:
        log(
            f"label pairs: {sum(map(len, unseen.values())):,} pairs of labels of {len(unseen)} column "
            f"pair{'s' if len(unseen) > 1 else ''} "
            "never seen in training (where chance would have shown them) are never sampled "
            "(output.unseen_label_pairs)"
        )

    keras.utils.set_random_seed(training.seed)
    with _scope(strategy):
        model = generator.build_fitted()
        check_against_model(prepared.model_inputs(), model.condition_model)
        model.compile_for_training(distributed=strategy is not None)

    steps = schedule.steps_per_epoch
    fit_steps = None
    if prepared.distribute is not None and training.distribution == "multi_worker":
        # Streamed under MultiWorkerMirroredStrategy: each worker streams its own files without end,
        # and every worker runs the same steps an epoch (see `_WorkerStreams`).
        streams = prepared.distribute(strategy, training.batch_size, training.seed, steps, log)
        train, fit_train, fit_steps = streams.local, streams.distributed, streams.steps_per_epoch
        steps = fit_steps
    else:
        train = prepared.make_train(training.batch_size, training.seed)
        if steps:
            # Exactly `steps` batches an epoch, as a dataset of that length: given steps_per_epoch,
            # Keras runs whole executions (48 batches for 43 at steps_per_execution 8).
            train = train.repeat().take(steps)
        fit_train = train
    _warn_about_short_averages(
        training, total_epochs, steps or -(-prepared.num_train // training.batch_size), log
    )
    validation = prepared.make_validation(training.batch_size) if prepared.num_validation else None

    history = {}
    initial_epoch = 0
    with _scope(strategy), surface_data_errors():
        _build_variables(model, train)
        if state:
            restore_checkpoint(state, model)
    if state:
        initial_epoch = int(state["epoch"])
        history = state["history"]
        log(f"resuming from epoch {initial_epoch} ({state['path'].name})")
    run_logs = []
    if checkpoint_dir is not None:
        run_logs.append(
            Checkpointer(
                checkpoint_dir,
                training.checkpoint_every,
                total_epochs,
                generator.preprocessor_.get_state(),
                history,
            )  # fmt: skip
        )
        if training.tensorboard:
            if _tensorboard_installed():
                run_logs.append(keras.callbacks.TensorBoard(log_dir=str(Path(run_dir) / "logs")))
            else:
                log("TensorBoard is not installed, so no logs are written (pip install tensorboard)")
    fit_options = {
        "validation_data": validation,
        "epochs": total_epochs,
        "shuffle": False,  # the tf.data pipeline already reshuffles each epoch
        "verbose": verbose,
    }
    # A streamed batch with a bad value stops the fit with the DataError naming its file and row.
    with surface_data_errors():
        result = model.fit(
            fit_train,
            initial_epoch=initial_epoch,
            steps_per_epoch=fit_steps,  # None: the dataset's own length
            callbacks=_fit_callbacks(model, training, schedule, validation, verbose, run_logs, callbacks),
            **fit_options,
        )
        model.training_rows = prepared.num_train  # the rows behind `train`, which may repeat them
        model.after_training(train.take(fit_steps) if fit_steps else train, validation)
    for name, values in result.history.items():
        history.setdefault(name, []).extend(float(value) for value in values)
    count = generator.spec.training.ensemble
    for member in range(1, count):
        # Each further member starts from its own seed and sees the rows in its own order; it keeps
        # no checkpoints (a resumed run retrains it) and records its losses beside the first's.
        seed = training.seed + member
        log(f"ensemble: training model {member + 1} of {count} (seed {seed})")
        keras.utils.set_random_seed(seed)
        with _scope(strategy):
            member_model = generator.build_member()
            member_model.compile_for_training()
        member_train = prepared.make_train(training.batch_size, seed)
        if steps:
            member_train = member_train.repeat().take(steps)
        with surface_data_errors():
            _build_variables(member_model, member_train)
            fitted = member_model.fit(
                member_train,
                callbacks=_fit_callbacks(
                    member_model, training, schedule, validation, verbose, [], callbacks
                ),
                **fit_options,
            )
            member_model.training_rows = prepared.num_train
            member_model.after_training(member_train, validation)
        generator.members_.append(member_model)
        for name, values in fitted.history.items():
            history[f"member{member + 1}_{name}"] = [float(value) for value in values]
    generator.history_ = history
    # The run directory records what ran: the epochs (and their length) that ran, whether the
    # spec gave them, chose them from the data or stopped early.
    ran = initial_epoch + len(result.history.get("loss", []))
    generator.spec = generator.spec.model_copy(
        update={"training": training.model_copy(update={"epochs": max(ran, 1), "steps": None,
                                                        "steps_per_epoch": schedule.steps_per_epoch})}
    )  # fmt: skip
    generator.validation_table_ = prepared.validation_table
    _fit_difference_maps(generator, prepared, log)


#: Rows drawn to measure the maps of ``output.differences`` (`RecordConverter.fit_difference_maps`).
DIFFERENCE_MAP_SAMPLES = 20_000


def _fit_difference_maps(generator, prepared, log) -> None:
    """Each difference's first column mapped to its training marginal, measured on unconditional
    samples drawn with no map (a model that needs its inputs to sample keeps the plain sum)."""
    spec = generator.spec
    if (
        spec.output.kind != "record"
        or not spec.output.differences
        or getattr(prepared, "table", None) is None
    ):
        return
    if spec.inputs and not generator.plan_.uses_presence:
        return
    converter = generator.preprocessor_.output
    converter.difference_maps = {}
    count = int(min(DIFFERENCE_MAP_SAMPLES, max(10 * prepared.num_train, 2000)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FusegenWarning)
        samples = generator.sample(None, num_samples=count, seed=spec.training.seed, similarity_filter=False)
    converter.fit_difference_maps(samples, prepared.table)  # the rows trained and validated on
    log(f"differences: {list(spec.output.differences)} measured on {count:,} samples (output.differences)")


def _fit_callbacks(model, training, schedule, validation, verbose, run_logs, callbacks) -> list:
    """One model's callbacks for Keras ``fit``: the stop on a non-finite loss, progress, the
    objective's own, ``run_logs`` (checkpoints, TensorBoard), early stopping, then the user's."""
    import keras

    from fusegen.objectives.base import StepProgbar, StopOnNonFinite

    chosen = [StopOnNonFinite()]
    if verbose != 0 and not any(
        isinstance(callback, keras.callbacks.ProgbarLogger) for callback in callbacks or []
    ):
        chosen.append(StepProgbar())
    chosen.extend(model.training_callbacks())
    chosen.extend(run_logs)
    if schedule.patience and validation is not None:
        averaged = bool(training.ema_momentum)
        if averaged:
            # The validation loss is the weight average's, the model that fit() ends with; restoring
            # the best epoch's raw weights at the end would silently discard that average.
            chosen.append(keras.callbacks.SwapEMAWeights())
        chosen.append(
            keras.callbacks.EarlyStopping(
                monitor="val_loss", patience=schedule.patience, restore_best_weights=not averaged
            )
        )
    return [*chosen, *(callbacks or [])]


def _similarity_filter(spec, prepared: _TrainingData, log):
    """The run's `fusegen.privacy.SimilarityFilter` over every row it learns from, or None when off."""
    if not spec.filters_similar_records():
        return None
    if prepared.table is None:
        if spec.privacy.similarity_filter is True:
            raise FusegenError(
                "privacy.similarity_filter: true compares samples with the training rows, which a streamed "
                "source never holds in memory.",
                hint="set privacy.similarity_filter: false (or auto), or data.stream: false.",
            )
        log("similarity filter: off (the data is streamed, so the training rows are not held)")
        return None
    from fusegen.privacy import SimilarityFilter

    similarity = SimilarityFilter.fit(
        prepared.preprocessor.output, prepared.table, spec.privacy.similarity_quantile, spec.training.seed
    )
    quantile = spec.privacy.similarity_quantile
    if similarity.threshold > 0:
        log(
            f"similarity filter: samples closer than {similarity.threshold:.4g} to a training record are "
            f"redrawn (the training records' nearest-neighbour distance at quantile {quantile})"
        )
    else:
        # ggplot2's mpg: identical rows are common there, so a sample equal to one is no closer to it
        # than the training rows are to each other, and the filter has nothing to redraw.
        log(
            f"similarity filter: redraws nothing; at least {quantile:.0%} of the training records have an "
            "identical record among them, so their nearest-neighbour distance at that quantile is 0"
        )
    return similarity


@dataclasses.dataclass
class _TrainingData:
    """The data side of a fit, held in memory or streamed from files: the same questions, either way."""

    preprocessor: Preprocessor
    num_train: int
    num_validation: int
    make_train: Callable[[int, int], Any]  # (batch_size, seed) -> a dataset reshuffled every epoch
    make_validation: Callable[[int], Any]  # batch_size -> a dataset
    model_inputs: Callable[[], dict]  # inputs of some rows, to check against the model before training
    validation_table: Table | None  # the validation rows (streamed: a bounded sample of them)
    # Streamed: (strategy, batch_size, seed, steps_per_epoch or None, log) -> `_WorkerStreams`
    distribute: Callable[..., Any] | None = None
    #: Every row trained or validated on, held in memory; None when streamed.
    table: Table | None = None


@dataclasses.dataclass
class _WorkerStreams:
    """A streamed source under MultiWorkerMirroredStrategy.

    Each worker streams its own files (`fusegen.data.shards.files_for_worker`;
    tf.data's auto-sharding is off) without end, in per-replica batches of
    ``batch_size / num_replicas_in_sync`` rows, through
    ``distribute_datasets_from_function``: nothing rebatches them, so a step's
    global batch is ``training.batch_size``. ``fit`` runs ``steps_per_epoch``
    steps an epoch on every worker: ``training.steps_per_epoch`` when the spec
    gives it, else one pass over the smallest worker's rows, so no worker runs
    out of batches while the others wait in a collective step.
    """

    distributed: Any  # what fit reads: a tf.distribute DistributedDataset
    local: Any  # this worker's own tf.data stream (of per-replica batches), endless
    steps_per_epoch: int


def _in_memory_data(spec, table: Table, preprocessor: Preprocessor | None, log) -> _TrainingData:
    prepared = prepare_data(spec, table, preprocessor)
    if len(prepared.dropped_rows):
        what, first = (
            ("window(s)", "first starting at rows") if prepared.table.windowed else ("row(s)", "first rows")
        )
        log(
            f"dropped {len(prepared.dropped_rows)} {what} with missing values "
            f"(data.missing: drop_rows), {first} {prepared.dropped_rows[:5].tolist()}"
        )
    return _TrainingData(
        preprocessor=prepared.preprocessor,
        num_train=prepared.num_train,
        num_validation=len(prepared.validation_rows),
        make_train=lambda batch_size, seed: make_dataset(
            prepared.train_inputs, prepared.train_targets, batch_size, shuffle=True, seed=seed
        ),
        make_validation=lambda batch_size: make_dataset(
            prepared.validation_inputs, prepared.validation_targets, batch_size
        ),
        model_inputs=lambda: prepared.train_inputs,
        validation_table=(
            prepared.table.take(prepared.validation_rows) if len(prepared.validation_rows) else None
        ),
        table=prepared.table,
    )


def _streamed_data(spec, shards, preprocessor: Preprocessor | None, log, first_epoch: int) -> _TrainingData:
    # Every worker of a cluster runs this same pass over every file, in name order with the same
    # seeds, so every worker fits the same preprocessing and counts the same rows in each file.
    streamed = fit_streaming(spec, shards, preprocessor)
    if preprocessor is None:
        log(streamed.describe_fit())
    if streamed.num_dropped:
        log(f"dropped {streamed.num_dropped} row(s) with missing values (data.missing: drop_rows)")

    def model_inputs():
        inputs, _ = next(iter(stream_dataset(streamed, spec, "train", batch_size=8).take(1)))
        return {name: value.numpy() for name, value in inputs.items()}

    return _TrainingData(
        preprocessor=streamed.preprocessor,
        num_train=streamed.num_train,
        num_validation=streamed.num_validation,
        make_train=lambda batch_size, seed: stream_dataset(
            streamed, spec, "train", batch_size, shuffle=True, seed=seed, first_epoch=first_epoch
        ),
        make_validation=lambda batch_size: validation_dataset(streamed, spec, batch_size),
        model_inputs=model_inputs,
        validation_table=streamed.validation_sample,
        distribute=lambda *args: _worker_streams(streamed, spec, *args, first_epoch=first_epoch),
    )


def _worker_streams(
    streamed, spec, strategy, batch_size: int, seed: int, steps: int | None, log, first_epoch: int = 0
) -> _WorkerStreams:
    """This worker's stream of its own files, distributed for ``fit`` (see `_WorkerStreams`)."""
    replicas = strategy.num_replicas_in_sync
    if batch_size % replicas:
        raise FusegenError(
            f"training.batch_size {batch_size} does not split evenly over the {replicas} replicas "
            "of the cluster, and each worker streams its own share of every step's batch.",
            hint=f"set training.batch_size to a multiple of {replicas}.",
        )
    made = {}

    def dataset_fn(context):
        # Called once on each worker, with its place in the cluster.
        made["local"] = stream_dataset(
            streamed, spec, "train", context.get_per_replica_batch_size(batch_size), shuffle=True,
            seed=seed, num_workers=context.num_input_pipelines, worker_index=context.input_pipeline_id,
            repeat=True, first_epoch=first_epoch,
        )  # fmt: skip
        made.update(workers=context.num_input_pipelines, index=context.input_pipeline_id)
        return made["local"]

    distributed = strategy.distribute_datasets_from_function(dataset_fn)
    workers, index = made["workers"], made["index"]
    one_pass, rows = worker_steps(streamed, workers, batch_size)
    local_files = files_for_worker(streamed.train_files, workers, index)
    log(
        f"worker {index} of {workers} streams {len(local_files)} of {len(streamed.train_files)} training "
        f"file(s), {rows[index]:,} rows; {batch_size // workers} rows a step on each worker"
    )
    if not steps:
        steps = one_pass
        log(f"{steps} steps an epoch on every worker: one pass over the smallest worker's {min(rows):,} rows")
    _check_workers_agree(strategy, streamed, steps)
    # The streams are endless: fit counts the steps (each takes a batch from every replica's stream).
    return _WorkerStreams(distributed, made["local"], steps)


def _check_workers_agree(strategy, streamed, steps: int) -> None:
    """A `DataError` on every worker unless all fitted the same preprocessing, counted the same rows and steps.

    Workers that disagree (a file that differs between machines, a source
    that changed during a pass) would train different models or, with
    different steps, wait for each other for ever. Each worker's digest of
    what it found, and its square, are summed over the cluster: every digest
    is the same exactly when W * sum(d^2) == sum(d)^2, which every worker
    computes alike, so all of them stop or none does (the check runs on
    every replica, each holding its worker's digest).
    """
    import hashlib

    import tensorflow as tf

    rows = sorted((path.name, count) for path, count in streamed.train_rows_per_file.items())
    found = json.dumps([streamed.preprocessor.get_state(), rows, steps], sort_keys=True, default=str)
    digest = float(int(hashlib.sha256(found.encode()).hexdigest()[:5], 16))  # < 2**20: exact in float64
    local = tf.constant([digest, digest**2, 1.0], tf.float64)
    # Summed over every replica (each worker's replicas hold its digest): the test holds all the same.
    total, squares, replicas = strategy.reduce(
        tf.distribute.ReduceOp.SUM, strategy.run(lambda: local), axis=None
    ).numpy()
    if replicas * squares != total**2:
        raise DataError(
            "the workers of the cluster read different data: their fitted preprocessing, "
            "rows per file or steps per epoch differ.",
            hint="give every worker the same files (a shared filesystem), unchanged while they train.",
        )


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


def _build_variables(model, dataset) -> None:
    """Create every variable (layers and optimizer slots) up front.

    A checkpoint can then be loaded into them, and objectives with their own
    ``train_step`` (the GAN) count as built when saved.
    """
    inputs, targets = next(iter(dataset.take(1)))
    model.local_batch = (inputs, targets)
    model(inputs)
    for optimizer, variables in model.optimizers_and_variables().values():
        if not optimizer.built:
            optimizer.build(variables)


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
    return strategy.scope() if strategy is not None else contextlib.nullcontext()
