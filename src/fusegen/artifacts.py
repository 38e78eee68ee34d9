"""Run directories: atomic writes, a checksummed manifest, and safe loading.

A run directory holds ``spec.yaml``, one ``.keras`` file per network of the
objective (``condition.keras`` and ``decoder.keras``, plus ``posterior``,
``critic`` or ``denoiser``), ``preprocessing.json``, ``plan.json``,
``history.json`` and ``manifest.json``. The manifest lists
every file with its SHA-256 and the versions that wrote it; loading checks
it first, so a truncated or edited artifact is refused before Keras reads
it. Nothing is pickled.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from fusegen.errors import RunError

MANIFEST = "manifest.json"
RUN_FILES = ("spec.yaml", "preprocessing.json", "plan.json", "history.json")
REQUIRED_FILES = ("spec.yaml", "preprocessing.json", "condition.keras")


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write to a temporary file beside ``path``, then rename: readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, default=_json_default) + "\n")


def atomic_save_model(model, path: str | Path) -> None:
    """Save a Keras model to ``path`` through a temporary name."""
    path = Path(path)
    temporary = path.with_name(f".{path.stem}.partial.keras")
    model.save(temporary)
    os.replace(temporary, path)


def sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def versions() -> dict[str, str]:
    import keras
    import tensorflow as tf

    import fusegen

    return {"fusegen": fusegen.__version__, "keras": keras.__version__, "tensorflow": tf.__version__}


def write_manifest(run_dir: str | Path, extra: dict[str, Any] | None = None) -> None:
    run_dir = Path(run_dir)
    names = [name for name in RUN_FILES if (run_dir / name).exists()]
    names += sorted(path.name for path in run_dir.glob("*.keras"))
    files = {name: sha256(run_dir / name) for name in names}
    atomic_write_json(
        run_dir / MANIFEST, {"format": 1, "versions": versions(), "files": files, **(extra or {})}
    )


def verify_run_dir(run_dir: str | Path) -> dict[str, Any]:
    """Check that ``run_dir`` is a complete, untampered run; return its manifest."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunError(
            f"run directory '{run_dir}' does not exist.",
            hint="pass the --out directory of a finished `fusegen train`.",
        )
    manifest_path = run_dir / MANIFEST
    if not manifest_path.is_file():
        raise RunError(
            f"'{run_dir}' is not a fusegen run: it has no {MANIFEST}.",
            hint="pass the --out directory of a finished `fusegen train`.",
        )
    try:
        manifest = json.loads(manifest_path.read_text())
        files = manifest["files"]
    except (ValueError, KeyError, TypeError) as error:
        raise RunError(f"'{manifest_path}' is not a valid manifest ({error}).") from None
    if not isinstance(files, dict) or not all(
        isinstance(name, str) and isinstance(digest, str) for name, digest in files.items()
    ):
        raise RunError(
            f"'{manifest_path}' is not a valid manifest: 'files' must map file names to SHA-256 digests, "
            f"received {type(files).__name__}."
        )
    for name in REQUIRED_FILES:
        if name not in files:
            raise RunError(f"run '{run_dir}': the manifest lists no {name}; the run is incomplete.")
    for name, expected in files.items():
        path = run_dir / name
        if Path(name).name != name:
            raise RunError(f"run '{run_dir}': the manifest names a file outside the run: {name!r}.")
        if not path.is_file():
            raise RunError(f"run '{run_dir}': {name} is missing.")
        if sha256(path) != expected:
            raise RunError(
                f"run '{run_dir}': {name} does not match its checksum in {MANIFEST}; "
                "it was changed or truncated after training.",
                hint="retrain, or restore the file from the original run.",
            )
    return manifest


def _json_default(value):
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot write {type(value).__name__} to JSON")
