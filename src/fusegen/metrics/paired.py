"""Metrics for outputs with a ground truth per example: images and sequences against their targets.

PSNR and SSIM come from scikit-image, the reference implementations. All
functions take NumPy arrays in the user's units and nothing else.
"""

from __future__ import annotations

import numpy as np

from fusegen.errors import DataError


def _check_pair(truth: np.ndarray, generated: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    truth, generated = np.asarray(truth), np.asarray(generated)
    if truth.shape != generated.shape:
        raise DataError(
            f"generated outputs have shape {list(generated.shape)} but the truth has {list(truth.shape)}; "
            "they must match example for example."
        )
    if len(truth) == 0:
        raise DataError("there are no examples to compare.")
    return truth.astype("float64"), generated.astype("float64")


def paired_errors(truth: np.ndarray, generated: np.ndarray) -> dict[str, float]:
    """Mean absolute and root-mean-square error over every element."""
    truth, generated = _check_pair(truth, generated)
    error = generated - truth
    return {"mae": float(np.mean(np.abs(error))), "rmse": float(np.sqrt(np.mean(error**2)))}


def image_similarity(truth: np.ndarray, generated: np.ndarray, data_range: float = 255.0) -> dict[str, float]:
    """Mean PSNR (dB) and SSIM over images (N, H, W, C), plus MAE in the images' units."""
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    truth, generated = _check_pair(truth, generated)
    psnr, ssim = [], []
    for real, fake in zip(truth, generated, strict=True):
        psnr.append(min(peak_signal_noise_ratio(real, fake, data_range=data_range), 100.0))
        window = min(7, real.shape[0], real.shape[1])
        window -= 1 - window % 2  # odd, as SSIM needs
        ssim.append(
            structural_similarity(real, fake, data_range=data_range, channel_axis=-1, win_size=window)
        )
    return {
        "psnr": float(np.mean(psnr)),
        "ssim": float(np.mean(ssim)),
        "mae": float(np.mean(np.abs(truth - generated))),
    }


def sequence_distances(real: np.ndarray, generated: np.ndarray, max_lag: int = 10) -> dict[str, float | None]:
    """Per-channel distances between sets of windows (N, T, C), which need not be paired.

    ``marginal``: the mean over channels of the Kolmogorov-Smirnov statistic
    between all real and all generated values of the channel.
    ``autocorrelation``: the mean absolute difference between the channels'
    mean autocorrelation functions at lags 1..max_lag; None for one-step
    windows, which have no lag to measure.
    """
    from scipy.stats import ks_2samp

    real, generated = np.asarray(real, "float64"), np.asarray(generated, "float64")
    if real.ndim != 3 or generated.ndim != 3 or real.shape[2] != generated.shape[2]:
        raise DataError(
            f"expected windows (N, T, C) with the same channels, received {list(real.shape)} and "
            f"{list(generated.shape)}."
        )
    channels = real.shape[2]
    marginal = [  # the statistic alone: no exact p-value, which scipy warns it cannot compute at this size
        ks_2samp(real[..., c].ravel(), generated[..., c].ravel(), method="asymp").statistic
        for c in range(channels)
    ]
    if real.shape[1] < 2:
        return {"marginal": float(np.mean(marginal)), "autocorrelation": None}
    lags = min(max_lag, real.shape[1] - 1)
    auto = [
        np.mean(np.abs(_autocorrelation(real[..., c], lags) - _autocorrelation(generated[..., c], lags)))
        for c in range(channels)
    ]
    return {"marginal": float(np.mean(marginal)), "autocorrelation": float(np.mean(auto))}


def _autocorrelation(windows: np.ndarray, lags: int) -> np.ndarray:
    centred = windows - windows.mean(axis=1, keepdims=True)
    variance = (centred**2).mean(axis=1) + 1e-12
    return np.array(
        [
            np.mean((centred[:, lag:] * centred[:, :-lag]).mean(axis=1) / variance)
            for lag in range(1, lags + 1)
        ]
    )
