"""Run directories: a checksummed manifest, safe loading, and atomic writes (from `fusegen.fileio`).

A run directory holds ``spec.yaml``, one ``.keras`` file per network of the
objective (``condition.keras`` and ``decoder.keras``, plus ``posterior``,
``critic`` or ``denoiser``), ``preprocessing.json``, ``plan.json``,
``history.json`` and ``manifest.json``. The manifest lists
every file with its SHA-256 and the versions that wrote it; loading checks
it first, so a truncated or edited artifact is refused before Keras reads
it. Nothing is pickled.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from fusegen.data.preprocessing import Preprocessor
from fusegen.data.sources import CodePolicy
from fusegen.errors import RunError

# The generic writers live below every layer; run directories (and existing imports) use them from here.
from fusegen.fileio import (  # noqa: F401
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    sha256,
)
from fusegen.privacy import REFERENCE_FILE, SimilarityFilter
from fusegen.spec import load_spec, spec_to_yaml

MANIFEST = "manifest.json"
RUN_FILES = ("spec.yaml", "preprocessing.json", "plan.json", "history.json", REFERENCE_FILE)
REQUIRED_FILES = ("spec.yaml", "preprocessing.json", "condition.keras")


#: What training, evaluation and the report add to a run directory beside its files.
RUN_FOLDERS = ("checkpoints", "logs", "evaluation")
REPORT_FILE = "report.html"


def check_run_destination(run_dir: str | Path, resume: bool, overwrite: bool, chief: bool = True) -> bool:
    """Before training writes ``run_dir``: refuse a file, a folder holding files that are no run, and
    (unless ``overwrite``) a run, whose old checkpoints, logs and report would otherwise stay beside
    the new model. ``resume`` continues the run there. True where a run is there to clear
    (`clear_run_files`). A worker that is not the ``chief`` writes elsewhere: it may find the run
    the chief has begun there."""
    run_dir = Path(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise RunError(
            f"--out '{run_dir}' is a file; train writes a run directory, a folder of the model's files.",
            hint="pass the name of a new folder, such as --out runs/first.",
        )
    if not run_dir.exists():
        try:  # now, rather than when TensorBoard opens its log after the data has loaded
            run_dir.mkdir(parents=True)
        except OSError as error:
            raise RunError(
                f"--out '{run_dir}' cannot be made a folder: {error.strerror or error}.",
                hint="pass a folder you can write to.",
            ) from None
    if resume or not chief or not run_dir.is_dir():
        return False
    held = sorted(path.name for path in run_dir.iterdir())
    if not held:
        return False
    if not (set(held) & {MANIFEST, "checkpoints"}):
        raise RunError(
            f"--out '{run_dir}' already holds files that are no fusegen run ({', '.join(held[:5])}"
            f"{', ...' if len(held) > 5 else ''}); the run's files would be mixed with them.",
            hint="pass an empty or new folder for the run.",
        )
    if not overwrite:
        raise RunError(
            f"--out '{run_dir}' already holds a run; training again would replace its model and leave "
            "its old checkpoints, logs, evaluation and report beside the new one.",
            hint="pass --overwrite to replace that run, --resume to continue it, or a new folder.",
        )
    return True


def clear_run_files(run_dir: str | Path) -> None:
    """Remove what fusegen wrote to ``run_dir`` (files, checkpoints, logs, evaluation, report), and
    nothing else: a sample the user wrote there stays."""
    ours = set(RUN_FILES) | set(RUN_FOLDERS) | {MANIFEST, REPORT_FILE}
    for path in Path(run_dir).iterdir():
        if path.name in ours or path.suffix == ".keras":
            shutil.rmtree(path) if path.is_dir() else path.unlink()


def atomic_save_model(model, path: str | Path) -> None:
    """Save a Keras model to ``path`` through a temporary name."""
    path = Path(path)
    temporary = path.with_name(f".{path.stem}.partial.keras")
    model.save(temporary)
    os.replace(temporary, path)


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
    if run_dir.is_file():
        spec = run_dir.suffix.lower() in (".yaml", ".yml")
        raise RunError(
            f"'{run_dir}' is a file"
            + (", a spec by its name," if spec else ",")
            + " not a run directory (the folder `fusegen train` writes).",
            hint=f"train it first: fusegen train {run_dir} --out RUN, then pass RUN."
            if spec
            else "pass the --out directory of a finished `fusegen train`.",
        )
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
            raise RunError(
                f"run '{run_dir}': {name} is missing, though the run's manifest lists it.",
                hint="restore the file from the original run (a run directory is copied whole), or retrain.",
            )
        if sha256(path) != expected:
            raise RunError(
                f"run '{run_dir}': {name} does not match its checksum in {MANIFEST}; "
                "it was changed or truncated after training.",
                hint="retrain, or restore the file from the original run.",
            )
    return manifest


# --------------------------------------------------------------------------
# Writing and reading a generator's run
# --------------------------------------------------------------------------


def save_run(generator, run_dir: str | Path) -> Path | None:
    """What `fusegen.Generator.save` runs: the chief (or only) worker writes ``run_dir``.

    Another worker of a multi-worker run saves to a temporary folder that is
    then deleted (every worker saves, as TensorFlow's multi-worker guide
    asks), removes its own checkpoint folders, and returns None.
    """
    if not generator.writes_run_files():
        with tempfile.TemporaryDirectory(prefix="fusegen-worker-") as temporary:
            write_run(generator, Path(temporary))
        for folder in generator.worker_dirs_:
            shutil.rmtree(folder, ignore_errors=True)
        return None
    return write_run(generator, Path(run_dir))


def write_run(generator, run_dir: Path) -> Path:
    """Write ``generator``'s run directory: networks, spec, preprocessing, plan, history, manifest."""
    run_dir.mkdir(parents=True, exist_ok=True)
    # The spec records the models saved, so that loading builds exactly those.
    training = generator.spec.training.model_copy(update={"ensemble": len(generator.ensemble())})
    atomic_write_text(
        run_dir / "spec.yaml", spec_to_yaml(generator.spec.model_copy(update={"training": training}))
    )
    written = set()
    for prefix, model in zip(_member_prefixes(len(generator.ensemble())), generator.ensemble(), strict=True):
        for name, network in model.networks().items():
            if network is not None:
                atomic_save_model(network, run_dir / f"{prefix}{name}.keras")
                written.add(f"{prefix}{name}.keras")
    for stale in set(path.name for path in run_dir.glob("member*-*.keras")) - written:
        (run_dir / stale).unlink()  # an earlier save's further members, which this ensemble does not have
    atomic_write_json(run_dir / "preprocessing.json", generator.preprocessor_.get_state())
    atomic_write_json(run_dir / "plan.json", generator.describe())
    atomic_write_json(run_dir / "history.json", generator.history_)
    reference = run_dir / REFERENCE_FILE
    if generator.similarity_filter_ is not None:
        temporary = reference.with_name(f".{reference.name}.partial")
        generator.similarity_filter_.save(temporary)
        os.replace(temporary, reference)
    else:
        # A run saved again without the filter must not keep an earlier run's training rows.
        reference.unlink(missing_ok=True)
    # Where the spec's relative data paths resolve, relative to the run itself: nothing
    # machine-specific is stored, and a run moved together with its data still finds it.
    write_manifest(run_dir, {"data_dir": _relative_path(generator.base_dir, run_dir)})
    return run_dir


