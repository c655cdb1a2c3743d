"""Imports go one way: core ← sim ← harness, and inside harness from room to room in the
order the README's layout gives; commands never import commands."""

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


def _imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found += [node.module] + [f"{node.module}.{a.name}" for a in node.names]
    return [name for name in found if name.split(".")[0] in PACKAGES]


def _modules(package: str) -> list[Path]:
    return sorted(p for p in (REPO / package).rglob("*.py") if "__pycache__" not in p.parts)


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
