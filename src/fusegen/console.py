"""What the CLI prints as tables: the shape plan (``fusegen inspect``) and the dry run (``fusegen validate``)."""

from __future__ import annotations


def print_plan(plan: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=max(Console().width, 110))
    table = Table(title=f"Shape plan of '{plan['name']}'", show_lines=False)
    for column in ("stage", "layer", "type", "output shape", "parameters"):
        table.add_column(column, justify="right" if column == "parameters" else "left", overflow="fold")

    def rows(stage, layers):
        for index, layer in enumerate(layers):
            table.add_row(
                stage if index == 0 else "",
                layer["layer"],
                layer["type"],
                str(layer["shape"]),
                f"{layer.get('parameters', 0):,}",
            )

    for name, branch in plan["inputs"].items():
        table.add_row(
            f"[bold]input {name}[/bold]", f"{branch['kind']}", branch["dtype"], str(branch["shape"]), ""
        )
        rows(f"  encoder ({branch['encoder']})", branch["encoder_layers"])
        rows("  alignment", branch["alignment"])
        for note in branch["alignment_notes"]:
            table.add_row("", f"[dim]{note}[/dim]", "", "", "")
        if branch.get("known_future"):
            note = "known ahead: also joined to the output step by step (step join)"
            table.add_row("", f"[dim]{note}[/dim]", "", "", "")
        if branch.get("window_units"):
            listed = ", ".join(str(channel) for channel in branch["window_units"])
            table.add_row("", f"[dim]read in each window's units: {listed}[/dim]", "", "", "")
    fusion = plan["fusion"]
    table.add_row(
        f"[bold]fusion {fusion['method']}[/bold]", f"layout {fusion['layout']}", "", str(fusion["shape"]), ""
    )
    rows("", fusion["layers"])
    head = plan["head"]
    table.add_row(f"[bold]head {head['type']}[/bold]", "", "", "", "")
    rows("  trunk", head["trunk"])
    for part, layers in head["parts"].items():
        rows(f"  part {part}", layers)
    if head.get("step_join"):
        joined = [*head["known_future"], *(["context anchors"] if head.get("context_anchors") else [])]
        rows(f"  step join ({', '.join(joined)})", head["step_join"])
    contexts = sorted({source.split("[")[0] for source in head.get("continues", {}).values()})
    if contexts:
        named = ["its last value", "its values one horizon earlier",
                 *(["its last cycle"] if head.get("context_cycles") else []),
                 *(["its own linear prediction"] if head.get("context_autoregression") else [])]  # fmt: skip
        anchors = f"{', '.join(named[:-1])} and {named[-1]}"
        uses = [*([f"{anchors}, per step"] if head.get("context_anchors") else []),
                *(["each window's mean and spread as units"] if head.get("context_scaling") else [])]  # fmt: skip
        note = f"continues {', '.join(contexts)}" + (f": {'; '.join(uses)}" if uses else "")
        table.add_row("", f"[dim]{note}[/dim]", "", "", "")
    output = plan["output"]
    table.add_row(f"[bold]output {output['name']}[/bold]", output["kind"], "", str(output["shape"]), "")
    console.print(table)
    console.print(f"total parameters: {plan['num_parameters']:,}")
    if "ensemble" in plan:
        ensemble = plan["ensemble"]
        console.print(
            f"ensemble: {ensemble['models']} models trained one after another, samples drawn from each in "
            f"turn ({ensemble['num_parameters']:,} parameters in all; training.ensemble)"
        )


def print_validation(report) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=max(Console().width, 130))
    table = Table(title=f"fusegen validate: {report.origin}", show_lines=True)
    for column in ("input", "kind", "dtype", "shape", "example (stored -> model)", "problems"):
        table.add_column(column, overflow="fold")
    for part in report.parts.values():
        problems = "\n".join(f"[red]{problem}[/red]" for problem in part.problems) or "[green]none[/green]"
        notes = "".join(f"\n[dim]{note}[/dim]" for note in part.notes)
        name = part.name if part.role == "input" else f"{part.name} (output)"
        table.add_row(name, part.kind, part.dtype, str(part.shape), part.example + notes, problems)
    console.print(table)
    console.print(f"{report.num_rows} rows; fitted and transformed a sample of {report.sample_rows}.")
    for note in report.notes:
        console.print(f"[dim]{note}[/dim]")
    for problem in report.problems:
        console.print(f"[red]problem:[/red] {problem}")
    count = len(report.problems) + sum(len(part.problems) for part in report.parts.values())
    console.print("[green]ok[/green]" if report.ok else f"[red]{count} problem(s)[/red]")
