"""``fusegen impute``: fill the missing cells of a table with a trained record generator."""

from __future__ import annotations

from pathlib import Path

import typer


def impute(
    run_dir: Path = typer.Argument(..., help="A run directory written by `fusegen train` (a record output)."),
    data: Path = typer.Option(
        ..., "--data", "-d", help="CSV or Parquet table with missing cells (empty, NA, NaN) to fill."
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Where to write the filled table: .csv or .parquet."),
    num_imputations: int = typer.Option(
        1,
        "--num",
        "-n",
        help="Imputations per row; with N > 1 each row comes N times, numbered by an 'imputation' column.",
    ),
    strategy: str = typer.Option(
        "draw",
        "--strategy",
        help="'draw': each cell one draw from its distribution given the row (keeps the column's spread); "
        "'expected': that distribution's mean, or its most likely label (the best single guess, for a model "
        "trained on the filled rows).",
    ),
    seed: int = typer.Option(0, "--seed", help="The same seed gives the same imputations."),
    columns: str = typer.Option(
        None,
        "--columns",
        help="Fill only these columns (comma-separated); the others' empty cells stay empty, and where the "
        "column had gaps in training they condition the fills as missing (a measurement never taken).",
    ),
):
    """Fill each row's missing cells given the row's observed cells (which come back unchanged)."""
    from fusegen.cli import _load_tensorflow, _require_file
    from fusegen.writers import check_destination, write_outputs

    # Checked before TensorFlow and the model load: a table written as CSV under another name misleads.
    check_destination(out, "record")
    _require_file(data, "--data", "the table to impute")
    _load_tensorflow()
    from fusegen.generator import load
    from fusegen.imputation import as_written, filled_cells

    generator = load(run_dir)
    table = generator.read_file(data)
    chosen = (
        [column.strip() for column in columns.split(",") if column.strip()] if columns is not None else None
    )
    filled = generator.impute(
        table, num_imputations=num_imputations, seed=seed, strategy=strategy, columns=chosen
    )
    output = generator.spec.output
    write_outputs(as_written(filled, table, output, num_imputations), out, name=output.name)
    done, empty = filled_cells(generator, table, filled, num_imputations)
    asked = chosen if chosen is not None else list(empty)
    # A cell asked for and still empty: looked up from a column whose label has it missing, or the gap
    # that the label given in a column it determines is looked up from.
    unfilled = {column: count for column, count in empty.items() if count and column in asked}
    looked_up = output.determined_by
    determines = {}
    for column, by in looked_up.items():
        determines.setdefault(by, []).append(f"'{column}'")
    reasons = [
        f"'{column}' {count}"
        + (
            f" (looked up from '{looked_up[column]}', whose label has it missing)"
            if column in looked_up
            else f" (where the label given in {' or '.join(determines[column])} is looked up from its gap)"
            if column in determines
            else f" (beside labels of '{output.gaps_follow[column]}' it is always missing beside)"
            if column in output.gaps_follow
            else ""
        )
        for column, count in unfilled.items()
    ]
    typer.echo(
        f"filled {sum(done.values())} missing cell(s) in {table.num_rows} row(s)"
        + (f", {num_imputations} times each" if num_imputations > 1 else "")
        + (f"; left empty: {', '.join(reasons)}" if reasons else "")
        + f"; wrote {len(filled)} row(s) to {out}"
    )
