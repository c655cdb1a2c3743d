"""The Optuna adapter: a damaged journal is reported, never used; one driver per study; a
study MLflow knows cannot silently restart; every trial reaches MLflow."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import mlflow
import optuna
import pytest

from harness.adapters import optuna_storage, optuna_studies
from harness.runtime.errors import HarnessError
from harness.runtime.interrupts import ENV_FAULT, Interrupted


def _journal(tmp_path: Path, trials: int = 6) -> optuna_storage.StudyStore:
    store = optuna_storage.open_storage(tmp_path / "s.journal")
    study, _ = optuna_studies.create_study(name="s", store=store, directions=["maximize"], seed=0)
    space = {"x": optuna_studies.float_range(0.0, 1.0)}
    optuna_studies.optimize(
        study,
        distributions=space,
        evaluate_batch=lambda asked: {n: (p["x"],) for n, p in asked},
        n_complete=trials,
        batch_size=3,
        on_batch=lambda _: store.record(),
    )
    return store


def _lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def test_an_intact_journal_opens_and_keeps_its_trials(tmp_path):
    _journal(tmp_path)
    store = optuna_storage.open_storage(tmp_path / "s.journal")
    study, resumed = optuna_studies.create_study(
        name="s", store=store, directions=["maximize"], seed=0
    )
    assert resumed and optuna_studies.count(study, optuna_studies.COMPLETE) == 6


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda lines: lines[:3] + lines[4:], "lost records"),  # a deleted line
        (lambda lines: [], "lost records"),  # emptied
        (lambda lines: [*lines[:-1], lines[-1].replace(b'"', b"'", 2)], "changed or damaged"),
    ],
    ids=["deleted-line", "emptied", "garbled"],
)
def test_a_damaged_journal_is_reported_not_used(tmp_path, damage, message):
    store = _journal(tmp_path)
    path = Path(store.description)
    path.write_bytes(b"".join(damage(_lines(path))))
    with pytest.raises(HarnessError, match=message) as info:
        optuna_storage.open_storage(path)
    assert str(path) in str(info.value) and "restore" in str(info.value)


def test_a_torn_last_line_names_the_line_and_the_fix(tmp_path):
    store = _journal(tmp_path)
    path = Path(store.description)
    with path.open("ab") as f:
        f.write(b'{"op_code": 5, "worker_id": "x", "trial_id"')  # a crash mid-write
    with pytest.raises(HarnessError, match=r"line \d+ is incomplete, garbled"):
        optuna_storage.open_storage(path)


def test_a_second_driver_is_refused_with_one_line(tmp_path):
    store = optuna_storage.open_storage(tmp_path / "s.journal")
    with optuna_storage.exclusive(store, "a"):
        second = optuna_storage.open_storage(tmp_path / "s.journal")
        with (
            pytest.raises(HarnessError, match="in use by another tune driver") as info,
            optuna_storage.exclusive(second, "a"),
        ):
            pass
        assert "pid" in str(info.value)
    with optuna_storage.exclusive(store, "a"):  # released: usable again
        pass


def test_an_rdb_study_is_held_by_one_driver_and_a_dead_ones_claim_is_taken_over(tmp_path):
    url = f"sqlite:///{tmp_path / 'o.db'}"
    store = optuna_storage.open_storage(url)
    with optuna_storage.exclusive(store, "s"):
        second = optuna_storage.open_storage(url)
        with (
            pytest.raises(HarnessError, match=f"is driven by pid {os.getpid()} on") as info,
            optuna_storage.exclusive(second, "s"),
        ):
            pass
        assert "lock study" in str(info.value)
        with optuna_storage.exclusive(second, "other"):  # another study: its own driver
            pass
    lock = optuna_storage.LOCK_PREFIX + "s"
    assert lock not in optuna_storage.study_names(store)  # released with the driver
    dead = store.storage.create_new_study([optuna.study.StudyDirection.MINIMIZE], lock)
    store.storage.set_study_user_attr(  # a SIGKILLed driver of this host: its pid is gone
        dead, "driver", {"host": socket.gethostname(), "pid": 2**22 + 7, "heartbeat": time.time()}
    )
    with optuna_storage.exclusive(optuna_storage.open_storage(url), "s"):
        pass
    elsewhere = store.storage.create_new_study([optuna.study.StudyDirection.MINIMIZE], lock)
    store.storage.set_study_user_attr(  # a live driver on another host: respected
        elsewhere, "driver", {"host": "other-host", "pid": 1, "heartbeat": time.time()}
    )
    with (
        pytest.raises(HarnessError, match="driven by pid 1 on other-host"),
        optuna_storage.exclusive(optuna_storage.open_storage(url), "s"),
    ):
        pass


def test_complete_trials_count_not_failed_ones(tmp_path):
    store = optuna_storage.open_storage(tmp_path / "s.journal")
    study, _ = optuna_studies.create_study(name="s", store=store, directions=["maximize"], seed=0)
    calls = []

    def every_other_fails(asked):
        calls.append(len(asked))
        return {n: ((p["x"],) if n % 2 else "boom") for n, p in asked}

    optuna_studies.optimize(
        study,
        distributions={"x": optuna_studies.float_range(0.0, 1.0)},
        evaluate_batch=every_other_fails,
        n_complete=4,
        batch_size=2,
        max_failures=10,
    )
    assert optuna_studies.count(study, optuna_studies.COMPLETE) == 4
    assert optuna_studies.count(study, optuna_studies.FAIL) >= 4


def test_a_lost_study_that_mlflow_knows_is_an_error_not_a_fresh_start(tune_yaml, tmp_path):
    from harness.adapters.mlflow_tracking import log_trials, tracked_run
    from harness.commands.preflight import ComputeOptions
    from harness.commands.tune import make_tune_config

    with tracked_run(
        experiment="e", run_name="tune-x", params={}, command="tune", tags={"optuna.study": "x"}
    ) as run_id:
        log_trials([(0, {"f": 0.5}, {"a": 1}, True)], run_id=run_id)
    with pytest.raises(HarnessError, match=r"logged 1 trials of study 'x', but .* holds no"):
        make_tune_config(tune_yaml, "out", study_name="x", compute=ComputeOptions(workers=1))


@pytest.mark.slow
def test_an_interrupted_study_loses_no_trial_in_mlflow(tune_yaml, monkeypatch):
    from harness.commands.preflight import ComputeOptions
    from harness.commands.tune import make_tune_config, tune

    def config():
        return make_tune_config(tune_yaml, "out", n_trials=8, study_name="cut", batch_size=4,
                                compute=ComputeOptions(workers=2, progress=False),
                                holdout_days=1)  # fmt: skip

    monkeypatch.setenv(ENV_FAULT, "trials:SIGTERM")  # after the first batch is logged
    with pytest.raises(Interrupted):
        tune(config())
    monkeypatch.delenv(ENV_FAULT)
    (run,) = mlflow.search_runs(search_all_experiments=True, output_format="list")
    history = mlflow.MlflowClient().get_metric_history(run.info.run_id, "trial.complete")
    assert sorted(m.step for m in history) == [0, 1, 2, 3]  # the first batch, before the cut
    assert run.info.status == "KILLED"
    summary = tune(config())
    assert summary["resumed"] and summary["trials_complete"] == 8
    history = mlflow.MlflowClient().get_metric_history(run.info.run_id, "trial.complete")
    assert sorted(m.step for m in history) == list(range(8))  # each once


def _append_trial(path: Path, x: float) -> None:
    """A valid COMPLETE trial written to the journal by Optuna, past any guard."""
    import optuna
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    study = optuna.load_study(study_name="s", storage=JournalStorage(JournalFileBackend(str(path))))
    study.add_trial(optuna.trial.create_trial(params={"x": x}, values=[x],
                                              distributions={"x": optuna_studies.float_range(0, 1)}))  # fmt: skip


def test_records_optunas_api_appends_are_the_studys_and_other_bytes_are_not(tmp_path):
    """optuna-dashboard writes a note (study system attributes) and user attributes through
    Optuna's API: the study resumes with them. Bytes that are no journal record are refused."""
    import optuna
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    store = _journal(tmp_path)
    path = Path(store.description)
    dashboard = JournalStorage(JournalFileBackend(str(path)))  # as optuna-dashboard opens it
    study = optuna.load_study(study_name="s", storage=dashboard)
    dashboard.set_study_system_attr(study._study_id, "dashboard:note_str:0", "a note")
    dashboard.set_study_system_attr(study._study_id, "dashboard:note_ver", 1)
    study.set_user_attr("reviewed_by", "ana")
    _append_trial(path, 0.999)  # a trial told by another tool
    resumed, _ = optuna_studies.create_study(
        name="s", store=optuna_storage.open_storage(path), directions=["maximize"], seed=0
    )
    assert resumed.user_attrs["reviewed_by"] == "ana"
    assert (
        resumed._storage.get_study_system_attrs(resumed._study_id)["dashboard:note_str:0"]
        == "a note"
    )
    assert optuna_studies.count(resumed, optuna_studies.COMPLETE) == 7
    with path.open("ab") as f:
        f.write(b'{"not": "an optuna record"}\n')
    with pytest.raises(HarnessError, match=r"line \d+ is incomplete, garbled or not an Optuna"):
        optuna_storage.open_storage(path)


