"""The ``machine`` object of a benchmark's JSON line: what ran, where, and how loaded the machine was.

These machines are shared and noisy, so every record says how busy the
machine was (the 1-minute load average) when the run began and ended, next
to the versions of everything that was measured.
"""

from __future__ import annotations

import importlib
import os
import platform


def describe_machine(load_before: float, modules: tuple[str, ...] = (), **extra) -> dict:
    """CPU count, Python, the ``__version__`` of TensorFlow, Keras and each of ``modules`` (keyed by the
    module's name, dots as underscores), ``extra`` as given, and the load average at ``load_before`` and now."""
    machine = {"cpus": os.cpu_count(), "python": platform.python_version()}
    for module in ("tensorflow", "keras", *modules):
        machine[module.replace(".", "_")] = getattr(importlib.import_module(module), "__version__", None)
    machine.update(extra)
    machine["load_average_before"] = round(load_before, 2)
    machine["load_average_after"] = round(os.getloadavg()[0], 2)
    return machine
