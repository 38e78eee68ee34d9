"""BasicMotions: smart-watch accelerometer + gyroscope windows, 4 activities (BSD-3)."""

from __future__ import annotations

from importlib import resources

import numpy as np

ACTIVITIES = ("Standing", "Running", "Walking", "Badminton")


def load_basic_motions(split: str = "all") -> dict[str, np.ndarray]:
    """Load BasicMotions as arrays.

    Returns a dict with ``motion`` (N, 100, 6) float32, accelerometer channels
    0-2 and gyroscope channels 3-5; ``accelerometer`` and ``gyroscope``
    (N, 100, 3) each; ``activity`` (N,) labels; and ``split`` (N,) of
    ``train`` / ``test`` as published.

    Args:
        split: ``train``, ``test`` or ``all`` (80 cases).
    """
    if split not in ("train", "test", "all"):
        raise ValueError(f"split must be 'train', 'test' or 'all', received {split!r}")
    parts = ("train", "test") if split == "all" else (split,)
    windows, labels, splits = [], [], []
    for part in parts:
        part_windows, part_labels = _read_ts(f"BasicMotions_{part.upper()}.ts")
        windows.append(part_windows)
        labels += part_labels
        splits += [part] * len(part_labels)
    motion = np.concatenate(windows).astype("float32")
    return {
        "motion": motion,
        "accelerometer": motion[:, :, :3].copy(),
        "gyroscope": motion[:, :, 3:].copy(),
        "activity": np.array(labels, dtype=object),
        "split": np.array(splits, dtype=object),
    }


def _read_ts(filename: str) -> tuple[np.ndarray, list[str]]:
    """Parse the sktime/UEA ``.ts`` format: one case per line, dimensions by ':'."""
    text = (
        resources.files(__package__)
        .joinpath("files")
        .joinpath("basic_motions")
        .joinpath(filename)
        .read_text()
    )
    cases, labels = [], []
    in_data = False
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.lower() == "@data":
            in_data = True
            continue
        if not in_data:
            continue
        *dimensions, label = line.split(":")
        cases.append([[float(value) for value in dim.split(",")] for dim in dimensions])
        labels.append(label)
    # Stored as cases x dimensions x steps; models want steps x channels.
    return np.transpose(np.array(cases), (0, 2, 1)), labels
