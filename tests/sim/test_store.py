from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest

from core import WorkerShift
from sim import HistoryStore, Scenario, StoreError, build_history, simulate_workers


def _records(small: Scenario, post: int, day: int) -> list[WorkerShift]:
    return [w.record for w in simulate_workers(small, post=post, day=day, shift="day")]


def test_round_trip_is_exact_and_sorted_by_day(small: Scenario, tmp_path) -> None:
    store = HistoryStore(tmp_path)
    written = {day: _records(small, 2, day) for day in (3, 1, 2)}
    for day, records in written.items():
        store.write(post=2, shift="day", day=day, records=records)
    assert store.days(post=2, shift="day") == [1, 2, 3]
    history = store.read(post=2, shift="day")
    assert history.m == 3
    for i, day in enumerate((1, 2, 3)):
        assert np.array_equal(history.positions[i], written[day][0].positions)
        assert np.array_equal(history.speeds[i], written[day][0].speeds)
    assert history.speeds.dtype == np.float32
    some = store.read(post=2, shift="day", days=[3])
    assert np.array_equal(some.speeds[0], written[3][0].speeds)


def test_an_interrupted_write_leaves_the_store_readable(small, tmp_path, monkeypatch) -> None:
    store = HistoryStore(tmp_path)
    store.write(post=1, shift="day", day=1, records=_records(small, 1, 1))
    before = store.read(post=1, shift="day")
    real = pq.write_table

    def crash(table, where, **kwargs):
        real(table.slice(0, 0), where, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(pq, "write_table", crash)
    with pytest.raises(KeyboardInterrupt):
        store.write(post=1, shift="day", day=1, records=_records(small, 1, 2))
    with pytest.raises(KeyboardInterrupt):
        store.write(post=1, shift="day", day=2, records=_records(small, 1, 2))
    monkeypatch.undo()
    after = store.read(post=1, shift="day")
    assert store.days(post=1, shift="day") == [1]
    assert np.array_equal(after.speeds, before.speeds)
    assert not list(tmp_path.rglob("*.tmp"))


def test_missing_and_corrupt_partitions_name_the_post_and_file(small, tmp_path) -> None:
    store = HistoryStore(tmp_path)
    with pytest.raises(StoreError, match="post 3"):
        store.read(post=3, shift="day")
    store.write(post=3, shift="day", day=1, records=_records(small, 3, 1))
    with pytest.raises(StoreError, match=r"post 3.*day=2\.parquet"):
        store.read(post=3, shift="day", days=[1, 2])
    (tmp_path / "post=3" / "shift=day" / "day=1.parquet").write_bytes(b"not parquet")
    with pytest.raises(StoreError, match=r"post 3.*day=1\.parquet"):
        store.read(post=3, shift="day")


def test_write_checks_its_records(small, tmp_path) -> None:
    store = HistoryStore(tmp_path)
    with pytest.raises(StoreError, match="post 1"):
        store.write(post=1, shift="day", day=1, records=_records(small, 2, 1))
    with pytest.raises(StoreError, match="`samples` is needed"):
        store.write(post=1, shift="day", day=1, records=[])


def test_a_day_nobody_worked_reads_as_no_records(small, tmp_path) -> None:
    store = HistoryStore(tmp_path)
    store.write(post=1, shift="day", day=1, records=[], samples=small.samples_per_shift)
    store.write(post=1, shift="day", day=2, records=_records(small, 1, 2))
    empty = store.read(post=1, shift="day", days=[1])
    assert empty.positions.shape == (0, small.samples_per_shift) and empty.m == 0
    assert empty.speeds.shape == (0, small.samples_per_shift, 14)
    assert store.read(post=1, shift="day").m == 1 and store.damaged(post=1, shift="day") == []


def test_build_history_fills_every_history_day_once(small, tmp_path) -> None:
    store = HistoryStore(tmp_path)
    build_history(small, store, posts=[1, 2])
    for shift in small.shift_names:
        assert store.days(post=2, shift=shift) == list(small.history_days)
    assert store.days(post=3, shift="day") == []
    file = tmp_path / "post=1" / "shift=day" / "day=1.parquet"
    stamp = file.stat().st_mtime_ns
    build_history(small, store)
    assert file.stat().st_mtime_ns == stamp
    assert store.days(post=4, shift="night") == list(small.history_days)
    first = simulate_workers(small, post=4, day=2, shift="night")[0].record
    stored = store.read(post=4, shift="night", days=[2])
    assert np.array_equal(stored.speeds[0], first.speeds)


@pytest.mark.parametrize(
    ("source", "target", "found"),
    [
        (("a", 1, "day", 1), ("a", 1, "day", 2), "is post 1 day day 1"),  # another day
        (("a", 2, "day", 1), ("a", 1, "day", 1), "is post 2 day day 1"),  # another post
        (("a", 1, "day", 1), ("a", 1, "night", 1), "is post 1 day day 1"),  # another shift
        (("b", 1, "day", 1), ("a", 1, "day", 1), "of records 'b'"),  # another store
    ],
    ids=["day", "post", "shift", "store"],
)
def test_a_copied_history_file_is_damaged_and_rebuilt_not_used(
    small, tmp_path, source, target, found
) -> None:
    import shutil

    def file(store: str, post: int, shift: str, day: int):
        return tmp_path / store / f"post={post}" / f"shift={shift}" / f"day={day}.parquet"

    store_of, post, shift, day = source
    HistoryStore(tmp_path / store_of).write(post=post, shift=shift, day=day,
                                            records=_records(small, post, day))  # fmt: skip
    store_to, post, shift, day = target
    file(*target).parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(file(*source), file(*target))
    store = HistoryStore(tmp_path / store_to)
    with pytest.raises(StoreError, match=f"{found}.*copied or moved"):
        store.read(post=post, shift=shift, days=[day])
    assert store.damaged(post=post, shift=shift) == [day]
    rebuilt = build_history(small, store, posts=[post], days=[day])
    assert (post, shift, day) in rebuilt
    assert store.read(post=post, shift=shift, days=[day]).m == len(
        simulate_workers(small, post=post, day=day, shift=shift)
    )
