"""Observation noise scaled so that sampled intervals cover what they claim on held-out rows.

The cvae objective first sets the noise from the held-out error's size less
the latent's own spread (`ConditionalVAE.after_training`). That adds two
spreads as if they were independent Gaussians; where they are not (a latent
that moves a whole path, errors with heavy tails), the sampled 80% interval
covers more or less than 80% of the held-out values. `calibrate_noise_scale`
then draws the paths themselves, noise scale by noise scale, and keeps the
scale at which their central 80% interval holds 80% of the held-out values:
split-conformal calibration of the one free parameter of the likelihood.
"""

from __future__ import annotations

import numpy as np

#: The interval the noise is calibrated on: the central 80%, [q0.1, q0.9] of the paths.
CALIBRATED_LEVEL = 0.8
#: Paths drawn per held-out row: as many as a forecast usually draws (`fusegen sample -n 100`),
#: so that the interval between their sample quantiles is the one users will read.
CALIBRATION_PATHS = 100
#: Held-out rows the calibration draws paths for, at most: enough for a coverage to within a few
#: per cent, bounded in time and memory however large the validation split.
CALIBRATION_ROWS = 256


def interval_coverage(
    centres: np.ndarray, unit_noise: np.ndarray, targets: np.ndarray, scale: float
) -> float:
    """Share of ``targets`` inside the central `CALIBRATED_LEVEL` interval of the paths at ``scale``.

    Args:
        centres: (rows, paths, ...) the decoder's output for each drawn latent.
        unit_noise: (rows, paths, ...) the noise each path adds at scale 1.
        targets: (rows, ...) the held-out values.
        scale: the noise scale to try.
    """
    tail = (1.0 - CALIBRATED_LEVEL) / 2.0
    low, high = np.quantile(centres + scale * unit_noise, [tail, 1.0 - tail], axis=1)
    return float(np.mean((targets >= low) & (targets <= high)))


def calibrate_noise_scale(
    centres: np.ndarray, unit_noise: np.ndarray, targets: np.ndarray, initial: float, iterations: int = 20
) -> float:
    """The noise scale at which the paths' central 80% interval covers 80% of ``targets``.

    Coverage rises with the scale, so a bisection finds it; 0 where the latent
    alone already covers enough, and the largest scale tried (64 times
    ``initial``, or the targets' own spread) where nothing does.

    Example:

    >>> rng = np.random.default_rng(0)
    >>> targets = rng.normal(0.0, 2.0, size=(4000, 1))       # the truth: centre 0, spread 2
    >>> centres = np.zeros((4000, 100, 1))                     # a model of the centre, no latent spread
    >>> noise = rng.normal(size=(4000, 100, 1))
    >>> scale = calibrate_noise_scale(centres, noise, targets, initial=0.5)
    >>> 1.95 < scale < 2.2  # the truth's 2, a little more for the spread of 100 paths' own quantiles
    True
    """
    if interval_coverage(centres, unit_noise, targets, 0.0) >= CALIBRATED_LEVEL:
        return 0.0
    low, high = 0.0, max(initial, float(np.std(targets)), 1e-6)
    for _ in range(6):
        if interval_coverage(centres, unit_noise, targets, high) >= CALIBRATED_LEVEL:
            break
        low, high = high, 2.0 * high
    else:
        return high
    for _ in range(iterations):
        middle = 0.5 * (low + high)
        if interval_coverage(centres, unit_noise, targets, middle) >= CALIBRATED_LEVEL:
            high = middle
        else:
            low = middle
    return high
