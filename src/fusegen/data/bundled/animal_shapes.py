"""Animal silhouettes with captions in words: the text -> image task.

10,000 28x28 grayscale silhouettes in ten named classes, from the
``animal-mnist`` package (MIT; provenance and licence in
``files/animal_shapes/``). Each image gets a caption naming its animal in one
of several phrasings, so a text encoder, not a label lookup, carries the
class; the ``animal`` column keeps the label for evaluation.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

#: The package's labels 0-9, in its order.
ANIMALS = ("bear", "bird", "cat", "cow", "dog", "elephant", "giraffe", "horse", "sheep", "zebra")

#: Caption templates; ``{}`` is the animal.
CAPTIONS = ("a {}", "a silhouette of a {}", "a picture of a {}", "the shape of a {}", "draw a {}")

_FILE = Path(__file__).parent / "files" / "animal_shapes" / "animal_shapes.npz"


def load_animal_shapes(per_class: int = 1000, seed: int = 0) -> dict[str, np.ndarray]:
    """The silhouettes with a caption each.

    Args:
        per_class: images per animal (at most 1,000), the first ones of each class.
        seed: chooses each image's caption template.

    Returns:
        ``image`` (N, 28, 28, 1) uint8 (white animal on black), ``caption``
        (N,) text, ``animal`` (N,) the class name.
    """
    if not 1 <= per_class <= 1000:
        raise ValueError(f"per_class must be between 1 and 1000, received {per_class}")
    with np.load(_FILE, allow_pickle=False) as archive:
        images, labels = archive["images"], archive["labels"]
    keep = np.concatenate([np.flatnonzero(labels == label)[:per_class] for label in range(len(ANIMALS))])
    rng = np.random.default_rng(seed)
    names = np.array(ANIMALS, dtype=object)[labels[keep]]
    templates = rng.integers(len(CAPTIONS), size=len(keep))
    captions = np.array(
        [CAPTIONS[t].format(name) for t, name in zip(templates, names, strict=True)], dtype=object
    )
    return {"image": images[keep][..., None], "caption": captions, "animal": names}
