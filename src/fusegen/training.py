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
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fusegen.data.adapters import surface_data_errors
from fusegen.data.pipeline import check_against_model, make_dataset, prepare_data
from fusegen.data.preprocessing import Preprocessor
from fusegen.data.shards import stream_decision
from fusegen.data.streaming import fit_streaming, stream_dataset
from fusegen.data.table import Table
from fusegen.errors import FusegenError, RunError
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
    from fusegen.objectives.base import StepProgbar, StopOnNonFinite
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
        prepared = _streamed_data(generator.spec, shards, preprocessor, log)
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

    keras.utils.set_random_seed(training.seed)
    with _scope(strategy):
        model = generator.build(generator.preprocessor_.vocabulary_sizes())
        check_against_model(prepared.model_inputs(), model.condition_model)
        model.compile_for_training(distributed=strategy is not None)

    train = prepared.make_train(training.batch_size, training.seed)
    steps = schedule.steps_per_epoch
    if steps:
        # Exactly `steps` batches an epoch, as a dataset of that length: given steps_per_epoch,
        # Keras runs whole executions (48 batches for 43 at steps_per_execution 8).
        train = train.repeat().take(steps)
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
    all_callbacks = [StopOnNonFinite()]
    if verbose != 0 and not any(
        isinstance(callback, keras.callbacks.ProgbarLogger) for callback in callbacks or []
    ):
        all_callbacks.append(StepProgbar())
    all_callbacks.extend(model.training_callbacks())
    if checkpoint_dir is not None:
        all_callbacks.append(
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
                all_callbacks.append(keras.callbacks.TensorBoard(log_dir=str(Path(run_dir) / "logs")))
            else:
                log("TensorBoard is not installed, so no logs are written (pip install tensorboard)")
    if schedule.patience and validation is not None:
        all_callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor="val_loss", patience=schedule.patience, restore_best_weights=True
            )
        )
    # A streamed batch with a bad value stops the fit with the DataError naming its file and row.
    with surface_data_errors():
        result = model.fit(
            train,
            validation_data=validation,
            epochs=total_epochs,
            initial_epoch=initial_epoch,
            shuffle=False,  # the tf.data pipeline already reshuffles each epoch
            verbose=verbose,
            callbacks=[*all_callbacks, *(callbacks or [])],
        )
        model.after_training(train, validation)
    for name, values in result.history.items():
        history.setdefault(name, []).extend(float(value) for value in values)
    generator.history_ = history
    # The run directory records what ran: the epochs (and their length) that ran, whether the
    # spec gave them, chose them from the data or stopped early.
    ran = initial_epoch + len(result.history.get("loss", []))
    generator.spec = generator.spec.model_copy(
        update={"training": training.model_copy(update={"epochs": max(ran, 1), "steps": None,
                                                        "steps_per_epoch": schedule.steps_per_epoch})}
    )  # fmt: skip
    generator.validation_table_ = prepared.validation_table


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


def _in_memory_data(spec, table: Table, preprocessor: Preprocessor | None, log) -> _TrainingData:
    prepared = prepare_data(spec, table, preprocessor)
    if len(prepared.dropped_rows):
        log(
            f"dropped {len(prepared.dropped_rows)} row(s) with missing values "
            f"(data.missing: drop_rows), first rows {prepared.dropped_rows[:5].tolist()}"
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
    )


def _streamed_data(spec, shards, preprocessor: Preprocessor | None, log) -> _TrainingData:
    if spec.training.distribution == "multi_worker":
        # Each worker could read its own files (fusegen.data.shards.files_for_worker), but how Keras
        # rebatches a worker's own stream under MultiWorkerMirroredStrategy is not tested yet.
        raise FusegenError(
            "streamed data (data.stream) does not train under training.distribution: multi_worker yet.",
            hint="train on one machine (distribution: none or mirrored), or set data.stream: false.",
        )
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
            streamed, spec, "train", batch_size, shuffle=True, seed=seed
        ),
        make_validation=lambda batch_size: stream_dataset(streamed, spec, "validation", batch_size),
        model_inputs=model_inputs,
        validation_table=streamed.validation_sample,
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