def read_run(generator_class, run_dir: str | Path, allow_code: bool = False):
    """What `fusegen.Generator.load` runs: a ``generator_class`` restored from ``run_dir``."""

    manifest = verify_run_dir(run_dir)
    run_dir = Path(run_dir)
    spec = _as_written(load_spec(run_dir / "spec.yaml"), manifest)
    generator = generator_class(spec, base_dir=_data_dir(run_dir, manifest))
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
    generator.build_fitted()
    generator.members_ = [generator.build_member() for _ in range(spec.training.ensemble - 1)]
    for prefix, model in zip(_member_prefixes(spec.training.ensemble), generator.ensemble(), strict=True):
        _load_networks(model, run_dir, prefix, manifest)
    history_path = run_dir / "history.json"
    generator.history_ = json.loads(history_path.read_text()) if history_path.exists() else {}
    reference = run_dir / REFERENCE_FILE
    if spec.filters_similar_records() and reference.exists():
        # Runs from before the filter, or trained from a stream, have none and sample unfiltered.
        generator.similarity_filter_ = SimilarityFilter.load(reference, generator.preprocessor_.output)
    return generator


def _member_prefixes(count: int) -> list[str]:
    """The file-name prefix of each ensemble member's networks: none for the first (as a run of one
    model names them), ``member2-`` for the second, and so on."""
    return ["", *(f"member{member + 1}-" for member in range(1, count))]


