"""The similarity filter: no sampled record sits closer to a training record than training records sit to each other.

A generator that learns its table well can place a sampled record almost on
top of a training row. On a grid, one row per country and year, a sampled
row lands on a training row's country and year with its numbers a few
percent off: no copy, yet closer to that row than any real row outside
training ever is. `SimilarityFilter` redraws such records.

**Distance.** Rows are compared as `RecordConverter.distance_codes` encodes
them: each number scaled by its training range, a missing-value flag per
nullable numeric column, and a category mismatch counting 1. This is the
encoding `fusegen.metrics.distance_to_closest_record` scores with.

**Threshold.** The ``privacy.similarity_quantile`` (0.05) of the training
rows' own nearest-neighbour distances, each row against all the others
(estimated on up to `THRESHOLD_ROWS` of them). A sampled record closer to a
training row than that is redrawn with the same conditions, for up to
`fusegen.sampling.MAX_REDRAWS` rounds (fewer once `fusegen.sampling.PATIENCE`
rounds in a row free none).
Training rows that repeat each other (a table of a few categories) give a
threshold of 0, and then nothing is redrawn.

**Search.** Below a threshold of 1 (most tables), two rows within it agree
on every category, so categories enter as their ids times 2, where one
mismatch already lies beyond the threshold, and a tree over a few
dimensions answers exactly. From 1 up (a grid, where each row's nearest
neighbour differs in some category) categories are one-hot, scaled so that
a mismatch adds exactly 1, and the search is brute force over a sparse
matrix.

The run directory holds the training rows in this encoding
(`REFERENCE_FILE`, plain arrays read without pickle), because sampling
needs them; ``privacy.similarity_filter: false`` keeps them out.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np

from fusegen.errors import FusegenWarning, RunError

#: The file in a run directory that holds the encoded training rows and the threshold.
REFERENCE_FILE = "privacy_reference.npz"
#: At most this many training rows estimate the threshold (each against all the training rows).
THRESHOLD_ROWS = 5_000
#: Where the filter draws more than this share of a call's records again, sampling warns, and
#: `fusegen evaluate` scores the unfiltered draws' quality beside the filtered ones'. On a table of
#: one row per key (tidyr's us_rent_income: each state's income and rent, once) every faithful
#: record lies on a training row; the filter drew all 94 again and kept the ones unlike any state,
#: and quality fell from 0.72 to 0.44. On ordinary tables it draws 0-12% again (docs/benchmarks.md).
MOST_REDRAWN = 0.5
_ARRAYS = ("numbers", "missing", "categories", "vocabulary_sizes", "threshold")


class SimilarityFilter:
    """The encoded training rows, the distance under which a sampled record is redrawn, and the search.

    Args:
        numbers, missing, categories: the training rows as
            `RecordConverter.distance_codes` gives them.
        vocabulary_sizes: labels per categorical column.
        threshold: sampled records closer than this to a training row are
            redrawn.
    """

    def __init__(self, numbers, missing, categories, vocabulary_sizes, threshold: float):
        self.reference = {
            "numbers": np.asarray(numbers, "float32"),
            "missing": np.asarray(missing, "float32"),
            "categories": np.asarray(categories, "int32"),
        }
        self.vocabulary_sizes = [int(size) for size in vocabulary_sizes]
        self.threshold = float(threshold)
        #: What the last sampling call did: records sampled, drawn again, and kept though still too close.
        self.last_counts = {"sampled": 0, "redrawn": 0, "kept_close": 0}
        self._index = None

    # -- fitting, saving, loading ------------------------------------------

    @classmethod
    def fit(cls, converter, table, quantile: float, seed: int = 0) -> SimilarityFilter:
        """The filter for the training rows ``table``, with the threshold at ``quantile``."""
        codes = converter.distance_codes(table)
        sizes = [len(converter.vocabularies[name]) for name in converter.spec.categorical]
        rows = len(table)
        sample = np.random.default_rng(seed).permutation(rows)[:THRESHOLD_ROWS]
        # Below 1 the ids-times-2 space gives the same small distances as the one-hot one
        # (a pair within 1 agrees on every category), so the cheap search settles it.
        threshold = _quantile_of_nearest(_points(codes, sizes, one_hot=False), sample, quantile)
        if threshold > 1.0:
            threshold = _quantile_of_nearest(_points(codes, sizes, one_hot=True), sample, quantile)
        return cls(**codes, vocabulary_sizes=sizes, threshold=threshold)

    def save(self, path: str | Path) -> None:
        with open(path, "wb") as file:
            np.savez_compressed(
                file, **self.reference, vocabulary_sizes=np.asarray(self.vocabulary_sizes, "int64"),
                threshold=np.asarray(self.threshold, "float64"),
            )  # fmt: skip

    @classmethod
    def load(cls, path: str | Path, converter) -> SimilarityFilter:
        """The filter saved at ``path``, checked against the run's record ``converter``."""
        try:
            with np.load(path, allow_pickle=False) as saved:
                arrays = {name: saved[name] for name in _ARRAYS}
        except (OSError, ValueError, KeyError) as error:
            raise RunError(f"{path}: not a similarity filter's reference ({error}).") from None
        expected = {
            "numbers": len(converter.spec.numeric),
            "missing": len([name for name in converter.spec.numeric if name in converter.spec.nullable]),
            "categories": len(converter.spec.categorical),
        }
        for name, columns in expected.items():
            array = arrays[name]
            if array.ndim != 2 or array.shape[1] != columns or len(array) != len(arrays["numbers"]):
                raise RunError(
                    f"{path}: '{name}' has shape {array.shape}, expected (rows, {columns}) for this run's record.",
                    hint="retrain, or set privacy.similarity_filter: false in the run's spec.yaml.",
                )
        sizes = [len(converter.vocabularies[name]) for name in converter.spec.categorical]
        threshold = float(arrays["threshold"]) if arrays["threshold"].size == 1 else math.nan
        ids = arrays["categories"]
        if (
            arrays["vocabulary_sizes"].tolist() != sizes
            or not (math.isfinite(threshold) and threshold >= 0.0)
            or (ids.size and (ids.min() < 0 or np.any(ids.max(axis=0) >= np.asarray(sizes))))
        ):
            raise RunError(
                f"{path}: its vocabulary sizes {arrays['vocabulary_sizes'].tolist()}, category ids or threshold "
                f"do not fit this run's record (vocabulary sizes {sizes}).",
                hint="retrain, or set privacy.similarity_filter: false in the run's spec.yaml.",
            )
        return cls(arrays["numbers"], arrays["missing"], ids, sizes, threshold)

    # -- filtering -----------------------------------------------------------

    @property
    def one_hot(self) -> bool:
        return self.threshold > 1.0

    def too_close(self, converter, table) -> np.ndarray:
        """Per row of ``table`` (sampled records), whether it lies closer than the threshold to a training row."""
        if self.threshold <= 0.0 or len(table) == 0:
            return np.zeros(len(table), bool)
        if self._index is None:
            from sklearn.neighbors import NearestNeighbors

            points = _points(self.reference, self.vocabulary_sizes, self.one_hot)
            algorithm = "brute" if self.one_hot else "auto"
            self._index = NearestNeighbors(n_neighbors=1, algorithm=algorithm).fit(points)
        points = _points(converter.distance_codes(table), self.vocabulary_sizes, self.one_hot)
        distances = self._index.kneighbors(points, return_distance=True)[0][:, 0]
        return distances < self.threshold


