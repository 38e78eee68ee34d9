"""Self-contained HTML reports of a run: spec, shape plan, training curves, evaluation, plots.

`write_report` renders a run its caller has evaluated; `fusegen.reporting.build_report`
loads and evaluates a run directory, then writes its report.
"""

from fusegen.report.html import write_report

__all__ = ["write_report"]
