"""Imports go one way: core ← sim ← harness, and inside harness from room to room in the
order the README's layout gives; commands never import commands; a package's private modules
(and private names) are its own; Ray, MLflow and Optuna are imported only by the adapters, and
Optuna's studies and trials are worked only by them (elsewhere a study is an opaque handle)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("core", "sim", "harness")
ROOMS = {
    "runtime": 0, "weights": 0, "adapters": 1, "evaluation": 2, "records": 3, "training": 3,
    "tuning": 4, "outputs": 5, "commands": 6, "cli": 7,
}  # fmt: skip
"""Each room of ``harness`` and its level: a room imports only rooms of its level or below
(and not a sibling of its own level)."""


OUTSIDE_SYSTEMS = ("ray", "mlflow", "optuna")
"""Imported only in ``harness/adapters/`` (functions included)."""


OPTUNA_MEMBERS = frozenset({
    "ask", "tell", "enqueue_trial", "best_trial", "best_trials", "best_value", "best_params",
    "get_trials", "add_trial", "add_trials", "set_user_attr", "set_system_attr", "user_attrs",
    "system_attrs", "trials_dataframe", "optimize", "set_metric_names", "suggest_float",
    "suggest_int", "suggest_categorical", "should_prune",
})  # fmt: skip
"""Members of Optuna's ``Study`` and ``Trial`` that only ``harness/adapters/`` calls or reads
(the adapter's own functions of these names aside)."""


def _all_imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found += [node.module] + [f"{node.module}.{a.name}" for a in node.names]
    return found


def _imports(path: Path) -> list[str]:
    return [name for name in _all_imports(path) if name.split(".")[0] in PACKAGES]


def _modules(package: str, root: Path = REPO) -> list[Path]:
    return sorted(p for p in (root / package).rglob("*.py") if "__pycache__" not in p.parts)


def private_imports(root: Path) -> list[str]:
    """Imports of a private module or name (``_x``, not ``__x__``) of the project's packages
    from outside the package or module that holds it."""
    wrong = []
    for package in PACKAGES:
        for path in _modules(package, root):
            here = path.relative_to(root).with_suffix("").parts
            for name in _imports(path):
                parts = name.split(".")
                for i, part in enumerate(parts):
                    if part.startswith("_") and not part.startswith("__"):
                        if tuple(here[:i]) != tuple(parts[:i]):
                            wrong.append(f"{path.relative_to(root)} imports {name}")
                        break
    return sorted(set(wrong))


def outside_system_imports(root: Path) -> list[str]:
    """Imports of Ray, MLflow or Optuna outside ``harness/adapters/``."""
    return sorted(
        {
            f"{path.relative_to(root)} imports {name}"
            for package in PACKAGES
            for path in _modules(package, root)
            if path.relative_to(root).parts[:2] != ("harness", "adapters")
            for name in _all_imports(path)
            if name.split(".")[0] in OUTSIDE_SYSTEMS
        }
    )


def _adapter_names(tree: ast.AST) -> set[str]:
    """The names a module binds to ``harness.adapters`` modules (``from harness.adapters
    import optuna_studies``, ``import harness.adapters.optuna_studies as studies``)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "harness.adapters":
            names |= {a.asname or a.name for a in node.names}
        elif isinstance(node, ast.Import):
            names |= {
                a.asname for a in node.names if a.asname and a.name.startswith("harness.adapters.")
            }
    return names


def optuna_member_uses(root: Path) -> list[str]:
    """Calls or reads of :data:`OPTUNA_MEMBERS` outside ``harness/adapters/``."""
    wrong = set()
    for package in PACKAGES:
        for path in _modules(package, root):
            where = path.relative_to(root)
            if where.parts[:2] == ("harness", "adapters"):
                continue
            tree = ast.parse(path.read_text())
            adapters = _adapter_names(tree)
            for node in ast.walk(tree):
                if isinstance(node, ast.Attribute) and node.attr in OPTUNA_MEMBERS:
                    receiver = ast.unparse(node.value)
                    if receiver not in adapters and not receiver.startswith("harness.adapters."):
                        wrong.add(f"{where}:{node.lineno} uses .{node.attr}")
    return sorted(wrong)


@pytest.mark.parametrize("package", PACKAGES)
def test_packages_import_only_those_below_them(package: str) -> None:
    below = PACKAGES[: PACKAGES.index(package) + 1]
    wrong = [
        f"{path.relative_to(REPO)} imports {name}"
        for path in _modules(package)
        for name in _imports(path)
        if name.split(".")[0] not in below
    ]
    assert wrong == []


def _room(name: str) -> str | None:
    parts = name.split(".")
    return parts[1] if parts[0] == "harness" and len(parts) > 1 and parts[1] in ROOMS else None


def test_harness_rooms_import_downwards_only() -> None:
    wrong = []
    for path in _modules("harness"):
        parts = path.relative_to(REPO).with_suffix("").parts
        if len(parts) < 3:
            continue  # harness/__init__.py
        room = parts[1]
        assert room in ROOMS, f"{path.relative_to(REPO)}: a room the layout does not name"
        for name in _imports(path):
            other = _room(name)
            if other is None or other == room:
                continue
            if ROOMS[other] >= ROOMS[room]:
                wrong.append(f"{path.relative_to(REPO)} ({room}) imports {name} ({other})")
    assert wrong == []


def test_commands_do_not_import_commands() -> None:
    shared = {"context", "preflight", "__init__"}
    wrong = [
        f"{path.relative_to(REPO)} imports {name}"
        for path in _modules("harness/commands")
        if path.stem not in shared
        for name in _imports(path)
        if name.startswith("harness.commands.") and name.split(".")[2] not in shared
    ]
    assert wrong == []


def test_no_module_sits_directly_in_harness() -> None:
    loose = sorted(p.name for p in (REPO / "harness").glob("*.py"))
    assert loose == ["__init__.py", "__main__.py"]  # python -m harness: the CLI's entry point


def test_private_modules_and_names_stay_in_their_package() -> None:
    assert private_imports(REPO) == []


def test_ray_mlflow_and_optuna_only_through_the_adapters() -> None:
    assert outside_system_imports(REPO) == []


def test_optunas_studies_and_trials_only_through_the_adapters() -> None:
    assert optuna_member_uses(REPO) == []


def test_the_checks_find_a_planted_violation(tmp_path: Path) -> None:
    planted = {
        "sim/_hidden.py": "X = 1\n",
        "sim/fine.py": "from sim._hidden import X\nfrom sim.fine import _y\n",
        "harness/adapters/tracker.py": "import mlflow\nfrom ray import remote\n",
        "harness/commands/leaky.py": (
            "from sim._hidden import X\n"
            "from harness.records.fit._compare import ALPHA\n"
            "def f():\n    import optuna.trial\n"
        ),
        "harness/runtime/logs.py": "from mlflow.utils import logging_utils\n",
        "harness/adapters/studies.py": "def f(study):\n    return study.best_trial.user_attrs\n",
        "harness/tuning/worker.py": (
            "from harness.adapters import optuna_studies as s\n"
            "import harness.adapters.optuna_studies\n"
            "def f(study, trial):\n"
            "    s.optimize(study)\n"
            "    harness.adapters.optuna_studies.optimize(study)\n"
            "    study.enqueue_trial({})\n"
            "    return trial.user_attrs, s.study(study).best_trials\n"
        ),
    }
    for name, text in planted.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    (tmp_path / "core").mkdir()
    assert private_imports(tmp_path) == [
        "harness/commands/leaky.py imports harness.records.fit._compare",
        "harness/commands/leaky.py imports harness.records.fit._compare.ALPHA",
        "harness/commands/leaky.py imports sim._hidden",
        "harness/commands/leaky.py imports sim._hidden.X",
    ]
    assert outside_system_imports(tmp_path) == [
        "harness/commands/leaky.py imports optuna.trial",
        "harness/runtime/logs.py imports mlflow.utils",
        "harness/runtime/logs.py imports mlflow.utils.logging_utils",
    ]
    assert optuna_member_uses(tmp_path) == [
        "harness/tuning/worker.py:6 uses .enqueue_trial",
        "harness/tuning/worker.py:7 uses .best_trials",
        "harness/tuning/worker.py:7 uses .user_attrs",
    ]
