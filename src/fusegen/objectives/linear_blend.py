"""A forecast's centre moved toward each window's own linear prediction, by a weight measured on held-out rows.

The step join already sees each continued channel's linear prediction
(`fusegen.models.head_inputs.linear_prediction`) as an anchor, but a decoder
trained on a few dozen windows does not learn to lean on it as much as it
should: on issue 18's workload B the sampled paths' median had MASE 1.075,
the linear prediction alone 1.000, and the two halfway between them 0.994.
Two forecasts that err differently combine into a better one (the classic
result of forecast combination), and the weight that combines them is one
number the held-out rows can measure.

So after training, the cvae objective measures the weight ``w`` in [0, 1]
at which ``centre + w * (prediction - centre)`` has the smallest absolute
error on the held-out rows, in each window's units, where ``centre`` is the
decoder's output at the prior's centre, where its gain over weight 0 exceeds
one standard error of that gain (`choose_blend_weight`). Sampling
shifts every path by the same ``w * (prediction - centre)`` of its row, so
the latent's spread is kept and only the centre moves; the noise is
measured and calibrated after the shift. Where the prediction does not help,
the weight is 0 and the model samples as it would without it.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from fusegen.models.head_inputs import autoregression_order, uses_autoregression, uses_context_scaling
from fusegen.spec.names import CONTEXT_SCALE, STEPS

#: The weights tried; the mean absolute error is convex in the weight, so a grid this fine loses little.
BLEND_WEIGHTS = np.linspace(0.0, 1.0, 21)


def blends_linear_prediction(spec) -> bool:
    """Whether a forecast's centre can lean on its linear prediction: the anchor exists, in window units."""
    return uses_autoregression(spec) and uses_context_scaling(spec)


def choose_blend_weight(centres: np.ndarray, predictions: np.ndarray, targets: np.ndarray) -> float:
    """The weight in `BLEND_WEIGHTS` to blend ``centres`` with ``predictions`` by, judged on ``targets``.

    All three are the continued channels' values on held-out rows (the
    first axis), in each window's units, so that a wild window does not
    outweigh the quiet ones; the error is the mean absolute one, since a
    forecast's median is what the blend moves.

    The weight with the smallest mean error is measured on a few held-out
    rows, so it is taken only where its gain over weight 0 (the decoder's
    own centre) exceeds one standard error of that gain, each row's error
    paired with its own at weight 0; otherwise the weight is 0. A gain that
    a few rows cannot tell from chance is not taken, and one row alone
    measures nothing.

    Example:

    >>> rng = np.random.default_rng(0)
    >>> truth = rng.normal(size=(1000, 4))
    >>> centres = truth + rng.normal(size=(1000, 4))       # two forecasts with independent errors
    >>> predictions = truth + rng.normal(size=(1000, 4))   # of the same size: halfway is best
    >>> float(choose_blend_weight(centres, predictions, truth))
    0.5
    >>> float(choose_blend_weight(centres, centres + 1.0, truth))  # a prediction that only adds error
    0.0
    >>> float(choose_blend_weight(centres[:1], truth[:1], truth[:1]))  # one row: however good it looks
    0.0
    """
    rows = len(centres)
    if rows < 2:
        return 0.0
    errors = np.stack([
        np.abs(targets - centres - weight * (predictions - centres)).reshape(rows, -1).mean(axis=1)
        for weight in BLEND_WEIGHTS
    ])  # fmt: skip  # (weights, rows)
    best = int(np.argmin(errors.mean(axis=1)))
    gains = errors[0] - errors[best]  # per row: how much the best weight gains over none
    if gains.mean() <= gains.std(ddof=1) / np.sqrt(rows):
        return 0.0
    return float(BLEND_WEIGHTS[best])


class LinearBlend:
    """The blend weight (a one-weight network, so a run directory saves and loads it) and the shift it gives.

    ``spec`` is the run's spec; the model's continued channels with a linear
    prediction are the last of its step values (`fusegen.models.head_inputs`).
    """

    def __init__(self, spec):
        channels = spec.output.channels
        predicted = [
            output_channel
            for output_channel, name, _ in spec.continued_channels()
            if autoregression_order(spec.inputs[name].steps)
        ]
        # placement[i, c] = 1 where the i-th prediction is output channel c's.
        self.placement = np.zeros((len(predicted), channels), "float32")
        self.placement[np.arange(len(predicted)), predicted] = 1.0
        self.continued = self.placement.sum(axis=0)  # 1 for a channel with a prediction, 0 otherwise
        self.network = keras.Sequential(
            [keras.Input((1,)), keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros",
                                                   trainable=False, name="blend_weight")],
            name="linear_blend",
        )  # fmt: skip

    @property
    def weight(self):
        return self.network.get_layer("blend_weight").kernel[0, 0]

    def predictions(self, fused, unscale):
        """(batch, steps, channels): each continued channel's linear prediction in model units, 0 elsewhere.

        ``unscale`` is the decoder's ``UnscaleOutput``: the prediction is in
        its window's units, as the decoder's output is before that layer.
        """
        values = fused[STEPS][..., -self.placement.shape[0] :]
        spread = ops.einsum("btp,pc->btc", values, ops.convert_to_tensor(self.placement))
        return unscale([spread, fused[CONTEXT_SCALE]]) * self.continued

    def shift(self, fused, centre, unscale):
        """What every path of a row moves by: the weight times its prediction less its ``centre``."""
        return self.weight * self.continued * (self.predictions(fused, unscale) - centre)

    def measure(self, centres: np.ndarray, predictions: np.ndarray, targets: np.ndarray) -> float:
        """Set the weight from held-out rows (each ``(rows, steps, channels)``, in window units); return it."""
        continued = self.continued.astype(bool)
        weight = choose_blend_weight(
            centres[..., continued], predictions[..., continued], targets[..., continued]
        )
        self.network.get_layer("blend_weight").kernel.assign([[weight]])
        return weight
