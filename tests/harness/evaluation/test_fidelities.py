"""One contract for every source of worker arrays: the signal and the pixel fidelity, and a
records folder."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import sim
from core import N_KEYPOINTS
from harness.adapters.ray_cluster import ray_session
from harness.evaluation.fidelities import WorkerSource, make_source, signal_workers
from harness.evaluation.pixels import (
    Chunk,
    PixelSource,
    perceive_worker,
    render_worker,
    true_speeds,
)
from harness.records import RecordsSource, export_scenario, load

SHORT = {
    "name": "short",
    "seed": 11,
    "line": {"posts": 3},
    "shifts": {"per_day": 2, "length_s": 480, "breaks": [[240, 300]]},
    "days": {"history": 2, "evaluate": 1},
    "workers": {"per_post": 1},
}


class SourceContract:
    """Assertions every source of worker arrays must pass; subclasses give ``source``."""

    @pytest.fixture
    def source(self) -> WorkerSource:
        raise NotImplementedError

    @pytest.fixture
    def scenario(self) -> sim.Scenario:
        return sim.load_scenario(SHORT)

    @pytest.fixture
    def workers(self, source: WorkerSource, scenario: sim.Scenario) -> list[sim.SimWorker]:
        return source(scenario, post=2, day=3, shift="day")

    def test_arrays_have_the_signal_shapes_dtypes_and_ranges(
        self, workers: list[sim.SimWorker], scenario: sim.Scenario
    ) -> None:
        t = scenario.samples_per_shift
        assert len(workers) == scenario.workers.per_post
        for w in workers:
            assert w.record.post == 2
            assert w.record.positions.shape == (t,)
            assert np.issubdtype(w.record.positions.dtype, np.integer)
            assert set(np.unique(w.record.positions)) <= set(range(scenario.n_posts + 1))
            assert w.record.speeds.shape == (t, N_KEYPOINTS)
            assert w.record.speeds.dtype == np.float32
            assert np.isfinite(w.record.speeds).all() and (w.record.speeds >= 0).all()

    def test_positions_agree_with_the_truth(self, workers: list[sim.SimWorker]) -> None:
        for w in workers:
            assert (w.record.positions == w.true_positions).mean() >= 0.9

    def test_speeds_follow_the_true_speeds(
        self, source: WorkerSource, scenario: sim.Scenario
    ) -> None:
        (w,) = sim.simulate_workers(scenario, post=2, day=3, shift="day", keypoints=True)
        (measured,) = source(scenario, post=2, day=3, shift="day")
        truth = true_speeds(w)
        speeds = measured.record.speeds
        assert np.corrcoef(speeds.ravel(), truth.ravel())[0, 1] > 0.3
        assert np.median(speeds[truth > 10]) > 2 * np.median(speeds[truth < 3])

    def test_the_same_seed_gives_the_same_arrays(
        self, source: WorkerSource, scenario: sim.Scenario, workers: list[sim.SimWorker]
    ) -> None:
        again = source(scenario, post=2, day=3, shift="day")
        for a, b in zip(workers, again, strict=True):
            assert a.record.worker == b.record.worker
            np.testing.assert_array_equal(a.record.positions, b.record.positions)
            np.testing.assert_array_equal(a.record.speeds, b.record.speeds)


class TestSignalSource(SourceContract):
    @pytest.fixture
    def source(self) -> WorkerSource:
        return signal_workers


class TestPixelSource(SourceContract):
    @pytest.fixture
    def source(self, tiny_keypoint_weights: Path) -> WorkerSource:
        return make_source("pixel", weights=str(tiny_keypoint_weights))

    def test_perception_carries_its_state_across_chunks(
        self, source: PixelSource, scenario: sim.Scenario
    ) -> None:
        (w,) = sim.simulate_workers(scenario, post=2, day=3, shift="day", keypoints=True)
        areas = np.unique(w.true_positions)
        rng = np.random.default_rng(0)
        chunks = list(render_worker(w, areas=areas, seed=scenario.seed, rng=rng))
        whole = Chunk(
            *(np.concatenate([getattr(c, f) for c in chunks]) for f in Chunk.__annotations__)
        )
        pieces = [
            Chunk(whole.frames[i : i + 37], whole.boxes[i : i + 37], whole.tiles[i : i + 37])
            for i in range(0, len(whole.tiles), 37)
        ]
        kwargs = {"net": source.net, "areas": areas, "alpha": 0.05, "rate_hz": 1.0}
        positions, speeds = perceive_worker([whole], **kwargs)
        chunked_positions, chunked_speeds = perceive_worker(pieces, **kwargs)
        np.testing.assert_array_equal(positions, chunked_positions)
        np.testing.assert_allclose(speeds, chunked_speeds, atol=1e-3)


@pytest.fixture(scope="module")
def ray_running() -> Iterator[int]:
    """A local Ray session for the module's tests; its tasks in flight."""
    with ray_session(address=None, workers=1, timeout=10) as session:
        yield session.max_in_flight


@pytest.fixture(scope="module", params=["labelled", "unlabelled"])
def short_records(
    request: pytest.FixtureRequest, ray_running: int, tmp_path_factory: pytest.TempPathFactory
) -> RecordsSource:
    """:data:`SHORT` exported as a records folder (with or without its labels) and stored as
    ``run`` reads one."""
    folder = tmp_path_factory.mktemp("records") / "short"
    export_scenario(sim.load_scenario(SHORT), folder)
    if request.param == "unlabelled":
        shutil.rmtree(folder / "labels")
    cache = folder.parent / "cache"
    _, source = load(folder).prepare(cache, max_in_flight=ray_running, progress=False)
    return source


class TestRecordsSource(SourceContract):
    @pytest.fixture
    def source(self, short_records: RecordsSource) -> WorkerSource:
        return short_records


def test_make_source_names_a_bad_fidelity() -> None:
    with pytest.raises(ValueError, match="`fidelity`"):
        make_source("pixels")
    with pytest.raises(ValueError, match="`weights`"):
        make_source("pixel")
