"""Sources of the worker arrays of a post-shift: the signal fidelity and the pixel fidelity.

Both return :class:`sim.SimWorker` lists whose ``record`` holds what perception gives
(``core.WorkerShift``: ``(T,)`` area ids, ``(T, 14)`` keypoint speeds in px/s) and whose other
fields hold the ground truth, so the scoring code does not know which fidelity it runs.

The signal fidelity is the simulator's arrays with its measurement-noise model; the pixel
fidelity renders frames and runs perception (:mod:`harness.evaluation.pixels`, imported only
where pixels are used: it brings torch, seconds of a Ray worker's start).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import sim
from harness.runtime.errors import HarnessError
from harness.runtime.inputs import check_count
from harness.runtime.settings import FIDELITIES
from harness.weights import DEFAULT_KEYPOINT_WEIGHTS


class WorkerSource(Protocol):
    """What the scoring task asks for: the workers of one post-shift."""

    def __call__(
        self, scenario: sim.Scenario, *, post: int, day: int, shift: str
    ) -> list[sim.SimWorker]: ...


def signal_workers(
    scenario: sim.Scenario, *, post: int, day: int, shift: str
) -> list[sim.SimWorker]:
    """Signal fidelity: the simulator's arrays with its fitted measurement-noise model."""
    return sim.simulate_workers(scenario, post=post, day=day, shift=shift)


@dataclass(frozen=True)
class MixedSource:
    """``source`` on ``days`` (the pixel fidelity, or a stored history read back), the signal
    fidelity on every other day."""

    source: WorkerSource
    days: frozenset[int]

    def __call__(
        self, scenario: sim.Scenario, *, post: int, day: int, shift: str
    ) -> list[sim.SimWorker]:
        source = self.source if day in self.days else signal_workers
        return source(scenario, post=post, day=day, shift=shift)


def history_tag(source: WorkerSource) -> str:
    """What tells a history made by ``source`` apart in the cache: ``""`` for the signal
    fidelity, the weights' sha256 and α for the pixel fidelity."""
    if source is signal_workers:
        return ""
    from harness.evaluation.pixels import PixelSource, weights_sha256

    if isinstance(source, PixelSource):
        return f"pixel-{weights_sha256(source.weights)[:12]}-a{source.alpha:g}"
    raise ValueError(f"a stored history comes from the signal or pixel source, not {source!r}")


def make_source(
    fidelity: str,
    *,
    weights: str | None = None,
    alpha: float = 0.05,
    pixel_days: frozenset[int] = frozenset(),
) -> WorkerSource:
    """The source of a fidelity (``"signal"`` or ``"pixel"``, which needs ``weights``);
    ``pixel_days`` turn a signal source into a :class:`MixedSource`."""
    if fidelity not in ("signal", "pixel"):
        raise ValueError(f"`fidelity` must be 'signal' or 'pixel', got {fidelity!r}")
    if fidelity == "signal" and not pixel_days:
        return signal_workers
    if weights is None:
        raise ValueError("the pixel fidelity needs `weights` (keypoint-network weights)")
    from harness.evaluation.pixels import PixelSource

    pixel = PixelSource(weights=weights, alpha=alpha)
    return pixel if fidelity == "pixel" else MixedSource(pixel, frozenset(pixel_days))


@dataclass(frozen=True)
class Fidelities:
    """Where a run's worker-shifts come from: the evaluated days' and the history's fidelity.

    ``evaluate`` is the scenario's fidelity; with ``"signal"``, ``pixel_days`` still go
    through the pixel path (``run --pixel-days``). ``history`` makes the stored history
    (``run --history-fidelity``), which every post database reads.
    """

    evaluate: str
    history: str = "signal"
    pixel_days: frozenset[int] = frozenset()
    weights: str | None = None
    alpha: float = 0.05

    @property
    def uses_pixels(self) -> bool:
        """Whether anything goes through the keypoint network."""
        return "pixel" in (self.evaluate, self.history) or bool(self.pixel_days)

    def evaluation_source(self) -> WorkerSource:
        """The source of the evaluated shifts' workers."""
        return make_source(self.evaluate, weights=self.weights, alpha=self.alpha,
                           pixel_days=self.pixel_days)  # fmt: skip

    def history_source(self) -> WorkerSource:
        """The source of the stored history."""
        return make_source(self.history, weights=self.weights, alpha=self.alpha)

    def describe(self, scenario: sim.Scenario) -> dict[str, object]:
        """``results.json``'s ``perception``: which days went through which path, and the
        keypoint network's weights (path and sha256) where any did."""
        days = list(scenario.evaluate_days)
        pixel = days if self.evaluate == "pixel" else sorted(self.pixel_days)
        weights = self.weights if self.uses_pixels else None
        if weights:
            from harness.evaluation.pixels import onnx_fallback, weights_sha256
        return {
            "evaluated_days": {"pixel": pixel, "signal": [d for d in days if d not in pixel]},
            "history": self.history,
            "alpha": self.alpha,
            "keypoint_weights": weights,
            "keypoint_weights_sha256": weights_sha256(weights) if weights else None,
            "onnx_fallback": onnx_fallback(weights) or None if weights else None,
        }

    @classmethod
    def of_results(cls, fidelity: str, perception: dict[str, object]) -> Fidelities:
        """The fidelities a run was made with, from its ``fidelity`` and ``perception``
        (see :meth:`describe`)."""
        evaluated = perception.get("evaluated_days") or {}
        if not isinstance(evaluated, dict):
            raise HarnessError("results.json: `perception.evaluated_days` must be an object")
        signal = fidelity == "signal"
        return cls(
            evaluate=fidelity,
            history=str(perception.get("history", "signal")),
            pixel_days=frozenset(evaluated.get("pixel", ()) if signal else ()),
            weights=perception.get("keypoint_weights"),  # type: ignore[arg-type]
            alpha=float(perception.get("alpha", 0.05)),  # type: ignore[arg-type]
        )

    @classmethod
    def of_options(
        cls,
        scenario: sim.Scenario,
        *,
        fidelity: str | None,
        history: str,
        pixel_days: int,
        weights: str | Path | None,
        alpha: float,
    ) -> Fidelities:
        """The fidelities ``run``'s options ask of ``scenario`` (``--fidelity``: the evaluated
        days', the scenario's unless given; ``--history-fidelity``; ``--pixel-days``: the first
        evaluated days through the pixel path; ``--keypoint-weights``), checked (the weights
        load) before any work; a HarnessError names the wrong option."""
        for option, value in (("--fidelity", fidelity), ("--history-fidelity", history)):
            if value is not None and value not in FIDELITIES:
                raise HarnessError(f"{option} must be one of {FIDELITIES}, got {value!r}")
        evaluate = fidelity or scenario.fidelity
        days = list(scenario.evaluate_days)
        check_count("pixel-days", pixel_days, low=0)
        if pixel_days > len(days):
            raise HarnessError(
                f"--pixel-days must be at most the {len(days)} evaluated days, got {pixel_days}"
            )
        if pixel_days and evaluate == "pixel":
            raise HarnessError("--pixel-days applies to fidelity signal; this run is all pixel")
        fidelities = cls(
            evaluate=evaluate,
            history=history,
            pixel_days=frozenset(days[:pixel_days]),
            weights=str(Path(weights) if weights else DEFAULT_KEYPOINT_WEIGHTS),
            alpha=alpha,
        )
        if fidelities.uses_pixels:
            from harness.evaluation.pixels import check_keypoint_weights  # torch: only with pixels

            check_keypoint_weights(fidelities.weights)
        return fidelities