def test_the_last_batch_of_a_killed_driver_is_kept(tmp_path):
    store = _journal(tmp_path)
    path = Path(store.description)
    store.record()
    _append_trial(path, 0.5)  # its batch, written before it could record again
    study, _ = optuna_studies.create_study(
        name="s", store=optuna_storage.open_storage(path), directions=["maximize"], seed=0
    )
    assert optuna_studies.count(study, optuna_studies.COMPLETE) == 7


def test_a_hard_linked_journal_is_the_same_study_for_the_driver_lock(tmp_path):
    store = optuna_storage.open_storage(tmp_path / "h.journal")
    (tmp_path / "h2.journal").hardlink_to(tmp_path / "h.journal")
    with optuna_storage.exclusive(store, "a"):
        linked = optuna_storage.open_storage(tmp_path / "h2.journal")
        with (
            pytest.raises(HarnessError, match="in use by another tune driver"),
            optuna_storage.exclusive(linked, "a"),
        ):
            pass


def test_parameters_an_evaluation_sets_are_the_trials_params(tmp_path):
    """A sweep's thresholds are stored as params, so study.best_trial and the dashboard
    show them (the sampler never asks for them)."""
    store = optuna_storage.open_storage(tmp_path / "s.journal")
    study, _ = optuna_studies.create_study(name="s", store=store, directions=["maximize"], seed=0)
    swept = optuna_studies.float_range(0.0, 1.0)

    def sweep(asked):
        return {
            n: optuna_studies.Scored((p["x"],), {"swept": {"t": p["x"] / 2}},
                                     {"t": (p["x"] / 2, swept)})
            for n, p in asked
        }  # fmt: skip

    optuna_studies.optimize(
        study, distributions={"x": optuna_studies.float_range(0.0, 1.0)}, evaluate_batch=sweep,
        n_complete=6, batch_size=3, store=store,
    )  # fmt: skip
    for t in study.trials:
        assert t.params["t"] == pytest.approx(t.params["x"] / 2)
    assert study.best_trial.params["t"] == pytest.approx(study.best_value / 2)


