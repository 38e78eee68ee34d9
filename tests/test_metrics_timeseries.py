"""TimeGAN's discriminative and predictive scores on TimeGAN-style sines.

Iteration counts are a fraction of TimeGAN's (2000 and 5000) so the file stays
quick. The thresholds hold with a margin at these counts for metric seeds 0-3:
same-process discriminative scores 0.02-0.05 (the test sets hold 400 windows, so
chance alone moves accuracy by about 0.025), noise 0.49-0.50, and predictive MAE
0.11-0.15 trained on sines against 0.24-0.27 trained on noise.
"""

import numpy as np
import pytest

from fusegen.errors import DataError
from fusegen.metrics import (
    discriminative_floor,
    discriminative_score,
    discriminative_scores,
    predictive_score,
)


def sines(num_windows: int, seed: int, steps: int = 24, channels: int = 5) -> np.ndarray:
    """TimeGAN's sine data: per window and channel, frequency and phase ~ U(0, 0.1), scaled to [0, 1]."""
    rng = np.random.default_rng(seed)
    frequency = rng.uniform(0, 0.1, (num_windows, 1, channels))
    phase = rng.uniform(0, 0.1, (num_windows, 1, channels))
    return (np.sin(frequency * np.arange(steps)[None, :, None] + phase) + 1) / 2


@pytest.fixture(scope="module")
def real():
    return sines(1000, seed=1)


@pytest.fixture(scope="module")
def other_draw():
    return sines(1000, seed=2)


@pytest.fixture(scope="module")
def noise(real):
    return np.random.default_rng(3).random(real.shape)


# --------------------------------------------------------------------------- discriminative


def test_another_draw_of_the_same_process_is_indistinguishable(real, other_draw):
    score = discriminative_score(real, other_draw, iterations=1000, batch_size=32)

    assert 0 <= score < 0.1


def test_uniform_noise_is_told_apart(real, noise):
    score = discriminative_score(real, noise, iterations=1000, batch_size=32)

    assert 0.4 < score <= 0.5


def test_the_floor_is_chance_even_where_the_sets_differ(real, noise):
    # Shuffled together, sines and noise make two like mixtures: the classifier that told them apart
    # above (0.4-0.5) is back at chance on 400 test windows.
    floor = discriminative_floor(real, noise, iterations=1000, batch_size=32)

    assert 0 <= floor < 0.1


def test_classifiers_side_by_side_score_as_each_would_alone(real, noise):
    # evaluate trains its five classifiers (and five on the shuffled sets) as one model: each keeps its
    # own split, batches and weights, so each score is the one its own run gives.
    mixed = np.concatenate([real[:150], noise[:150]])
    alone = [
        discriminative_score(real[:300], mixed, iterations=150, batch_size=32, seed=seed)
        for seed in (0, 1, 2)
    ]
    together = discriminative_scores(real[:300], mixed, [0, 1, 2], iterations=150, batch_size=32)
    assert np.allclose(together, alone, atol=0.02)  # at most a borderline test window or two apart
    floors = discriminative_scores(real[:300], mixed, [0, 1], iterations=150, batch_size=32, floor=True)
    alone_floor = [
        discriminative_floor(real[:300], mixed, iterations=150, batch_size=32, seed=seed) for seed in (0, 1)
    ]
    assert np.allclose(floors, alone_floor, atol=0.02)


def test_side_by_side_classifiers_need_a_seed(real):
    with pytest.raises(DataError, match="at least one seed"):
        discriminative_scores(real, real, [])


def test_discriminative_takes_sets_of_different_sizes_and_batches_larger_than_them(real):
    score = discriminative_score(real[:7], sines(5, seed=9), iterations=3, batch_size=128)

    assert 0 <= score <= 0.5


# --------------------------------------------------------------------------- predictive


def test_training_on_the_real_process_predicts_real_data_better_than_training_on_noise(
    real, other_draw, noise
):
    on_sines = predictive_score(real, other_draw, iterations=300, batch_size=32)
    on_noise = predictive_score(real, noise, iterations=300, batch_size=32)

    assert 0 <= on_sines < on_noise - 0.05
    assert on_noise <= 1


