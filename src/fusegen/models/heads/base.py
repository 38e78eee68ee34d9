"""What a head builder returns."""

import dataclasses

import keras


@dataclasses.dataclass
class HeadLayers:
    """A shared trunk, then one output stack per part (one part unless the output is a record)."""

    trunk: list[keras.layers.Layer]
    parts: dict[str, list[keras.layers.Layer]]
    #: Whether each part's first layer also takes an image input's encoder maps (U-Net skips).
    takes_skips: bool = False


def halvings(size: int, max_stages: int) -> int:
    """How many 2x upsampling stages fit below ``size``: floor(log2(size)), capped."""
    stages = 0
    while stages < max_stages and 2 ** (stages + 1) <= size:
        stages += 1
    return stages


def ceil_div(value: int, divisor: int) -> int:
    return -(-value // divisor)