def warn_about_close_records(count: int, total: int, threshold: float, conditioned: bool = True) -> None:
    if count:
        why = (
            "their conditions leave the generator little room"
            if conditioned
            else "the generator rarely draws anything else"
        )
        warnings.warn(
            f"{count} of {total} sampled records stayed closer than {threshold:.5g} to a training record "
            f"however often they were drawn again, and are kept: {why}.",
            FusegenWarning,
            stacklevel=3,
        )


def warn_about_redrawn_majority(redrawn: int, total: int, threshold: float) -> None:
    if total and redrawn > MOST_REDRAWN * total:
        warnings.warn(
            f"the similarity filter drew {redrawn} of {total} sampled records again ({redrawn / total:.0%}), "
            f"closer than {threshold:.5g} to a training record: most records the model draws lie on a "
            "training record, so those kept are the ones off them, and where the table holds nearly "
            "every combination of its categories (one row per key) they follow the data poorly; "
            "`fusegen evaluate` scores both. If the rows are not private, --no-similarity-filter "
            "(similarity_filter=False) keeps the draws as the model makes them.",
            FusegenWarning,
            stacklevel=3,
        )


def _points(codes: dict, vocabulary_sizes, one_hot: bool):
    """Rows as points whose Euclidean distances are the filter's (see the module docstring)."""
    dense = np.concatenate([codes["numbers"], codes["missing"]], axis=1).astype("float64")
    categories = codes["categories"]
    if not one_hot:
        return np.concatenate([dense, 2.0 * categories.astype("float64")], axis=1)
    from scipy import sparse

    rows = len(categories)
    offsets = np.cumsum([0, *vocabulary_sizes[:-1]]).astype("int64")
    columns = (categories.astype("int64") + offsets).ravel()
    # A mismatch sets two coordinates apart by 1/sqrt(2) each: it adds exactly 1 to the squared distance.
    values = np.full(columns.size, 1.0 / math.sqrt(2.0))
    one_hot_codes = sparse.csr_matrix(
        (values, (np.repeat(np.arange(rows), categories.shape[1]), columns)),
        shape=(rows, int(sum(vocabulary_sizes))),
    )
    return sparse.hstack([sparse.csr_matrix(dense), one_hot_codes], format="csr")


def _quantile_of_nearest(points, sample: np.ndarray, quantile: float) -> float:
    """The ``quantile`` of the ``sample`` rows' distances to their nearest other row of ``points``."""
    from sklearn.neighbors import NearestNeighbors

    if points.shape[0] < 2:
        return 0.0
    index = NearestNeighbors(n_neighbors=2).fit(points)
    # The nearest is the row itself (or a duplicate of it, equally at 0): the second is its neighbour.
    distances = index.kneighbors(points[sample], return_distance=True)[0][:, 1]
    return float(np.quantile(distances, quantile))
