"""Self-contained HTML reports of a run: spec, shape plan, training curves, evaluation, plots."""

from fusegen.report.html import build_report

__all__ = ["build_report"]
