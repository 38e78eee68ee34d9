"""Metrics for sampled images: the judge, Fréchet and kernel distances, diversity.

The images are drawn shapes (bars, crosses, boxes) that a small CNN learns in a
few epochs, so a test can tell samples that show their class from ones that
do not, and sets that match from sets that do not.
"""

import numpy as np
import pytest

from fusegen.errors import DataError
from fusegen.metrics import ImageJudge, frechet_distance, kernel_distance, sample_diversity

CLASSES = ["horizontal", "vertical", "box"]


def shapes(count: int, seed: int, size: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """Noisy images of a horizontal bar, a vertical bar or a hollow box, at random places."""
    rng = np.random.default_rng(seed)
    images = rng.uniform(0, 40, (count, size, size, 1))
    labels = rng.choice(CLASSES, size=count)
    for image, label in zip(images, labels, strict=True):
        row, column = rng.integers(3, size - 3, size=2)
        if label == "horizontal":
            image[row - 1 : row + 1, 2:-2] = 255
        elif label == "vertical":
            image[2:-2, column - 1 : column + 1] = 255
        else:
            image[3:-3, 3] = image[3:-3, -4] = 255
            image[3, 3:-3] = image[-4, 3:-3] = 255
    return images.astype("uint8"), labels


@pytest.fixture(scope="module")
def judge():
    images, labels = shapes(600, seed=0)
    return ImageJudge(CLASSES, epochs=4, seed=0).fit(images, labels)


def test_the_judge_tells_samples_that_show_their_class_from_ones_that_do_not(judge):
    images, labels = shapes(150, seed=1)
    wrong = np.array([CLASSES[(CLASSES.index(label) + 1) % 3] for label in labels])

    assert judge.accuracy(images, labels) > 0.9
    assert judge.accuracy(images, wrong) < 0.1


def test_the_judge_holds_out_a_tenth_and_stops_when_it_stops_improving(judge):
    # Trained on 540 of the 600 images; the other 60 measure it and decide when to stop.
    assert 1 <= judge.epochs_trained <= 4
    assert judge.holdout_accuracy > 0.9

    # Labels that are pure noise: nothing to learn, so the held-out loss never improves for long.
    images, _ = shapes(300, seed=5)
    noise_labels = np.random.default_rng(5).choice(CLASSES, size=len(images))
    confused = ImageJudge(CLASSES, epochs=40, seed=0, patience=2).fit(images, noise_labels)
    assert confused.epochs_trained < 40
    assert confused.holdout_accuracy < 0.6

    # Too few images to hold any out: every pass trains on all of them.
    few, few_labels = shapes(30, seed=6)
    small = ImageJudge(CLASSES, epochs=2, seed=0).fit(few, few_labels)
    assert small.epochs_trained == 2 and small.holdout_accuracy is None


def test_feature_distances_are_near_zero_for_the_same_process_and_large_for_another(judge):
    real, _ = shapes(300, seed=2)
    same, _ = shapes(300, seed=3)
    noise = np.random.default_rng(4).integers(0, 256, real.shape).astype("uint8")
    real_features, same_features, noise_features = (judge.features(x) for x in (real, same, noise))

    assert frechet_distance(real_features, same_features) * 10 < frechet_distance(
        real_features, noise_features
    )
    assert kernel_distance(real_features, same_features) * 10 < kernel_distance(real_features, noise_features)


def test_frechet_distance_matches_the_closed_form_between_gaussians():
    rng = np.random.default_rng(0)
    # N(0, I) against N(m, 4 I) in 3 dimensions: |m|^2 + tr(I + 4I - 2 * 2I) = |m|^2 + 3.
    first = rng.normal(0, 1, (200_000, 3))
    second = rng.normal([1.0, 2.0, 0.0], 2.0, (200_000, 3))

    assert frechet_distance(first, second) == pytest.approx(5.0 + 3.0, rel=0.02)
    assert frechet_distance(first, first) == pytest.approx(0.0, abs=1e-6)


def test_diversity_is_zero_for_copies_and_grows_with_spread():
    labels = np.array(["a"] * 10 + ["b"] * 10)
    copies = np.repeat(np.ones((2, 4)), 10, axis=0)
    spread = np.random.default_rng(0).normal(0, 1, (20, 4))

    assert sample_diversity(copies, labels) == pytest.approx(0.0, abs=1e-9)
    assert sample_diversity(spread, labels) > 1.0


def test_bad_inputs_get_clear_errors(judge):
    with pytest.raises(DataError, match=r"must have shape \(N, H, W, C\)"):
        judge.accuracy(np.zeros((4, 16, 16)), ["box"] * 4)
    with pytest.raises(DataError, match="2 images but 3 labels"):
        judge.accuracy(np.zeros((2, 16, 16, 1)), ["box"] * 3)
    with pytest.raises(DataError, match=r"labels \['cat'\] are not among the judge's classes"):
        ImageJudge(CLASSES).fit(np.zeros((2, 16, 16, 1)), ["cat", "box"])
    with pytest.raises(DataError, match="at least two classes"):
        ImageJudge(["only"])
    with pytest.raises(DataError, match="one width"):
        frechet_distance(np.zeros((5, 3)), np.zeros((5, 4)))
    with pytest.raises(RuntimeError, match="not trained yet"):
        ImageJudge(CLASSES).predict(np.zeros((1, 16, 16, 1)))


def test_a_class_without_two_samples_gives_no_diversity_and_the_summary_says_so():
    """One held-out image per class: sample diversity has no pair to measure, and evaluate lost every
    other image metric over it."""
    from fusegen.evaluation import _or_none, summary_lines
    from fusegen.metrics import sample_diversity

    assert _or_none(sample_diversity, np.eye(2), ["a", "b"]) is None
    sampled = {"conditional_accuracy": 0.5, "judge_accuracy_on_real": 1.0, "feature_frechet": 3.0,
               "real_floor": {"feature_frechet": 1.0}, "diversity": None, "real_diversity": None}  # fmt: skip
    samples = {"count": 2, "mode": "one per row"}
    lines = summary_lines(
        {"samples": samples, "image": {"psnr": 6.0, "ssim": 0.1, "mae": 12.0}, "sampled": sampled}
    )
    assert any("no diversity (no class has two held-out images to compare)" in line for line in lines)
