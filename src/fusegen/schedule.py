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

    def total_steps(self, steps_per_pass: int) -> int:
        return self.epochs * (self.steps_per_epoch or steps_per_pass)


def plan_schedule(
    training, num_train: int, epochs_override: int | None, stops_on_validation: bool
) -> Schedule:
    """The schedule for ``num_train`` training rows under ``training`` (a `TrainingSpec`).

    Args:
        training: the spec's training section.
        num_train: rows in the training split.
        epochs_override: ``fit(epochs=...)`` or ``--epochs``; wins over the spec.
        stops_on_validation: whether the objective's validation loss follows
            sample quality and a validation split exists (early stopping of
            the automatic schedule).
    """
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