def test_a_mark_repeats_a_recommendation_and_is_not_counted(tmp_path):
    store = _journal(tmp_path, trials=4)
    study = optuna_studies.create_study(name="s", store=store, directions=["maximize"], seed=0)[0]
    x = optuna_studies.float_range(0.0, 1.0, step=0.25)
    number = optuna_studies.mark(
        study, params={"x": (1.3, x)}, values=[0.5], attrs={"repeats": "start"}
    )  # a start off the range and its grid is stored with the range widened
    marked = study.trials[number]
    assert number == 4 and marked.params == {"x": 1.3} and marked.value == 0.5
    assert marked.user_attrs == {optuna_studies.MARK: True, "repeats": "start"}
    assert len(optuna_studies.complete(study)) == 4  # the study's own trials
    optuna_studies.optimize(  # a resumed session still runs to 6 of its own
        study, distributions={"x": optuna_studies.float_range(0.0, 1.0)},
        evaluate_batch=lambda asked: {n: (p["x"],) for n, p in asked}, n_complete=6,
        batch_size=3,
    )  # fmt: skip
    assert len(optuna_studies.complete(study)) == 6 and len(study.trials) == 7


def test_a_studys_trials_read_as_plain_rows(tmp_path):
    store = optuna_storage.open_storage(tmp_path / "s.journal")
    study, _ = optuna_studies.create_study(name="s", store=store, directions=["maximize"], seed=0)
    optuna_studies.set_study_attr(study, "config", {"seed": 3})
    x = optuna_studies.float_range(0.0, 1.0, step=0.1)
    optuna_studies.enqueue(study, {"x": 0.55}, attrs={"start": True})  # off the grid: as given
    optuna_studies.optimize(
        study, distributions={"x": x}, n_complete=3, batch_size=2,
        evaluate_batch=lambda asked: {n: (p["x"],) if n else "no score" for n, p in asked},
    )  # fmt: skip
    rows = optuna_studies.trials(study)
    assert [(t.number, t.state) for t in rows][:2] == [(0, "FAIL"), (1, "COMPLETE")]
    assert rows[0].params == {"x": 0.55} and rows[0].values == ()
    assert rows[0].attrs == {"start": True, "fail_reason": "no score"}
    frozen = study.trials  # what Optuna holds, row for row
    assert [(t.params, tuple(t.values or ()), t.user_attrs) for t in frozen] == [
        (t.params, t.values, t.attrs) for t in rows
    ]
    assert optuna_studies.count(study) == len(rows) == 4
    assert optuna_studies.count(study, optuna_studies.FAIL) == 1
    assert optuna_studies.trials(study, *optuna_studies.FINISHED) == rows
    assert optuna_studies.best_trial(study).number == study.best_trial.number
    assert optuna_studies.study_attrs(study) == {"config": {"seed": 3}}
    assert optuna_studies.name_of(study) == "s"


