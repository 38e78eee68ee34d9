"""Sampling from an ensemble: several independently trained models of one spec (``training.ensemble``).

A deep ensemble (Lakshminarayanan et al., 2017) trains the same network
from different initial weights and data orders; pooling the members'
samples averages away much of what one training run gets wrong by chance,
and widens the samples where the members disagree. Each member is complete
on its own (its noise, calibration and blend are measured on its own
held-out errors), so pooling needs nothing but an even share of the samples:
sample ``i`` of a call comes from member ``i mod K``. A condition row's
``num_samples`` consecutive samples therefore alternate between the members.
"""

from __future__ import annotations

from keras import ops, tree


def generate_in_turn(models, inputs, present, seed_generator, temperature=1.0):
    """``models[i % K].generate`` for each row ``i`` of ``inputs``, as one batch in row order.

    Args:
        models: the ensemble's objective models (one: just its ``generate``).
        inputs, present, seed_generator, temperature: as `ObjectiveModel.generate` takes them.
    """
    if len(models) == 1:
        return models[0].generate(inputs, present, seed_generator, temperature)
    count = len(models)
    batch = ops.shape(next(iter(inputs.values())))[0]
    per_member = (batch + count - 1) // count
    outputs = []
    for member, model in enumerate(models):
        # Rows member, member + K, ...; past the batch's end they wrap round to its start, so every
        # member draws at least one row (a convolution refuses an empty batch) and the extras are dropped.
        taken = ops.mod(ops.arange(per_member) * count + member, ops.maximum(batch, 1))
        member_inputs = {name: ops.take(value, taken, axis=0) for name, value in inputs.items()}
        member_present = None if present is None else ops.take(present, taken, axis=0)
        outputs.append(model.generate(member_inputs, member_present, seed_generator, temperature))
    # Row r was member r mod K's draw number r // K; the members' draws lie one after another.
    rows = ops.arange(batch)
    order = ops.mod(rows, count) * per_member + rows // count
    return tree.map_structure(
        lambda *parts: ops.take(ops.concatenate(parts, axis=0), order, axis=0), *outputs
    )
