"""Shared pieces of the objectives: the registry and the optimizer."""

from __future__ import annotations

import keras
import numpy as np

from fusegen.errors import FusegenError

OBJECTIVES: dict[str, type] = {}


def register_objective(name: str):
    def decorate(cls):
        OBJECTIVES[name] = cls
        return cls

    return decorate


def make_optimizer(training) -> keras.optimizers.Optimizer:
    """The optimizer a spec's ``training`` section names."""
    optimizers = {
        "adam": keras.optimizers.Adam,
        "adamw": keras.optimizers.AdamW,
        "sgd": keras.optimizers.SGD,
        "rmsprop": keras.optimizers.RMSprop,
    }
    return optimizers[training.optimizer](learning_rate=training.learning_rate)


class StopOnNonFinite(keras.callbacks.Callback):
    """Stop with a clear message as soon as a loss becomes NaN or infinite."""

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not np.isfinite(loss):
            self.model.stop_training = True
            raise FusegenError(
                f"the training loss became {loss} at batch {batch}.",
                hint="lower training.learning_rate, or check the data for extreme values.",
            )
