"""How long training runs: an explicit epoch count, a step count, or a length chosen from the data.

With ``training.epochs: auto`` (the default) the length follows the data,
never a fixed number of passes: a model learns in optimiser steps, so a
small table gets many passes and a large one few. Epochs hold at least
`MIN_STEPS_PER_EPOCH` steps (the rows repeat within one), so Keras's
per-epoch work (validation, checkpoints) is paid dozens of times, not
thousands. Where the objective's validation loss follows sample quality,
training also stops once that loss stops improving and keeps its best
weights, so that a step budget too large for a small table does not
overfit it.
"""

from __future__ import annotations

import dataclasses

from fusegen.data.inference import MAX_PASSES, MIN_STEPS_PER_EPOCH

#: Optimiser steps an automatic schedule aims for. Whole-window synthesis of 24-step
#: windows (TimeGAN's stocks and a 1,800-window daily series) kept improving up to about
#: this many steps of batch 64 and no longer moved much after it.
AUTO_STEPS = 10_000
#: An automatic schedule passes over the rows at least once, however large the table.
AUTO_MIN_PASSES = 1
#: Epochs without a better validation loss before an automatic schedule stops, as a share of its epochs.
AUTO_PATIENCE_SHARE = 0.2
#: ... and at least this many epochs.
AUTO_MIN_PATIENCE = 5
#: ``ema_momentum: auto`` averages the weights over about this share of the steps that run: long
#: enough to smooth the last steps' noise, short enough to forget the early, untrained weights
#: (their share of the average ends near e^-10). At 10,000 steps that is momentum 0.999.
AUTO_AVERAGE_SHARE = 0.1
#: ... kept within these momenta, so a very short fit still averages a little and a very long one
#: does not average over so many steps that float32 cannot follow the weights.
AUTO_MOMENTUM_RANGE = (0.9, 0.9999)


@dataclasses.dataclass(frozen=True)
class Schedule:
    """What one fit runs."""

    epochs: int
    #: Batches per epoch; None for one pass over the training rows.
    steps_per_epoch: int | None
    #: Epochs without a better validation loss before stopping early; None to run every epoch.
    patience: int | None
    #: How the length was chosen, for the log.
    reason: str
    #: The weight average's momentum (``training.ema_momentum`` with 'auto' resolved); None for none.
    ema_momentum: float | None = None

    def total_steps(self, steps_per_pass: int) -> int:
        return self.epochs * (self.steps_per_epoch or steps_per_pass)


def plan_schedule(
    training,
    num_train: int,
    epochs_override: int | None,
    stops_on_validation: bool,
    averages_weights: bool = False,
) -> Schedule:
    """The schedule for ``num_train`` training rows under ``training`` (a `TrainingSpec`).

    Args:
        training: the spec's training section.
        num_train: rows in the training split.
        epochs_override: ``fit(epochs=...)`` or ``--epochs``; wins over the spec.
        stops_on_validation: whether the objective's validation loss follows
            sample quality and a validation split exists (early stopping of
            the automatic schedule).
        averages_weights: whether the objective generates better from a
            weight average (``ema_momentum: auto`` turns one on).
    """
    schedule = _plan_length(training, num_train, epochs_override, stops_on_validation)
    per_pass = max(1, -(-num_train // training.batch_size))
    momentum = training.ema_momentum
    if momentum == "auto":
        momentum = auto_momentum(schedule.total_steps(per_pass)) if averages_weights else None
    return dataclasses.replace(schedule, ema_momentum=momentum)


def auto_momentum(total_steps: int) -> float:
    """The momentum of a weight average over about `AUTO_AVERAGE_SHARE` of ``total_steps``."""
    low, high = AUTO_MOMENTUM_RANGE
    return round(min(max(1.0 - 1.0 / (AUTO_AVERAGE_SHARE * total_steps), low), high), 5)


def _plan_length(
    training, num_train: int, epochs_override: int | None, stops_on_validation: bool
) -> Schedule:
    """The epochs, their length and the patience of `plan_schedule`."""
    per_pass = max(1, -(-num_train // training.batch_size))
    patience = training.early_stopping_patience
    if epochs_override is not None or training.epochs != "auto":
        epochs = epochs_override if epochs_override is not None else training.epochs
        return Schedule(epochs, training.steps_per_epoch, patience, f"{epochs} epochs")
    if training.steps is not None:
        epochs, steps_per_epoch = _in_epochs(training.steps, per_pass, training.steps_per_epoch)
        return Schedule(epochs, steps_per_epoch, patience, f"training.steps {training.steps:,}")
    steps = min(max(AUTO_STEPS, AUTO_MIN_PASSES * per_pass), MAX_PASSES * per_pass)
    epochs, steps_per_epoch = _in_epochs(steps, per_pass, training.steps_per_epoch)
    if stops_on_validation and patience is None:
        patience = max(AUTO_MIN_PATIENCE, round(AUTO_PATIENCE_SHARE * epochs))
    stopping = f", stopping after {patience} epochs without a better validation loss" if patience else ""
    return Schedule(
        epochs,
        steps_per_epoch,
        patience,
        f"epochs: auto, {epochs * (steps_per_epoch or per_pass):,} steps for {num_train:,} rows{stopping}",
    )


def _in_epochs(steps: int, per_pass: int, steps_per_epoch: int | None) -> tuple[int, int | None]:
    """``steps`` as whole epochs: of ``steps_per_epoch``, of one pass, or of `MIN_STEPS_PER_EPOCH`."""
    length = steps_per_epoch or (per_pass if per_pass >= MIN_STEPS_PER_EPOCH else MIN_STEPS_PER_EPOCH)
    epochs = max(1, -(-steps // length))
    if steps_per_epoch is None and length == per_pass:
        return epochs, None
    return epochs, length


def describe_schedule(spec, table) -> str:
    """The schedule fit() would run on ``table`` under ``spec``, in words (what `fusegen validate` notes)."""
    from fusegen.data.pipeline import training_split
    from fusegen.objectives import OBJECTIVES

    # The rows fit() trains on: windows cut, rows with gaps the missing-value policy drops left out.
    _, _, train_rows, validation_rows = training_split(spec, table)
    objective = OBJECTIVES[spec.objective.type]
    schedule = plan_schedule(
        spec.training,
        len(train_rows),
        None,
        stops_on_validation=objective.validation_tracks_quality and len(validation_rows) > 0,
        averages_weights=objective.averages_weights,
    )
    average = f"; weight average ema_momentum {schedule.ema_momentum}" if schedule.ema_momentum else ""
    return (
        f"training: {len(train_rows):,} rows, {len(validation_rows):,} validating; {schedule.reason}{average}"
    )
