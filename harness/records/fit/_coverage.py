"""Whether a records folder holds enough to fit a twin: checked from the Parquet footers
(and only the key columns where a row group's statistics do not tell), before any work.
"""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq

from harness.records._format import SECONDS, Manifest, RecordsError
from harness.records._tables import parquet_file

MIN_DAYS = 7
"""Fewest recorded days a fit needs: a week shows rotations, absences and a person's habits."""


def _values(f: pq.ParquetFile, column: str) -> set[int]:
    """The distinct values of an int column: from each row group's statistics where its
    minimum is its maximum, else read."""
    index = f.schema_arrow.get_field_index(column)
    found: set[int] = set()
    for g in range(f.num_row_groups):
        s = f.metadata.row_group(g).column(index).statistics
        if s is not None and s.has_min_max and s.min == s.max:
            if f.metadata.row_group(g).num_rows:
                found.add(int(s.min))
            continue
        found.update(np.unique(f.read_row_group(g, columns=[column]).column(0).to_numpy()).tolist())
    return found


def coverage(m: Manifest) -> tuple[set[int], set[int]]:
    """The posts and the days the ``seconds`` files hold worker-shifts of."""
    posts: set[int] = set()
    days: set[int] = set()
    for path in m.seconds_files():
        f = parquet_file(path, m.where(path))
        posts |= _values(f, "post")
        days |= _values(f, "day")
    return posts, days


def check_fittable(m: Manifest) -> None:
    """Refuse a folder too short to fit, or a post nobody was recorded at, in one line."""
    if m.days < MIN_DAYS:
        raise RecordsError(
            f"records fit needs at least {MIN_DAYS} recorded days (rotations, absences, a "
            f"person's habits); records.json has days.history + days.evaluate = {m.days}"
        )
    posts, days = coverage(m)
    empty = [p for p in range(1, m.posts + 1) if p not in posts]
    if empty:
        shown = ", ".join(map(str, empty[:10])) + (" …" if len(empty) > 10 else "")
        raise RecordsError(
            f"{SECONDS}/: no worker-shifts at post{'s' if len(empty) > 1 else ''} {shown} of "
            f"1..{m.posts}: records fit needs every post's people to fit the twin's"
        )
    if len(days) < MIN_DAYS:
        raise RecordsError(
            f"{SECONDS}/: worker-shifts on {len(days)} days ({sorted(days)[:10]}); records fit "
            f"needs at least {MIN_DAYS} recorded days"
        )