def test_same_seed_gives_the_same_score(real, noise):
    first = predictive_score(real[:100], noise[:100], iterations=20, batch_size=16, seed=4)
    again = predictive_score(real[:100], noise[:100], iterations=20, batch_size=16, seed=4)
    other = predictive_score(real[:100], noise[:100], iterations=20, batch_size=16, seed=5)

    assert first == again
    assert other != first


def test_discriminative_same_seed_gives_the_same_score(real, noise):
    first = discriminative_score(real[:100], noise[:100], iterations=30, batch_size=16, seed=4)
    again = discriminative_score(real[:100], noise[:100], iterations=30, batch_size=16, seed=4)

    assert first == again


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize("score", [discriminative_score, discriminative_floor, predictive_score])
@pytest.mark.parametrize(
    ("real_shape", "synthetic_shape", "expected"),
    [
        ((10, 24), (10, 24, 5), r"real windows must be a 3-D array .*Received shape \[10, 24\]"),
        (
            (10, 24, 5),
            (10, 24, 5, 1),
            r"synthetic windows must be a 3-D array .*Received shape \[10, 24, 5, 1\]",
        ),
        (
            (10, 24, 5),
            (10, 12, 5),
            r"same T steps and C channels.*real \[10, 24, 5\].*synthetic \[10, 12, 5\]",
        ),
        ((10, 24, 5), (10, 24, 4), r"same T steps and C channels.*C=5.*C=4"),
        ((0, 24, 5), (10, 24, 5), r"real windows are empty.*Received shape \[0, 24, 5\]"),
    ],
)
def test_bad_shapes_name_what_was_expected_and_received(score, real_shape, synthetic_shape, expected):
    with pytest.raises(DataError, match=expected):
        score(np.zeros(real_shape), np.zeros(synthetic_shape), iterations=1)


@pytest.mark.parametrize("score", [discriminative_score, discriminative_floor, predictive_score])
def test_nan_or_infinity_is_refused(score):
    synthetic = np.zeros((10, 8, 3))
    synthetic[2, 3, 1] = np.nan
    synthetic[5, 0, 0] = np.inf

    with pytest.raises(DataError, match="synthetic windows must be finite.*2 of 10 windows"):
        score(np.zeros((10, 8, 3)), synthetic, iterations=1)


def test_discriminative_needs_two_windows_per_set_for_the_split():
    with pytest.raises(DataError, match="at least 2 synthetic windows. Received: 1"):
        discriminative_score(np.zeros((10, 8, 3)), np.zeros((1, 8, 3)), iterations=1)


def test_predictive_needs_two_channels_and_two_steps():
    with pytest.raises(DataError, match=r"at least 2 channels.*Received: C=1"):
        predictive_score(np.zeros((10, 8, 1)), np.zeros((10, 8, 1)), iterations=1)
    with pytest.raises(DataError, match=r"at least 2 time steps.*Received: T=1"):
        predictive_score(np.zeros((10, 1, 3)), np.zeros((10, 1, 3)), iterations=1)


@pytest.mark.parametrize(("setting", "value"), [("iterations", 0), ("batch_size", -1), ("seed", 1.5)])
def test_bad_settings_are_refused(setting, value):
    with pytest.raises(DataError, match=f"{setting} must be an integer"):
        discriminative_score(np.zeros((10, 8, 3)), np.zeros((10, 8, 3)), **{setting: value})


def test_a_discriminative_score_below_its_floor_is_said_to_say_little():
    """fpp3's us_change: 0.0000 in all five fits against a floor of 0.111 read as a perfect score."""
    from fusegen.evaluation import summary_lines

    def line(score, spread, floor):
        timegan = {"discriminative": score, "discriminative_fits": [score] * 5, "discriminative_spread": spread,
                   "discriminative_floor": floor, "windows": 12}  # fmt: skip
        results = {"samples": {"count": 12, "mode": "one per held-out row"}, "timegan": timegan}
        return next(text for text in summary_lines(results) if text.startswith("TimeGAN"))

    assert "below its floor, so at 12 windows the classifier tells nothing apart" in line(0.0, 0.0, 0.111)
    assert "below its floor" not in line(0.2, 0.02, 0.111)