def test_the_pareto_front_leaves_out_the_marks(tmp_path):
    store = optuna_storage.open_storage(tmp_path / "s.journal")
    study, _ = optuna_studies.create_study(
        name="s", store=store, directions=["maximize", "maximize"], seed=0
    )
    x = optuna_studies.float_range(0.0, 1.0)
    optuna_studies.optimize(
        study, distributions={"x": x}, n_complete=6, batch_size=3,
        evaluate_batch=lambda asked: {n: (p["x"], 1 - p["x"]) for n, p in asked},
    )  # fmt: skip
    number = optuna_studies.mark(study, params={"x": (0.5, x)}, values=[0.5, 0.5], attrs={})
    front = optuna_studies.pareto_front(study)
    assert len(front) == 6 and number not in {t.number for t in front}
    assert {t.number for t in study.best_trials} == {t.number for t in front} | {number}


def test_the_sequential_loop_samples_the_space_in_order_and_prunes_through_report(tmp_path):
    store = optuna_storage.open_storage(tmp_path / "s.journal")
    study, _ = optuna_studies.create_study(
        name="s", store=store, directions=["maximize"], seed=0,
        pruner=optuna_studies.median_pruner(startup_trials=2, warmup_steps=0),
    )  # fmt: skip
    space = {
        "c": optuna_studies.categorical([8, 16]),
        "d": optuna_studies.int_range(2, 4),
        "lr": optuna_studies.float_range(1e-3, 1e-2, log=True),
    }
    seen = []

    def objective(trial: optuna_studies.Running) -> float:
        seen.append((trial.number, list(trial.params)))
        for step in range(3):
            trial.report(-trial.number, step)  # every later trial is worse: pruned
        return -trial.number

    optuna_studies.optimize_sequential(study, objective, distributions=space, n_trials=4)
    assert seen == [(n, ["c", "d", "lr"]) for n in range(4)]
    assert [t.state for t in optuna_studies.trials(study)] == ["COMPLETE"] * 2 + ["PRUNED"] * 2
    assert all(1e-3 <= t.params["lr"] <= 1e-2 for t in optuna_studies.trials(study))
