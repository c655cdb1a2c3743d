"""Strict YAML reading for the files users write: scenarios (and the harness's params files).

Stricter than ``yaml.safe_load``: a key given twice in one mapping is an error (not silently
the last value), text must be UTF-8, nesting deeper than :data:`MAX_DEPTH` is refused
before the parser recurses into it, and so are values no user file means: an integer of more
than :data:`MAX_INT_DIGITS` digits (Python would not even print it), a base-60 number
(YAML 1.1 reads ``14:30`` as 870) and a key that is a list or a mapping. Those refusals name
the key path (``workers.cast[0].skill``).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import yaml

from sim._errors import ScenarioError

MAX_DEPTH = 32
"""Deepest nesting of mappings and lists a user file may have."""
MAX_BYTES = 16 * 2**20
"""Largest user file read (a scenario is a few KB)."""
MAX_INT_DIGITS = 30
"""Most digits of an integer in a user file (a seed has at most 19)."""
MAX_NODES = 1_000_000
"""Most values (scalars, lists, mappings) a user file may expand to, aliases expanded: an
alias bomb ("billion laughs") is refused before anything is built from it."""


_INT_TAG = "tag:yaml.org,2002:int"
_FLOAT_TAG = "tag:yaml.org,2002:float"


class _Refused(yaml.YAMLError):
    """A value the file may not hold (not a YAML syntax error): named by its key path."""


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys and deep nesting."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        depth = getattr(self, "_depth", 0) + 1
        if depth > MAX_DEPTH:
            mark = self.peek_event().start_mark
            raise yaml.YAMLError(f"nesting deeper than {MAX_DEPTH} levels at line {mark.line + 1}")
        self._depth = depth
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth = depth - 1

    def compose_document(self) -> Any:
        node = super().compose_document()
        _check_expansion(node)
        return node

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)  # a scalar (see _check_values)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise yaml.YAMLError(
                    f"key {key!r} appears twice in one mapping (lines {seen[key]} and {line})"
                )
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


def _children(node: yaml.Node) -> list[tuple[str, yaml.Node]]:
    """The child nodes of ``node``, each with its step of a key path (``[0]``, ``.key``)."""
    if isinstance(node, yaml.SequenceNode):
        return [(f"[{k}]", child) for k, child in enumerate(node.value)]
    if isinstance(node, yaml.MappingNode):
        out = []
        for key, value in node.value:
            label = f".{key.value}" if isinstance(key, yaml.ScalarNode) else ".(key)"
            out += [(f"{label} (its key)", key), (label, value)]
        return out
    return []


def _check_value(node: yaml.Node, path: str) -> None:
    """Refuse an integer of more than :data:`MAX_INT_DIGITS` digits and a non-scalar key."""
    where = path.lstrip(".").removesuffix(" (its key)") or "the top level"
    line = node.start_mark.line + 1
    number = isinstance(node, yaml.ScalarNode) and node.tag in (_INT_TAG, _FLOAT_TAG)
    if number and ":" in node.value:
        raise _Refused(
            f"{where}: {node.value!r:.40} (line {line}) reads as a base-60 number in YAML 1.1 "
            "(14:30 is 870): write the number itself, or quote it if it is text"
        )
    if isinstance(node, yaml.ScalarNode) and node.tag == _INT_TAG:
        text = node.value.lstrip("+-").lower()
        digits = sum(c.isalnum() for c in text) - 2 * text.startswith(("0x", "0o", "0b"))
        if digits > MAX_INT_DIGITS:
            raise _Refused(
                f"{where}: expected a number, got an integer of {digits} digits (line {line}; "
                f"at most {MAX_INT_DIGITS})"
            )
    if isinstance(node, yaml.MappingNode):
        for key, _ in node.value:
            if not isinstance(key, yaml.ScalarNode):
                kind = "list" if isinstance(key, yaml.SequenceNode) else "mapping"
                raise _Refused(
                    f"{where}: a key at line {key.start_mark.line + 1} is a {kind}; keys are "
                    "plain names"
                )


def _check_expansion(root: yaml.Node | None) -> None:
    """Refuse a document that, aliases expanded, holds more than :data:`MAX_NODES` values or
    nests deeper than :data:`MAX_DEPTH`, an alias inside the value it names, or a value no
    user file means (:func:`_check_value`).

    Aliases share the node they name, so composing is linear in the file; building Python
    objects from it and validating them would not be. Each node is measured once, without
    recursion."""
    if root is None:
        return
    measured: dict[int, tuple[int, int]] = {}  # id -> (values, depth), aliases expanded
    active = {id(root)}
    _check_value(root, "")
    stack = [(root, "", iter(_children(root)))]
    while stack:
        node, path, pending = stack[-1]
        step = next(pending, None)
        if step is not None:
            label, child = step
            if id(child) in active:
                raise yaml.YAMLError(
                    f"the value anchored at line {child.start_mark.line + 1} holds an alias of "
                    "itself (the alias is inside the value it names)"
                )
            if id(child) not in measured:
                active.add(id(child))
                _check_value(child, path + label)
                stack.append((child, path + label, iter(_children(child))))
            continue
        stack.pop()
        active.discard(id(node))
        parts = [measured[id(c)] for _, c in _children(node)]
        values = 1 + sum(v for v, _ in parts)
        depth = 1 + max((d for _, d in parts), default=0)
        line = node.start_mark.line + 1
        if values > MAX_NODES:
            raise yaml.YAMLError(
                f"the value at line {line} expands to more than {MAX_NODES:,} values through "
                "aliases (an alias bomb?)"
            )
        if depth > MAX_DEPTH:
            raise yaml.YAMLError(
                f"the value at line {line} nests deeper than {MAX_DEPTH} levels through aliases"
            )
        measured[id(node)] = (values, depth)


def parse_yaml(text: str, *, source: str) -> Any:
    """Parse ``text`` strictly; errors are :class:`ScenarioError` naming ``source``."""
    try:
        return yaml.load(text, Loader=_StrictLoader)  # a SafeLoader subclass
    except _Refused as exc:
        raise ScenarioError(f"{source}: {exc}") from None
    except yaml.YAMLError as exc:
        detail = " ".join(str(exc).split())
        raise ScenarioError(f"{source} is not valid YAML: {detail}") from None
    except RecursionError:
        raise ScenarioError(f"{source} is nested too deeply to be a scenario") from None


def read_limited(path: str | os.PathLike[str], *, source: str, max_bytes: int) -> bytes:
    """The bytes of the regular file ``path``, at most ``max_bytes`` of them.

    A folder, a device (``/dev/zero``), a FIFO or a socket is refused without reading it (a
    FIFO is opened without waiting for a writer), and so is a larger file: before reading,
    and again if it grew meanwhile.

    Raises:
        ScenarioError: naming ``source`` (e.g. ``"scenario file 'x.yaml'"``) and why.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise ScenarioError(f"cannot read {source}: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise ScenarioError(f"{source} is a folder, expected a file")
        if not stat.S_ISREG(info.st_mode):
            raise ScenarioError(f"{source} is not a regular file (a device, FIFO or socket)")
        if info.st_size > max_bytes:
            raise ScenarioError(f"{source} is larger than {max_bytes:,} bytes")
        with os.fdopen(os.dup(fd), "rb") as file:
            data = file.read(max_bytes + 1)
    except OSError as exc:
        raise ScenarioError(f"cannot read {source}: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    if len(data) > max_bytes:
        raise ScenarioError(f"{source} is larger than {max_bytes:,} bytes")
    return data


def read_yaml(path: str | os.PathLike[str], *, what: str) -> Any:
    """Read and parse the YAML file ``path`` (a ``what``, e.g. "scenario file") strictly."""
    path = Path(path)
    source = f"{what} {str(path)!r}"
    data = read_limited(path, source=source, max_bytes=MAX_BYTES)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ScenarioError(f"{source} is not UTF-8 text (byte {exc.start})") from None
    return parse_yaml(text, source=source)
