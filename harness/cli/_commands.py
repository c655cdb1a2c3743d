"""Every command and its options (implementations are imported inside each command, so
``--help`` imports nothing heavy)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import click

from harness.cli._app import (
    CORES,
    LOCAL_PATH,
    LOCATION,
    MAX_DAYS,
    MAX_SEED,
    MIN_EVAL_FRAMES,
    POSITIVE_SECONDS,
    SEED,
    AutoOrCount,
    Finite,
    cache_option,
    cli,
    command,
    compute_options,
    count,
    device_option,
    job_options,
    json_option,
    parse_channels,
    print_json,
    progress_option,
    timeout_option,
)
from harness.runtime.settings import FIDELITIES


@command(cli)
@click.argument("scenario", metavar="SOURCE", type=LOCATION)
@click.option("--out", type=LOCATION, metavar="DIR|URI", required=True,
              help="output folder, or s3://BUCKET/PREFIX")  # fmt: skip
@click.option("--fidelity", type=click.Choice(FIDELITIES), help="override the scenario's")
@click.option("--params", type=LOCAL_PATH, help="model parameters YAML (tune's best_params)")
@click.option(
    "--graders",
    default="auto",
    metavar="auto|truth|champion|latest|POST=VERSION,...",
    help="where the hazard levels come from: auto = registered champions trained on this "
    "scenario, else graders trained on demand (cached); truth = the true levels",
)
@click.option(
    "--keypoint-weights",
    type=LOCAL_PATH,
    help="keypoint-network weights for fidelity pixel [default: the shipped network]",
)
@click.option(
    "--pixel-days",
    type=click.IntRange(min=0),
    default=0,
    help="send the first N evaluated days through the pixel path (fidelity signal)",
)
@click.option(
    "--history-fidelity",
    type=click.Choice(FIDELITIES),
    default="signal",
    help="fidelity of the stored history the post databases hold (pixel: small scenarios)",
)
@job_options
def run(**kw: Any) -> int:
    """Run SOURCE end to end: score on Ray, write DIR/results.json, log to MLflow.

    SOURCE is a scenario YAML (simulated) or a records folder (a plant's recorded shifts,
    docs/records.md; found by its records.json).
    """
    from harness.commands.run import make_config
    from harness.commands.run import run as run_scenario

    config = make_config(
        kw["scenario"], kw["out"], fidelity=kw["fidelity"], params_path=kw["params"],
        compute=kw["compute"], cache_dir=kw["cache"], graders=kw["graders"],
        keypoint_weights=kw["keypoint_weights"], pixel_days=kw["pixel_days"],
        history_fidelity=kw["history_fidelity"],
    )  # fmt: skip
    results = run_scenario(config)
    m = results["metrics"]
    if kw["as_json"]:
        print_json({k: results[k] for k in ("scenario", "seed", "fidelity", "mlflow_run_id")}
                    | {"metrics": m, "out": str(config.out_dir)})  # fmt: skip
        return 0
    if m.get("available") is False:
        click.echo(f"metrics unavailable: {m['reason']}")
    else:
        rc = m["root_cause"]
        click.echo(
            f"root-cause F1 {rc['f1']:.3f} (precision {rc['precision']:.3f}, recall "
            f"{rc['recall']:.3f}); management AUC {m['management']['auc']:.3f}; training AUC "
            f"{m['training']['auc']:.3f}"
        )
    from harness.commands.report import sources_lines

    for line in sources_lines(results):
        click.echo(line)
    click.echo(f"results: {config.out_dir / 'results.json'}")
    click.echo(f"report:  {config.out_dir / 'report.html'}")
    click.echo(f"MLflow run {results['mlflow_run_id']}")
    return 0


@command(cli)
@click.option("--posts", type=count(1, 10_000), required=True,
              help="posts on the synthetic line")  # fmt: skip
@click.option("--days", type=count(1, MAX_DAYS), required=True,
              help="evaluated days (one shift a day)")  # fmt: skip
@click.option("--out", type=LOCAL_PATH, default=Path("runs/stress"),
              help="output folder")  # fmt: skip
@click.option("--length-s", type=count(1, 86_400), default=28_800, help="shift length (s, 1 Hz)")
@click.option("--history-days", type=count(1, MAX_DAYS), default=5, help="history days")
@click.option("--workers-per-post", type=count(1, 16), default=1,
              help="workers on each post-shift")  # fmt: skip
@click.option("--no-baseline", is_flag=True, help="skip the one-worker timing (no scaling)")
@job_options
def stress(**kw: Any) -> int:
    """Stress-test many posts in parallel: throughput, latency, memory, scaling."""
    from harness.commands.stress import make_stress_config
    from harness.commands.stress import stress as run_stress

    config = make_stress_config(
        posts=kw["posts"], days=kw["days"], out_dir=kw["out"], compute=kw["compute"],
        length_s=kw["length_s"], history_days=kw["history_days"], per_post=kw["workers_per_post"],
        baseline=not kw["no_baseline"], cache_dir=kw["cache"],
    )  # fmt: skip
    report = run_stress(config)
    print_json(report)
    if not kw["as_json"]:
        click.echo(f"stress report: {config.out_dir / 'stress.json'}")
    return 0


@command(cli)
@click.argument("source", type=LOCATION)
@click.option(
    "--out",
    type=LOCAL_PATH,
    help="where to write the report [default: the run folder]",
)
@click.option(
    "--worker", metavar="ID", help="also the evidence pages of every shift this worker worked"
)
@cache_option
@timeout_option
def report(**kw: Any) -> int:
    """(Re)build the HTML report of a run from its folder or its MLflow run id (SOURCE)."""
    from harness.commands.report import rebuild_report

    path, anchors = rebuild_report(kw["source"], out=kw["out"], timeout=kw["timeout"],
                                   worker=kw["worker"], cache_dir=kw["cache"])  # fmt: skip
    click.echo(f"report: {path}")
    if anchors:
        click.echo(
            f"evidence of {kw['worker']}: {path.resolve().as_uri()}#{anchors[0]}"
            + (f" and {len(anchors) - 1} more shift(s)" if len(anchors) > 1 else "")
        )
    return 0


def _names(ctx: Any, param: Any, value: str | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    names = tuple(n.strip() for n in value.split(",") if n.strip())
    if not names:
        raise click.BadParameter(f"expected comma-separated names, got {value!r}")
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise click.BadParameter(f"expected each name once, got {', '.join(twice)} more than once")
    return names


def _ranges(ctx: Any, param: Any, values: tuple[str, ...]) -> dict[str, tuple[float, float]]:
    out = {}
    for text in values:
        name, sep, bounds = text.partition("=")
        low, sep2, high = bounds.partition(":")
        try:
            if not (sep and sep2 and name.strip()):
                raise ValueError
            pair = (float(low), float(high))
        except ValueError:
            raise click.BadParameter(f"expected NAME=LOW:HIGH, got {text!r}") from None
        if not all(map(math.isfinite, pair)):
            raise click.BadParameter(f"expected finite bounds, got {text!r}")
        out[name.strip()] = pair
    return out


@command(cli)
@click.argument("scenario", metavar="SOURCE", type=LOCATION)
@click.option("--out", type=LOCATION, metavar="DIR|URI", required=True,
              help="output folder or s3://BUCKET/PREFIX (best_params.yaml, …)")  # fmt: skip
@click.option("--trials", type=count(1, 100_000), default=100,
              help="completed trials the study should hold")  # fmt: skip
@click.option("--objective", default="root_cause_f1", callback=_names,
              help="objective, or several comma-separated (Pareto front, NSGA-II)")  # fmt: skip
@click.option("--study", help="study name; an existing study is resumed [default: new name]")
@click.option("--storage", type=LOCATION, metavar="URL|FILE",
              help="Optuna storage URL or .journal file [default: ./optuna.journal]")  # fmt: skip
@click.option(
    "--holdout-days",
    type=AutoOrCount(1, MAX_DAYS),
    default="auto",
    metavar="auto|N",
    help="last evaluated days held out: auto (a third, >= 1; for a scenario more "
    "are simulated while the recommendation is undecided) or N (those N)",
)
@click.option("--max-holdout-days", type=count(1, MAX_DAYS), metavar="N",
              help="with --holdout-days auto on a scenario, the most held-out days in all "
                   "(the scenario's own and those simulated) [default: 60]")  # fmt: skip
@click.option("--seed", type=SEED, help="sampler seed [default: the scenario's]")
@click.option("--tune", "tune_names", callback=_names,
              help="comma-separated tunables [default: all that act at the fidelity]")  # fmt: skip
@click.option("--range", "ranges", multiple=True, callback=_ranges, metavar="NAME=LOW:HIGH",
              help="replaces a default range (repeatable)")  # fmt: skip
@click.option("--batch-size", type=count(1, 10_000),
              help="trials asked per batch [default: 32 per worker]")  # fmt: skip
@click.option(
    "--graders",
    default="auto",
    metavar="auto|truth|champion|latest|POST=VERSION,...",
    help="where the hazard levels come from (as for run)",
)
@click.option("--cv", type=count(2, MAX_DAYS), metavar="K",
              help="also K-fold cross-validation over blocks of the evaluated days "
                   "(then it decides the recommendation)")  # fmt: skip
@click.option("--params", "params_path", type=LOCAL_PATH,
              help="the start: trial 0, what tuning must beat [default: MODEL.md]")  # fmt: skip
@click.option("--sweep", type=click.Choice(["thresholds", "none"]), default="thresholds",
              show_default=True,
              help="tau_Z and tau_Y set per trial by an exact sweep, or sampled")  # fmt: skip
@click.option("--min-gain", type=click.FloatRange(0.0, 1.0, max_open=True), default=0.0,
              show_default=True,
              help="recommend the tuned params only when their gain over the start on "
                   "held-out days is shown to exceed this (README: the rule)")  # fmt: skip
@job_options
def tune(**kw: Any) -> int:
    """Tune the model's thresholds with Optuna on SOURCE's tuning days; report held-out days.

    SOURCE is a scenario YAML or a labelled records folder (docs/records.md).
    """
    from harness.commands.tune import make_tune_config
    from harness.commands.tune import tune as run_tune

    config = make_tune_config(
        kw["scenario"], kw["out"], n_trials=kw["trials"], objectives=kw["objective"],
        study_name=kw["study"], storage=kw["storage"], holdout_days=kw["holdout_days"],
        max_holdout_days=kw["max_holdout_days"],
        seed=kw["seed"], tune=kw["tune_names"], ranges=kw["ranges"],
        batch_size=kw["batch_size"], compute=kw["compute"], cache_dir=kw["cache"],
        graders=kw["graders"], cv=kw["cv"], params_path=kw["params_path"], sweep=kw["sweep"],
        min_gain=kw["min_gain"],
    )  # fmt: skip
    summary = run_tune(config)
    if kw["as_json"]:
        print_json(summary)
        return 0
    from harness.outputs.tune_report import format_summary

    click.echo(format_summary(summary, config))
    return 0


@command(cli)
@click.argument("scenario", type=LOCAL_PATH)
@click.option("--out", type=LOCAL_PATH, required=True, help="output folder")
@click.option("--posts", default="all", help="'all' or post numbers like 1,3,5")
@click.option("--trials", type=count(1, 10_000), default=10, help="Optuna trials per post")
@click.option("--epochs", type=count(1, 10_000), default=30, help="epochs per trial")
@click.option("--augment", type=count(0, 1_000), default=8,
              help="extra simulated shift changes per history one")  # fmt: skip
@click.option("--min-macro-f1", type=click.FloatRange(0.0, 1.0), default=0.5, show_default=True,
              help="least held-out macro-F1 of a champion (and majority class + 0.1)")  # fmt: skip
@device_option
@compute_options
def train(**kw: Any) -> int:
    """Train and register one grading DNN per post of SCENARIO (Optuna studies on Ray)."""
    from harness.commands.train import make_train_config
    from harness.commands.train import train as run_train

    config = make_train_config(
        kw["scenario"], kw["out"], posts=kw["posts"], trials=kw["trials"], epochs=kw["epochs"],
        augment=kw["augment"], compute=kw["compute"], device=kw["device"],
        min_macro_f1=kw["min_macro_f1"],
    )  # fmt: skip
    summary = run_train(config)
    for post, r in summary["posts"].items():
        gate = r["champion"]
        click.echo(
            f"grader-post-{post} v{r['registered_version']}: test macro-F1 "
            f"{r['test']['macro_f1']:.3f} (floor {gate['floor']:.3f}; val "
            f"{r['val']['macro_f1']:.3f}, {r['trials']['complete']} complete / "
            f"{r['trials']['pruned']} pruned trials): {gate['decision'].replace('_', ' ')}"
        )
    click.echo(f"summary: {config.out_dir / 'train.json'}; MLflow run {summary['mlflow_run_id']}")
    return 0


@cli.group()
def records() -> None:
    """Plant records (docs/records.md): export a scenario in the format, check a folder, fit
    a twin scenario to a folder."""


@command(records, "export")
@click.argument("scenario", type=LOCAL_PATH)
@click.option("--out", type=LOCATION, metavar="DIR|URI", required=True,
              help="records folder, or s3://BUCKET/PREFIX")  # fmt: skip
@json_option
def records_export(**kw: Any) -> int:
    """Write SCENARIO (history and evaluated days, its truth as labels) as a records folder."""
    from harness.runtime.inputs import check_output

    out = check_output(kw["out"], option="--out")  # before the heavy imports: in seconds
    from harness.commands.records import export

    summary = export(kw["scenario"], out)
    if kw["as_json"]:
        print_json(summary)
    else:
        click.echo(
            f"records: {summary['out']} ({summary['posts']} posts, {summary['days']} days,"
            f" {summary['worker_shifts']} worker-shifts, {summary['rows']} rows)"
        )
    return 0


@command(records, "check")
@click.argument("folder", metavar="FOLDER|URI", type=LOCATION)
@json_option
def records_check(**kw: Any) -> int:
    """Check a records folder row by row without running it (exit 2: the first problem)."""
    from harness.commands.records import check

    summary = check(kw["folder"])
    if kw["as_json"]:
        print_json(summary)
    else:
        click.echo(
            f"{summary['folder']}: valid records, format version "
            f"{summary['format_version']} ({summary['posts']} posts, {summary['days']} "
            f"days, {summary['worker_shifts']} worker-shifts, labels: "
            f"{'yes' if summary['labelled'] else 'no'})"
        )
    return 0


@command(records, "fit")
@click.argument("folder", metavar="RECORDS", type=LOCATION)
@click.option("--out", type=LOCAL_PATH, required=True,
              help="the twin's scenario file (FILE.yaml, a local file)")  # fmt: skip
@click.option("--report", type=LOCATION, metavar="DIR|URI",
              help="folder for fit.json and fit.html [default: beside --out]")  # fmt: skip
@click.option("--seed", type=SEED, help="the twin's seed [default: derived from the records']")
@job_options
def records_fit(**kw: Any) -> int:
    """Fit a scenario to RECORDS (a folder or URI): a labelled twin of the plant (FILE.yaml,
    fit.json, fit.html).

    The twin is simulated by the harness and compared with the records post by post (on-post
    fraction, excursions, speed ratios, Z, Y, levels); fit.json says where every fitted figure
    came from and what the records cannot tell.
    """
    from harness.commands.records import fit, make_fit_config

    config = make_fit_config(
        kw["folder"], kw["out"], report=kw["report"], seed=kw["seed"], compute=kw["compute"],
        cache_dir=kw["cache"],
    )  # fmt: skip
    content = fit(config)
    if kw["as_json"]:
        print_json({k: content[k] for k in ("twin", "summary", "posts", "mlflow_run_id")}
                   | {"out": str(config.out), "report": str(config.report_dir)})  # fmt: skip
        return 0
    s = content["summary"]
    click.echo(f"twin: {config.out} (seed {content['twin']['seed']}): {s['posts_matching']} of "
               f"{s['posts']} posts match the records ({s['quantities_matching']} of "
               f"{s['quantities']} quantities)")  # fmt: skip
    for p in content["posts"]:
        if p["verdict"] != "matches":
            click.echo(f"  {p['sentence']}")
    click.echo(f"fit:    {config.report_dir / 'fit.json'}")
    click.echo(f"report: {config.report_dir / 'fit.html'}")
    click.echo(f"MLflow run {content['mlflow_run_id']}")
    return 0


@cli.group()
def perception() -> None:
    """Train and evaluate the keypoint network (pixel fidelity's perception stack)."""


@command(perception, "train")
@click.option("--out", type=LOCAL_PATH, required=True, help="output folder")
@click.option("--steps", type=count(1, 10_000_000), default=6000, help="training steps")
@click.option("--seed", type=SEED, default=0, help="seed of weights and data")
@click.option("--batch-size", type=count(1, 1024), default=32, help="frames rendered per step")
@click.option("--channels", default="16,32,64,128", callback=lambda c, p, v: parse_channels(v),
              help="channels per encoder stage, comma-separated")  # fmt: skip
@click.option("--threads", type=count(1, CORES), default=1,
              help="torch CPU threads (at most this machine's cores)")  # fmt: skip
@click.option("--data-workers", type=count(0, CORES), default=0,
              help="processes rendering batches ahead (same weights, faster)")  # fmt: skip
@click.option("--no-resume", is_flag=True, help="ignore a checkpoint in --out")
@device_option
@progress_option
def perception_train(**kw: Any) -> int:
    """Train the keypoint network on rendered frames (seeded, resumable)."""
    from harness.commands.perception import train_command

    resume, progress = not kw.pop("no_resume"), not kw.pop("no_progress")
    metadata = train_command(**kw, resume=resume, progress=progress)
    click.echo(f"saved {kw['out']}: held-out {metadata['metrics']}")
    return 0


@command(perception, "eval")
@click.option("--out", type=LOCAL_PATH, required=True, help="output folder")
@click.option("--weights", type=LOCAL_PATH,
              help="keypoint weights [default: the shipped network]")  # fmt: skip
@click.option("--seed", type=click.IntRange(0, MAX_SEED - 1_000_003), default=0,
              help="held-out data use seed + 1000003")  # fmt: skip
@click.option("--posts", type=count(1, 100), default=3, help="posts of the evaluated line")
@click.option("--length-s", type=Finite(1.0, high=86_400.0), default=600.0,
              help="evaluated shift length (s)")  # fmt: skip
@click.option("--frames", type=count(MIN_EVAL_FRAMES, 4096), default=512,
              help="frames for PCK and OKS AP")  # fmt: skip
@click.option("--grading-days", type=count(5, MAX_DAYS), default=40,
              help="photo days per post")  # fmt: skip
@click.option(
    "--grading-seconds",
    type=POSITIVE_SECONDS,
    default=60.0,
    help="grader training budget per post (s)",
)
@click.option("--runtime", type=click.Choice(["auto", "onnxruntime", "torch"]), default="auto",
              help="keypoint-network inference runtime (auto: ONNX Runtime on CPU)")  # fmt: skip
@device_option
@timeout_option
def perception_eval(**kw: Any) -> int:
    """Evaluate perception on held-out frames; write DIR/perception.json."""
    from harness.commands.perception import eval_command

    table = eval_command(**kw)  # the options are its parameters, by name
    click.echo(json.dumps({k: v for k, v in table.items() if isinstance(v, float)}, indent=2))
    return 0
