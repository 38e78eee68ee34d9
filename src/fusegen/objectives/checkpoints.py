"""Resumable training checkpoints, written atomically.

A checkpoint is a folder ``RUN_DIR/checkpoints/epoch_NNNN`` holding the
objective's weights (``model.weights.h5``), every optimizer's variables
(``optimizers.npz``), the preprocessing state and the history so far; it is
written under a temporary name and renamed, then ``latest.json`` (itself
replaced atomically) points to it. A run killed at any moment therefore
resumes from the last complete checkpoint, never a half-written one.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import keras
import numpy as np

from fusegen.errors import RunError
from fusegen.fileio import atomic_write_json

LATEST = "latest.json"


def save_checkpoint(directory: Path, model, epoch: int, history: dict, preprocessing: dict) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / f"epoch_{epoch:04d}"
    staging = directory / f".epoch_{epoch:04d}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    model.save_weights(staging / "model.weights.h5")
    arrays = {}
    for name, (optimizer, _) in model.optimizers_and_variables().items():
        for index, variable in enumerate(optimizer.variables):
            arrays[f"{name}/{index}"] = np.asarray(variable)
    np.savez(staging / "optimizers.npz", **arrays)
    atomic_write_json(
        staging / "state.json", {"epoch": epoch, "history": history, "preprocessing": preprocessing}
    )
    shutil.rmtree(final, ignore_errors=True)
    os.replace(staging, final)
    atomic_write_json(directory / LATEST, {"checkpoint": final.name, "epoch": epoch})
    # Keep the newest two, so the previous one survives a crash while the next is written.
    for old in sorted(directory.glob("epoch_*"))[:-2]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def read_latest(directory: Path) -> dict | None:
    """The latest complete checkpoint's state (with its ``path``), or None if there is none."""
    pointer = directory / LATEST
    if not pointer.is_file():
        return None
    try:
        latest = json.loads(pointer.read_text())
        path = directory / latest["checkpoint"]
        state = json.loads((path / "state.json").read_text())
    except (ValueError, KeyError, OSError) as error:
        raise RunError(f"checkpoint in '{directory}' cannot be read ({error}).") from None
    state["path"] = path
    return state


def restore_checkpoint(state: dict, model) -> None:
    """Load weights and optimizer variables into a model compiled for training."""
    path = Path(state["path"])
    try:
        model.load_weights(path / "model.weights.h5")
    except ValueError as error:  # Keras names the layers whose weights the file lacks or mismatches
        raise RunError(
            f"checkpoint '{path}' does not fit this spec's model: it was written by another spec or by "
            f"an earlier fusegen whose model had other networks ({str(error).splitlines()[0].rstrip(': ')}).",
            hint="train without --resume to start afresh (the checkpoint is replaced), or resume with "
            "the spec and fusegen version that wrote it.",
        ) from None
    with np.load(path / "optimizers.npz") as arrays:
        for name, (optimizer, variables) in model.optimizers_and_variables().items():
            if not optimizer.built:
                optimizer.build(variables)
            for index, variable in enumerate(optimizer.variables):
                key = f"{name}/{index}"
                if key not in arrays:
                    raise RunError(
                        f"checkpoint '{path}' has no state for {key}; it was written by another spec."
                    )
                variable.assign(arrays[key])


class Checkpointer(keras.callbacks.Callback):
    """Write a resumable checkpoint every ``every`` epochs and at the last epoch."""

    def __init__(self, directory: Path, every: int, total_epochs: int, preprocessing: dict, history: dict):
        super().__init__()
        self.directory = Path(directory)
        self.every = every
        self.total_epochs = total_epochs
        self.preprocessing = preprocessing
        self.history = {name: list(values) for name, values in history.items()}

    def on_epoch_end(self, epoch, logs=None):
        for name, value in (logs or {}).items():
            self.history.setdefault(name, []).append(float(value))
        done = epoch + 1
        if done % self.every == 0 or done == self.total_epochs:
            if all(np.isfinite(values[-1]) for values in self.history.values() if values):
                save_checkpoint(self.directory, self.model, done, self.history, self.preprocessing)
