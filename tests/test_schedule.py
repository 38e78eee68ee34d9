"""How long training runs: explicit epochs, a step count, or a length chosen from the data."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fusegen.errors import SpecError
from fusegen.schedule import (
    AUTO_MOMENTUM_RANGE,
    AUTO_STEPS,
    MAX_PASSES,
    MIN_STEPS_PER_EPOCH,
    auto_momentum,
    plan_schedule,
)
from fusegen.spec import TrainingSpec, load_spec


def training(**settings) -> TrainingSpec:
    return TrainingSpec(**settings)


def test_explicit_epochs_run_as_given_with_no_early_stop():
    schedule = plan_schedule(training(epochs=7), 1000, None, stops_on_validation=True)
    assert (schedule.epochs, schedule.steps_per_epoch, schedule.patience) == (7, None, None)
    assert plan_schedule(training(epochs=7), 1000, 3, stops_on_validation=True).epochs == 3


def test_steps_become_whole_epochs_of_at_least_fifty_steps():
    schedule = plan_schedule(training(steps=1000, batch_size=10), 100, None, stops_on_validation=False)
    assert (schedule.epochs, schedule.steps_per_epoch) == (20, MIN_STEPS_PER_EPOCH)
    # A large table keeps one pass per epoch.
    schedule = plan_schedule(training(steps=1000, batch_size=10), 5000, None, stops_on_validation=False)
    assert (schedule.epochs, schedule.steps_per_epoch) == (2, None)


@given(rows=st.integers(1, 5_000_000), batch_size=st.integers(1, 1024), stops=st.booleans())
def test_the_automatic_length_follows_the_data_within_its_bounds(rows, batch_size, stops):
    schedule = plan_schedule(training(batch_size=batch_size), rows, None, stops_on_validation=stops)
    per_pass = -(-rows // batch_size)
    total = schedule.total_steps(per_pass)
    # About AUTO_STEPS steps, at least one pass, at most MAX_PASSES passes (rounded up to whole epochs).
    assert total >= min(AUTO_STEPS, MAX_PASSES * per_pass)
    assert total >= per_pass
    assert total < max(AUTO_STEPS, per_pass) + max(per_pass, MIN_STEPS_PER_EPOCH)
    assert schedule.steps_per_epoch is None or schedule.steps_per_epoch >= MIN_STEPS_PER_EPOCH
    assert (schedule.patience is not None) == stops
    if stops:
        assert schedule.patience >= 5


def test_a_small_table_gets_many_passes_and_a_large_one_few():
    small = plan_schedule(training(batch_size=32), 300, None, stops_on_validation=False)
    large = plan_schedule(training(batch_size=32), 3_000_000, None, stops_on_validation=False)
    assert small.total_steps(10) == 2000  # 200 passes of 10 batches: capped below AUTO_STEPS
    assert large.epochs == 1  # one pass is already more than AUTO_STEPS


def test_steps_and_epochs_together_are_refused():
    with pytest.raises(
        SpecError, match=r"give training.steps or training.epochs, not both; received steps=500"
    ):
        load_spec(
            {
                "inputs": {"a": {"kind": "numeric", "size": 1}},
                "output": {"kind": "vector", "size": 1},
                "training": {"steps": 500, "epochs": 3},
            }
        )


def test_an_automatic_weight_average_spans_a_tenth_of_the_steps_for_objectives_that_gain():
    # 64,000 rows at batch 64: 1,000 batches a pass, 10 passes for the automatic 10,000 steps.
    averaged = plan_schedule(training(batch_size=64), 64_000, None, False, averages_weights=True)
    assert averaged.total_steps(1000) == AUTO_STEPS and averaged.ema_momentum == pytest.approx(0.999)
    # Other objectives get none, and an explicit momentum (or null) is kept as given.
    assert plan_schedule(training(batch_size=64), 64_000, None, False).ema_momentum is None
    explicit = plan_schedule(training(ema_momentum=0.99), 64_000, None, False, averages_weights=True)
    assert explicit.ema_momentum == 0.99
    off = plan_schedule(training(ema_momentum=None), 64_000, None, False, averages_weights=True)
    assert off.ema_momentum is None


@given(steps=st.integers(1, 10_000_000))
def test_the_automatic_momentum_stays_in_its_range_and_forgets_the_first_steps(steps):
    momentum = auto_momentum(steps)
    assert AUTO_MOMENTUM_RANGE[0] <= momentum <= AUTO_MOMENTUM_RANGE[1]
    if momentum > AUTO_MOMENTUM_RANGE[0]:
        # The untrained weights' share of the average at the end is about e^-10.
        assert momentum**steps < 1e-3


def test_an_unresolved_auto_momentum_cannot_reach_the_optimizer():
    from fusegen.objectives import make_optimizer

    with pytest.raises(ValueError, match="resolved by the schedule"):
        make_optimizer(training())
