"""How long training runs: explicit epochs, a step count, or a length chosen from the data."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fusegen.errors import SpecError
from fusegen.schedule import AUTO_STEPS, MAX_PASSES, MIN_STEPS_PER_EPOCH, plan_schedule
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