def _load_networks(model, run_dir: Path, prefix: str, manifest: dict) -> None:
    """Set ``model``'s networks' weights from the run's ``{prefix}{network}.keras`` files."""
    import keras

    for name, network in model.networks().items():
        if network is None:
            continue
        path = run_dir / f"{prefix}{name}.keras"
        if name in model.optional_networks and not path.exists():
            continue  # a run saved before the network existed: it keeps its neutral initial weights
        if path.name not in manifest["files"]:
            raise RunError(
                f"run '{run_dir}': the manifest lists no {path.name}, which its spec's model needs "
                f"(training.ensemble {model.spec.training.ensemble}); the run is incomplete.",
                hint="retrain, or restore the file from the original run.",
            )
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


def _as_written(spec, manifest: dict):
    """``spec`` with the defaults of the fusegen that wrote the run, where they changed since.

    A run's spec.yaml holds what its author wrote; a default that changed
    later would build different networks than the saved ones.
    """
    written_by = manifest.get("versions", {}).get("fusegen", "0")
    if _version(written_by) < (0, 2) and spec.output.kind == "sequence":
        # Context anchors and scaling arrived in 0.2.0, with new weights in the decoder.
        older = {"context_anchors": False, "context_scaling": False}
        spec = spec.model_copy(update={"output": spec.output.model_copy(update=older)})
    if _version(written_by) < (0, 4) and spec.output.kind == "sequence":
        # Cycle anchors arrived in 0.4.0, widening the step join's input.
        spec = spec.model_copy(update={"output": spec.output.model_copy(update={"context_cycles": False})})
    if _version(written_by) < (0, 8) and spec.output.kind == "sequence":
        # Linear-prediction anchors arrived in 0.8.0, widening the step join's input again.
        update = {"context_autoregression": False}
        spec = spec.model_copy(update={"output": spec.output.model_copy(update=update)})
    if _version(written_by) < (0, 17) and spec.output.kind == "sequence":
        # Before 0.17.0 a window's scale ignored its level, and the output's correction acted in the
        # model's global units.
        spec = spec.model_copy(update={"output": spec.output.model_copy(update={"level_scaling": False})})
    if (
        _version(written_by) < (0, 3)
        and spec.objective.type == "cvae"
        and spec.objective.prior_scale == "auto"
    ):
        # Before 0.3.0 every latent was drawn from the prior itself; records now draw slightly wider.
        spec = spec.model_copy(update={"objective": spec.objective.model_copy(update={"prior_scale": 1.0})})
    if (
        _version(written_by) < (0, 6)
        and spec.objective.type == "cvae"
        and "marginals" not in spec.objective.model_fields_set
    ):
        # Before 0.6.0 records mapped only their labels' shares; 'all' would build number maps they lack.
        spec = spec.model_copy(
            update={"objective": spec.objective.model_copy(update={"marginals": "labels"})}
        )
    if (
        spec.objective.type == "cvae"
        and spec.output.kind == "record"
        and spec.objective.label_pairs == "calibrate"
        and not any(name.endswith("label_pairs.keras") for name in manifest.get("files", {}))
    ):
        # Before 0.26.0 (or with a single categorical part) no label pairs were calibrated: the labels
        # are drawn as they were, in the same order, so a seed gives the same samples.
        spec = spec.model_copy(update={"objective": spec.objective.model_copy(update={"label_pairs": "off"})})
    if spec.conditions_on_any_column() and "record_condition.keras" not in manifest.get("files", {}):
        # A record run from before conditioning.any_column trained on its inputs alone.
        conditioning = spec.conditioning.model_copy(update={"any_column": False})
        spec = spec.model_copy(update={"conditioning": conditioning})
    return spec


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])


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
