"""Matching how a record's labels go together to the training data's (``objective.label_pairs``).

The label shift of `fusegen.objectives.marginal_calibration` gives each
categorical column the data's shares, but a strong relation to a rare label
still comes out weakened: the decoder's one latent carries it loosely. On
the hmda table of the tabular suite, 90% of applicants denied mortgage
insurance were denied the mortgage, and 59% of sampled ones.

Labels are drawn one part after another (`fusegen.objectives.unseen_pairs`).
With ``label_pairs: calibrate`` each part's logits also gain a measured
shift for the label drawn (or given) for each part before it: one table per
ordered pair of parts, (labels of the earlier part) x (labels of this one).
After training, on the same unconditional draws that measure the label
shift, the tables are fitted part by part in draw order: a part's tables
together are the minimum of a convex function whose gradient is the draws'
expected pair counts with each earlier part less the data's (moment
matching, the maximum-entropy fit of the pairs' shares from the decoder's
own). Fitted together, no table counts what another already moved; then the
part's labels are drawn with them, and the next part is fitted beside those.

Only the pairs the decoder clearly misses are fitted: those whose training
table is unlikely under the decoder's conditional shares (a G-test, p under
`DEPARTURE_P`), over the number of tables, at most `MAX_TABLES` in all, the clearest first. The
others keep zeros: fitting a pair the decoder already has fits the rows'
noise. The data's conditional shares are shrunk toward the decoder's own by
`SHRINK_ROWS` rows, so a label of a few rows is not pinned to its rows'
partners (which would copy those rows), and a small ridge keeps the shifts
finite. Pairs of parts whose table would exceed `MAX_PAIR_ENTRIES` entries
are left out (a label of a thousand values is too sparse to count pairs on),
and all tables together stay within `MAX_ENTRIES`. A given label steers the
parts drawn after it through the tables; one drawn later is steered by the
any-column conditioning alone (`fusegen.objectives.record_conditioning`).

The tables are the non-trainable weights of a small network, saved and
loaded with the others; a run from before them keeps zeros: no shift.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

#: The largest shift a table entry takes (a factor of e^6 on a label's odds), and the ridge on the
#: shifts, per draw: it keeps the fit finite where a share is 0 or 1, and picks one of the blocks that
#: differ by a shift moved from one earlier part's table to another's (every draw has a label of each).
MAX_SHIFT = 6.0
RIDGE = 1e-4
#: The fit of a part's tables stops where no expected pair share is off by more than this (per draw),
#: or after this many L-BFGS steps: a share 1e-5 off is far inside any draw's noise, and a few parts of
#: near-fixed pairs (a missing flag beside its column's label) crawl towards their bounds for hundreds.
TOLERANCE = 1e-5
MAX_ITERATIONS = 100
#: A pair is fitted where the training rows' table has a p-value under this, over the number of tables,
#: beside the decoder's conditional shares (a G-test), and of those at most this many, the clearest.
DEPARTURE_P = 1e-3
MAX_TABLES = 16
#: Rows' worth of the decoder's own conditional shares mixed into the data's before they are matched.
SHRINK_ROWS = 20.0
#: A pair of parts is calibrated where its table has at most this many entries; all tables, this many.
MAX_PAIR_ENTRIES = 2_500
MAX_ENTRIES = 1_000_000


class PairCalibration:
    """The tables of shifts between the record's categorical parts, laid out in one stored vector.

    Args:
        sizes: each categorical part's label count.
        draw_order: the parts in the order sampling draws them (`fusegen.objectives.unseen_pairs`).
    """

    def __init__(self, sizes: dict[str, int], draw_order: list[str]):
        self.sizes = dict(sizes)
        # Per part, the parts before it whose tables it reads, and where its block of tables starts:
        # the tables of one part lie one after another, so its shift is one product.
        self.earlier: dict[str, list[str]] = {}
        self.blocks: dict[str, tuple[int, int]] = {}
        entries = 0
        for index, own in enumerate(draw_order):
            earlier = []
            for other in draw_order[:index]:
                size = (self.sizes[other]) * self.sizes[own]
                if size <= MAX_PAIR_ENTRIES and entries + size <= MAX_ENTRIES:
                    earlier.append(other)
                    entries += size
            if earlier:
                rows = sum(self.sizes[other] for other in earlier)
                self.earlier[own] = earlier
                self.blocks[own] = (entries - rows * self.sizes[own], rows)
        self.entries = entries
        unit = keras.Input((1,))
        stored = keras.layers.Dense(
            max(entries, 1), use_bias=False, kernel_initializer="zeros", trainable=False, name="pair_shift"
        )
        self.network = keras.Model(unit, stored(unit), name="label_pairs")

    def __bool__(self) -> bool:
        return bool(self.earlier)

    @property
    def parts_read(self) -> set[str]:
        """The parts whose label some later part's shift reads."""
        return {other for earlier in self.earlier.values() for other in earlier}

    def _block(self, own: str):
        start, rows = self.blocks[own]
        flat = self.network.get_layer("pair_shift").kernel[0]
        return ops.reshape(flat[start : start + rows * self.sizes[own]], (rows, self.sizes[own]))

    def shift(self, own: str, known: dict, one_hots: dict | None = None):
        """What to add to ``own``'s logits given the labels ``known`` so far (an id per row; every part
        it reads is drawn or given before it); None where ``own`` reads no table. ``one_hots`` keeps
        each earlier part's indicators for the parts after it (its label is final once drawn): a wide
        record's parts read the same earlier ones thousands of times."""
        if own not in self.earlier:
            return None
        one_hots = {} if one_hots is None else one_hots
        for other in self.earlier[own]:
            if other not in one_hots:
                one_hots[other] = ops.one_hot(ops.cast(known[other], "int32"), self.sizes[other])
        indicators = ops.concatenate([one_hots[other] for other in self.earlier[own]], axis=-1)
        return ops.matmul(indicators, self._block(own))

    def tables(self) -> dict[str, np.ndarray]:
        """Each part's block of tables as numpy (rows: the earlier parts' labels, part after part)."""
        flat = ops.convert_to_numpy(self.network.get_layer("pair_shift").kernel)[0]
        return {
            own: flat[start : start + rows * self.sizes[own]].reshape(rows, self.sizes[own])
            for own, (start, rows) in self.blocks.items()
        }

    def measure(self, order: list[str], logits_for, data_ids: dict, uniforms: np.ndarray, rows: int) -> None:
        """Fit the tables so that the drawn pairs' shares are the data's, part after part.

        Args:
            order: the parts in draw order (those not in any table may be left out).
            logits_for: ``logits_for(part, known)`` -> the part's logits (draws, labels) as sampling
                gives them before the tables (label shift and ruled-out pairs applied), given the ids
                ``known`` drawn for the parts before it.
            data_ids: per part, the training rows' label ids, as many as the draws (rows repeated).
            uniforms: (draws, len(order)), the uniforms each part's draw reads.
            rows: the training rows behind ``data_ids``, which the shrinkage counts in.
        """
        if not self:
            return
        weight = min(1.0, rows / max(len(uniforms), 1))  # repeated training rows count once

        def drawn(logits, position):
            return (_softmax(logits).cumsum(axis=1) > uniforms[:, position : position + 1]).argmax(axis=1)

        # A first pass with no table ranks every pair by how clearly the decoder misses it; only the
        # clearest `MAX_TABLES` of those it misses at all are fitted.
        known: dict[str, np.ndarray] = {}
        departures = []
        for position, own in enumerate(order):
            logits = np.asarray(logits_for(own, known), "float64")
            if own in self.earlier:
                found = self._departing(own, logits, known, data_ids, weight)
                departures += [(excess, own, other) for other, excess in found.items()]
            known[own] = drawn(logits, position)
        fitted_pairs = {(own, other) for _, own, other in sorted(departures, reverse=True)[:MAX_TABLES]}
        flat = np.zeros(max(self.entries, 1), "float32")
        known = {}
        for position, own in enumerate(order):
            logits = np.asarray(logits_for(own, known), "float64")
            chosen = [other for other in self.earlier.get(own, []) if (own, other) in fitted_pairs]
            if chosen:
                fitted = self._fit_block(own, chosen, logits, known, data_ids, weight)
                logits = logits + _indicators(chosen, known, self.sizes) @ fitted
                # Into the part's whole block, in its layout: the parts not chosen keep zeros.
                block = np.zeros(self._block_shape(own))
                offsets = dict(
                    zip(
                        self.earlier[own],
                        np.cumsum([0] + [self.sizes[o] for o in self.earlier[own]]),
                        strict=False,
                    )
                )
                row = 0
                for other in chosen:
                    block[offsets[other] : offsets[other] + self.sizes[other]] = fitted[
                        row : row + self.sizes[other]
                    ]
                    row += self.sizes[other]
                start, rows_of = self.blocks[own]
                flat[start : start + rows_of * self.sizes[own]] = block.reshape(-1)
            known[own] = drawn(logits, position)
        self.network.get_layer("pair_shift").kernel.assign(flat[None])

    def _departing(self, own: str, logits, known: dict, data_ids: dict, weight: float) -> dict[str, float]:
        """The earlier parts whose pairs with ``own`` in the training rows the decoder's draws clearly
        miss, each with how clearly (its G statistic's excess over its degrees of freedom, per degree).

        A pair is fitted only where the rows' table is unlikely under the decoder's conditional shares
        (a G-test, p below `DEPARTURE_P` over the number of tables): fitting every pair fits the rows'
        noise too, and on
        caravan's 85 columns that raised quality, scored on the same rows, while ML efficacy on held-out
        rows fell (0.522 -> 0.498), and its 3,500 tables took 150 s to fit.
        """
        from scipy.stats import chi2

        labels = self.sizes[own]
        # One product for every earlier part: the draws' expected pairs, and the decoder's P(own | label).
        indicators = _indicators(self.earlier[own], known, self.sizes)
        drawn = np.asarray(indicators.sum(axis=0)).ravel()
        prior = np.asarray(indicators.T @ _softmax(logits)) / np.maximum(drawn, 1e-9)[:, None]
        # Tested against every table at once (a Bonferroni correction): a table of 85 columns holds
        # 3,500 pairs, and at a fixed p hundreds of them would pass on the rows' noise alone.
        threshold = DEPARTURE_P / max(1, sum(len(earlier) for earlier in self.earlier.values()))
        excess, start = {}, 0
        for other in self.earlier[own]:
            size = self.sizes[other]
            expected, seen_draws = prior[start : start + size], drawn[start : start + size]
            start += size
            data = weight * _pair_counts(data_ids[other], data_ids[own], size, labels)
            rows = data.sum(axis=1, keepdims=True)
            seen = (data > 0) & (seen_draws[:, None] > 0)
            shares = np.where(seen, data / np.maximum(rows, 1e-9), 1.0)
            statistic = 2.0 * np.sum(np.where(seen, data * np.log(shares / np.maximum(expected, 1e-6)), 0.0))
            freedom = max(1, int((rows[:, 0] > 0).sum()) * (labels - 1))
            if chi2.sf(statistic, freedom) < threshold:
                excess[other] = (statistic - freedom) / freedom
        return excess

    def _fit_block(
        self, own: str, chosen: list[str], logits, known: dict, data_ids: dict, weight: float
    ) -> np.ndarray:
        """The tables of ``own`` beside the ``chosen`` earlier parts under which the draws' expected
        pairs with each are the data's (shrunk): the minimum of a convex function whose gradient is the
        expected pair counts less the wanted ones (moment matching, as a maximum-entropy fit), so the
        tables are fitted together and none counts what another already moved."""
        from scipy.optimize import minimize

        indicators = _indicators(chosen, known, self.sizes)
        labels = self.sizes[own]
        before = _softmax(logits)
        drawn = np.asarray(indicators.sum(axis=0)).ravel()  # draws per earlier label
        expected = np.asarray(indicators.T @ before)  # (earlier labels, labels): the decoder's pairs
        prior = expected / np.maximum(drawn, 1e-9)[:, None]  # its P(own | earlier label)
        data = np.concatenate([
            weight * _pair_counts(data_ids[other], data_ids[own], self.sizes[other], labels) for other in chosen
        ])  # fmt: skip
        wanted_shares = (data + SHRINK_ROWS * prior) / (data.sum(axis=1, keepdims=True) + SHRINK_ROWS)
        wanted = drawn[:, None] * wanted_shares

        # The fit runs on shifts scaled by each earlier label's share: a shift's gradient and curvature
        # grow with its label's draws, and unscaled, the rare labels' shifts took hundreds of steps.
        scale = 1.0 / np.sqrt(drawn / len(logits) + 1e-3)[:, None]

        def loss(flat_scaled):
            block = flat_scaled.reshape(-1, labels) * scale
            shifted = logits + indicators @ block
            top = shifted.max(axis=1, keepdims=True)
            exp = np.exp(shifted - top)
            total = exp.sum(axis=1, keepdims=True)
            ridge = RIDGE * len(logits)
            value = np.sum(np.log(total) + top) - np.sum(wanted * block) + 0.5 * ridge * np.sum(block**2)
            gradient = np.asarray(indicators.T @ (exp / total)) - wanted + ridge * block
            # Per draw, so that the tolerances read as shares whatever the number of draws.
            return value / len(logits), (gradient * scale).ravel() / len(logits)

        # Shifts that change no draw's logits but by a constant are fixed at 0, so the minimum is one
        # point, not a valley the optimiser drifts along: a row's most drawn label (a shift of the
        # whole row moves every label alike), and every earlier part's most drawn label but the first
        # part's (every draw has a label of each, so a shift moved from one table to another is none).
        bounds = np.tile([-MAX_SHIFT, MAX_SHIFT], (indicators.shape[1], labels, 1))
        bounds[np.arange(len(expected)), expected.argmax(axis=1)] = 0.0
        offsets = np.cumsum([0] + [self.sizes[other] for other in chosen])
        for start, end in zip(offsets[1:-1], offsets[2:], strict=True):
            bounds[start + drawn[start:end].argmax()] = 0.0
        bounds = bounds / scale[:, :, None]
        fitted = minimize(loss, np.zeros(indicators.shape[1] * labels), jac=True, method="L-BFGS-B",
                          bounds=bounds.reshape(-1, 2), options={"maxiter": MAX_ITERATIONS, "ftol": 0.0, "gtol": TOLERANCE})  # fmt: skip
        block = fitted.x.reshape(-1, labels) * scale
        return block - block.mean(axis=1, keepdims=True)  # only differences within a row matter

    def _block_shape(self, own: str) -> tuple[int, int]:
        return self.blocks[own][1], self.sizes[own]


def _pair_counts(first: np.ndarray, second: np.ndarray, first_size: int, second_size: int) -> np.ndarray:
    """Rows per (label of ``first``, label of ``second``)."""
    cells = np.asarray(first, "int64") * second_size + np.asarray(second, "int64")
    return (
        np.bincount(cells, minlength=first_size * second_size).reshape(first_size, second_size).astype(float)
    )


def _indicators(earlier: list[str], known: dict, sizes: dict[str, int]):
    """A sparse (draws, earlier labels) matrix: a 1 at each draw's label of each earlier part."""
    from scipy.sparse import csr_matrix

    draws = len(known[earlier[0]])
    offsets = np.cumsum([0] + [sizes[other] for other in earlier])
    columns = np.stack(
        [offsets[index] + np.asarray(known[other], "int64") for index, other in enumerate(earlier)], 1
    )
    rows = np.repeat(np.arange(draws), len(earlier))
    return csr_matrix((np.ones(columns.size), (rows, columns.ravel())), shape=(draws, offsets[-1]))


def _softmax(logits: np.ndarray) -> np.ndarray:
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)
