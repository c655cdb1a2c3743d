"""The safety-hazard tracking model (MODEL.md): arrays and small dataclasses in and out."""

from __future__ import annotations

from core._confusion import confusion_matrix
from core._decisions import (
    LOW_PROFICIENCY,
    OFF_POST,
    RootCause,
    RootCauseTable,
    WorkerDecision,
    decide_shift,
    flags,
    track_shift,
)
from core._errors import ModelInputError
from core._hazard import (
    actual_correlation,
    dwell_row,
    dwell_times,
    hazard_degree,
    hazard_post_sets,
)
from core._params import DIRECTIONS, HISTORY_POOLS, PROFICIENCY_SECONDS, ModelParams
from core._scores import (
    HistoryStats,
    HistoryWindow,
    database_days,
    database_pools,
    history_stats,
    in_database,
    onpost_state,
    onpost_state_batch,
    proficiency,
    proficiency_batch,
    proficiency_floors,
    proficiency_seconds,
)
from core._types import (
    FOOT_KEYPOINTS,
    KEYPOINTS,
    LEVEL_NAMES,
    N_KEYPOINTS,
    PostHistory,
    WorkerShift,
)

__all__ = [
    "DIRECTIONS",
    "FOOT_KEYPOINTS",
    "HISTORY_POOLS",
    "KEYPOINTS",
    "LEVEL_NAMES",
    "LOW_PROFICIENCY",
    "N_KEYPOINTS",
    "OFF_POST",
    "PROFICIENCY_SECONDS",
    "HistoryStats",
    "HistoryWindow",
    "ModelInputError",
    "ModelParams",
    "PostHistory",
    "RootCause",
    "RootCauseTable",
    "WorkerDecision",
    "WorkerShift",
    "actual_correlation",
    "confusion_matrix",
    "database_days",
    "database_pools",
    "decide_shift",
    "dwell_row",
    "dwell_times",
    "flags",
    "hazard_degree",
    "hazard_post_sets",
    "history_stats",
    "in_database",
    "onpost_state",
    "onpost_state_batch",
    "proficiency",
    "proficiency_batch",
    "proficiency_floors",
    "proficiency_seconds",
    "track_shift",
]
