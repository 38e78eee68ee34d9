"""``fusegen demo``: train the three reference generators on bundled data, predict, summarise."""

from __future__ import annotations

import time
from collections.abc import Callable
from importlib import resources
from pathlib import Path

import numpy as np

from fusegen.artifacts import atomic_write_json

#: The reference examples, in the order the demo trains them.
EXAMPLES = ("tabular_augment", "sensors_to_series", "image_text_to_image")


def example_spec_path(name: str) -> Path:
    """Path of a bundled example spec (``examples/NAME.yaml`` in the repository)."""
    return Path(str(resources.files("fusegen.examples").joinpath(f"{name}.yaml")))


def run_demo(
    out: str | Path, epochs: int | None = None, log: Callable[[str], None] = print, examples=EXAMPLES
) -> Path:
    """Train, save and run each reference example; write ``out/summary.json``."""
    from fusegen.generator import Generator, write_outputs

    out = Path(out)
    summary = {"examples": {}}
    for name in examples:
        started = time.perf_counter()
        log(f"[{name}] training")
        generator = Generator(example_spec_path(name))
        generator.fit(epochs=epochs, verbose=0, log=lambda message, name=name: log(f"[{name}] {message}"))
        run_dir = generator.save(out / name)
        validation = generator.validation_table_
        if validation is None:
            validation = generator.load_table()
        outputs = generator.predict(validation)
        output = generator.spec.output
        if output.kind == "record":
            target = run_dir / "outputs" / "validation_predictions.csv"
        else:
            target = run_dir / "outputs" / "validation_predictions.npz"
        write_outputs(outputs, target, name=output.name)
        if output.kind == "image":
            _save_image_grid(generator, validation, outputs, run_dir / "outputs" / "grid.png")
        history = generator.history_
        metrics = {
            "train_loss_first": history["loss"][0],
            "train_loss_last": history["loss"][-1],
            "validation_loss": history.get("val_loss", [None])[-1],
            "fit_seconds": round(time.perf_counter() - started, 2),
        }
        summary["examples"][name] = {
            "run_dir": str(run_dir),
            "output_kind": output.kind,
            "output_shape": list(output.model_shape()),
            "metrics": metrics,
            "outputs": str(target),
            "report": None,
        }
        log(
            f"[{name}] loss {metrics['train_loss_first']:.4f} -> {metrics['train_loss_last']:.4f}, "
            f"validation {metrics['validation_loss']:.4f}; wrote {run_dir}"
        )
    path = out / "summary.json"
    atomic_write_json(path, summary)
    return path


def _save_image_grid(generator, table, outputs, path: Path, rows: int = 8) -> None:
    """Input | words | output | truth, one example per row (words as the file's caption)."""
    from PIL import Image, ImageDraw

    spec = generator.spec
    image_inputs = [name for name, item in spec.inputs.items() if item.kind == "image"]
    text_inputs = [name for name, item in spec.inputs.items() if item.kind == "text"]
    truth = generator.preprocessor_.output.inverse(generator.preprocessor_.transform_targets(table))
    count = min(rows, len(outputs))
    height, width = outputs.shape[1:3]
    caption_width = 220
    canvas = Image.new("RGB", (width * 3 + caption_width, height * count), "white")
    draw = ImageDraw.Draw(canvas)
    for row in range(count):
        tiles = []
        if image_inputs:
            tiles.append(table.columns[spec.input_column(image_inputs[0])][row])
        tiles += [outputs[row], truth[row]]
        for column, tile in enumerate(tiles):
            tile = np.asarray(tile, dtype="uint8")
            if tile.shape[-1] == 1:
                tile = np.repeat(tile, 3, axis=-1)
            canvas.paste(Image.fromarray(tile[..., :3]), (column * width, row * height))
        if text_inputs:
            words = str(table.columns[spec.input_column(text_inputs[0])][row])
            draw.text((width * 3 + 4, row * height + height // 2 - 6), words, fill="black")
    path.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(path)
