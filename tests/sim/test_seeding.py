"""The table of stream families: one word per family, and the words' draws never change."""

from __future__ import annotations

import numpy as np
import pytest

from sim.seeding import Stream, derived_seed, stream


def test_no_two_families_share_a_word() -> None:
    assert len(Stream.__members__) == len(Stream)
    assert len({int(s) for s in Stream}) == len(Stream)


@pytest.mark.parametrize(
    ("draw", "expected"),
    [
        (lambda: stream(Stream.NOISE_STEPS).standard_normal(3, dtype=np.float32).tolist(),
         [1.0263642072677612, 0.03947173058986664, 0.682989239692688]),
        (lambda: stream(Stream.SPEED_FACTORS).integers(0, 4096, 3).tolist(), [3093, 4084, 545]),
        (lambda: stream([3, Stream.POST_LOOK]).integers(45, 60, 3).tolist(), [55, 50, 45]),
        (lambda: stream([7, Stream.WEAR]).integers(0, 1000, 3).tolist(), [245, 514, 584]),
        (lambda: stream(21, Stream.ABSENCE, 12345, 4).random(), 0.7868233991371908),
        (lambda: stream(21, Stream.FLOATERS, 4).permutation(5).tolist(), [4, 3, 0, 1, 2]),
        (lambda: stream(21, Stream.VARIATION, 12345, 4).standard_normal(2).tolist(),
         [1.3029516556631016, 0.06869338091521804]),
        (lambda: stream([21, Stream.SHIFT_CHANGE_PHOTO], 2, 3, 1).random(2).tolist(),
         [0.41878859844660465, 0.6036798090323828]),
        (lambda: derived_seed(21, Stream.AUGMENT, 2), 2894329708),
        (lambda: stream([21, 2, 3, 1, Stream.PIXEL]).integers(0, 1000, 3).tolist(),
         [732, 379, 759]),
        (lambda: stream([21, Stream.DAY_BOOTSTRAP]).integers(0, 1000, 3).tolist(),
         [301, 781, 386]),
        (lambda: stream([21, Stream.PEOPLE_BOOTSTRAP]).integers(0, 1000, 3).tolist(),
         [669, 794, 767]),
        (lambda: stream([21, Stream.SWAP_PATTERNS], 5).integers(0, 2, 6).tolist(),
         [1, 0, 0, 0, 1, 1]),
        (lambda: stream(21, Stream.SPEED_SCALE).integers(0, 1000, 2).tolist(), [578, 998]),
        (lambda: stream(21, Stream.LEARNING_FIT).integers(0, 1000, 2).tolist(), [772, 454]),
        (lambda: stream(21, Stream.VARIATION_FIT).integers(0, 1000, 2).tolist(), [43, 114]),
        (lambda: stream(21, Stream.FATIGUE_FIT).integers(0, 1000, 2).tolist(), [135, 456]),
    ],
)  # fmt: skip
def test_named_streams_draw_what_their_literals_drew(draw, expected) -> None:
    """Expected values computed with the literal words before they were named."""
    assert draw() == expected


def test_the_days_family_is_the_stream_of_the_seed_alone() -> None:
    assert stream([21, Stream.DAY_BOOTSTRAP]).random(3).tolist() == stream(21).random(3).tolist()
