"""Plant records: a plant's own recorded shifts in a documented format (``docs/records.md``).

A records folder feeds the same rolling post databases, scoring, decisions, metrics and
evidence as a scenario (``run SOURCE`` detects it by its ``records.json``);
``records export`` writes a simulated scenario in the format, its truth as labels.
"""

from __future__ import annotations

from harness.records._export import export_scenario
from harness.records._format import (
    FORMAT_VERSION,
    MANIFEST,
    MAX_NAN_RUN_S,
    TRAIT_COLUMNS,
    Manifest,
    RecordsError,
    is_records,
    read_manifest,
)
from harness.records._ingest import read_post
from harness.records._source import (
    Records,
    RecordsSource,
    load,
    unavailable_metrics,
)
from harness.records._tables import check_labels

__all__ = [
    "FORMAT_VERSION",
    "MANIFEST",
    "MAX_NAN_RUN_S",
    "TRAIT_COLUMNS",
    "Manifest",
    "Records",
    "RecordsError",
    "RecordsSource",
    "check_labels",
    "export_scenario",
    "is_records",
    "load",
    "read_manifest",
    "read_post",
    "unavailable_metrics",
]
