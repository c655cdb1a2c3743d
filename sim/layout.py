"""Floor layout and camera geometry of the line.

Posts are 3 m × 3 m squares along the process, 4 m apart (post i spans x in
``[4(i-1), 4(i-1)+3]`` m, y in ``[0, 3]`` m); area 0 is the aisle and the rest room beside them.
Each post has a camera giving a `CAMERA_SIZE` image; the aisle is filmed by cameras of the
same geometry. A standing worker is `PERSON_HEIGHT_PX` tall, feet at `WORK_SPOT_PX` while
working; keypoints of every array are in the pixels of the camera of the area the worker is in.
"""

from __future__ import annotations

import numpy as np

from core import KEYPOINTS

CAMERA_SIZE: tuple[int, int] = (320, 240)
"""Width and height in pixels of every camera image."""
PERSON_HEIGHT_PX = 110.0
"""Height of a standing worker in a camera image."""
WORK_SPOT_PX: tuple[float, float] = (160.0, 200.0)
"""Feet (midpoint of the ankles) of a worker at work, in the post camera."""
VISIT_SPOT_PX: tuple[float, float] = (240.0, 190.0)
"""Feet of a visitor standing at a post that is not its own."""
AISLE_SPOT_PX: tuple[float, float] = (100.0, 205.0)
"""Feet of a worker standing in the aisle or the rest room (area 0)."""
WALK_SPEED_M_S = 1.2
"""Walking speed on the floor."""
PX_PER_M = PERSON_HEIGHT_PX / 1.7
"""Image scale at the worker's distance (a worker is 1.7 m tall)."""

POST_PITCH_M = 4.0
POST_SIZE_M = 3.0
AISLE_OFFSET_S = 4.0
"""Seconds to step from a post into the aisle (and back)."""

_SKELETON = {
    "head": (0.0, -105.0),
    "neck": (0.0, -92.0),
    "r_shoulder": (-13.0, -88.0),
    "r_elbow": (-17.0, -70.0),
    "r_wrist": (-15.0, -55.0),
    "l_shoulder": (13.0, -88.0),
    "l_elbow": (17.0, -70.0),
    "l_wrist": (15.0, -55.0),
    "r_hip": (-8.0, -55.0),
    "r_knee": (-8.0, -28.0),
    "r_ankle": (-8.0, 0.0),
    "l_hip": (8.0, -55.0),
    "l_knee": (8.0, -28.0),
    "l_ankle": (8.0, 0.0),
}
SKELETON_PX: np.ndarray = np.array([_SKELETON[k] for k in KEYPOINTS], dtype=np.float32)
"""``(14, 2)`` standing pose relative to the feet midpoint, image axes (y down), pixels."""


def post_polygon(post: int) -> np.ndarray:
    """Floor polygon ``(4, 2)`` of ``post`` in metres (counter-clockwise)."""
    if post < 1:
        raise ValueError(f'"post" must be ≥ 1, got {post!r}')
    x0 = POST_PITCH_M * (post - 1)
    return np.array(
        [[x0, 0.0], [x0 + POST_SIZE_M, 0.0], [x0 + POST_SIZE_M, POST_SIZE_M], [x0, POST_SIZE_M]]
    )


def walk_seconds(a: int, b: int) -> float:
    """Seconds to walk from area ``a`` to area ``b`` (0 = aisle); time spent in area 0."""
    if a == b:
        return 0.0
    if a == 0 or b == 0:
        return AISLE_OFFSET_S
    return 2 * AISLE_OFFSET_S + POST_PITCH_M * abs(a - b) / WALK_SPEED_M_S
