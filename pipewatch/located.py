"""YAML read into plain values that remember the line they came from.

Rule-file errors must say `file:line: message`, so the loader composes the YAML node graph
(`yaml.compose`, safe tags only) and converts it to `LMap` / `LSeq` / `LScalar` values that carry
the 1-based line of every key and item, instead of the bare dicts `yaml.safe_load` returns.

Aliases are shared, never copied, and a document is measured before it is converted: one whose
aliases expand past `MAX_NODES` (a "billion laughs"), that refers to itself, or that nests deeper
than `MAX_DEPTH` is refused with the line of its root, because everything after the loader walks
the expanded values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

#: The most values a rule file may hold once its aliases are expanded (real rule files hold thousands).
MAX_NODES = 1_000_000
#: The deepest nesting a rule file may have (real ones nest about six levels).
MAX_DEPTH = 100


@dataclass(frozen=True, slots=True)
class LScalar:
    """A scalar (str, int, float, bool, None, date, datetime) and its line."""

    value: Any
    line: int


@dataclass(frozen=True, slots=True)
class LSeq:
    """A YAML sequence and the line it starts on."""

    items: list[Located]
    line: int


@dataclass(frozen=True, slots=True)
class LMap:
    """A YAML mapping with string keys: `items` maps each key to its value, `key_lines` to its line."""

    items: dict[str, Located]
    line: int
    key_lines: dict[str, int] = field(default_factory=dict)

    def line_of(self, key: str) -> int:
        """The line of `key` in this mapping (the mapping's own line if the key is absent)."""
        return self.key_lines.get(key, self.line)


Located = LScalar | LSeq | LMap


class LocatedYAMLError(Exception):
    """The text is not YAML pipewatch accepts; `line` is 1-based."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


def plain(value: Located) -> Any:
    """The value with its line numbers dropped (dicts, lists and scalars)."""
    if isinstance(value, LScalar):
        return value.value
    if isinstance(value, LSeq):
        return [plain(v) for v in value.items]
    return {k: plain(v) for k, v in value.items.items()}


def load_located(text: str) -> Located | None:
    """Parse one YAML document into located values (None for an empty document).

    Raises `LocatedYAMLError` for a syntax error, several documents, a non-string or repeated key.
    """
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except RecursionError:  # PyYAML composes recursively: thousands of nested brackets end here
        raise LocatedYAMLError(1, f"YAML nested more than {MAX_DEPTH} levels deep") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        problem = exc.problem or exc.context or "invalid YAML"
        raise LocatedYAMLError(line, f"YAML syntax error: {problem}") from None
    except yaml.YAMLError as exc:
        raise LocatedYAMLError(1, f"YAML error: {exc}") from None
    if node is None:
        return None
    _measure(node)
    return _convert(node, yaml.SafeLoader(""), {})


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def _measure(root: yaml.Node) -> None:
    """Refuse a node graph that expands past MAX_NODES, nests past MAX_DEPTH, or contains itself.

    Each distinct node is measured once (its expanded size memoized), so this is linear in the
    document's text however many times its aliases repeat.
    """
    sizes: dict[int, int] = {}
    on_path: set[int] = set()
    # An explicit stack (node, depth, children pushed?) so a deep document cannot overflow Python's.
    stack: list[tuple[yaml.Node, int, bool]] = [(root, 1, False)]
    while stack:
        node, depth, expanded = stack.pop()
        key = id(node)
        if expanded:
            on_path.discard(key)
            sizes[key] = 1 + sum(sizes[id(c)] for c in _children(node))
            if sizes[key] > MAX_NODES:
                raise LocatedYAMLError(
                    root.start_mark.line + 1,
                    f"YAML aliases expand to more than {MAX_NODES:,} values (refused, as a billion-laughs"
                    " document would be)",
                )
            continue
        if key in sizes:
            continue
        line = node.start_mark.line + 1
        if key in on_path:
            raise LocatedYAMLError(line, "a YAML alias refers to a value that contains it")
        if depth > MAX_DEPTH:
            raise LocatedYAMLError(line, f"YAML nested more than {MAX_DEPTH} levels deep")
        on_path.add(key)
        stack.append((node, depth, True))
        stack.extend((c, depth + 1, False) for c in _children(node) if id(c) not in sizes)


def _convert(node: yaml.Node, loader: yaml.SafeLoader, seen: dict[int, Located]) -> Located:
    """The located value of `node`; an aliased node is converted once and shared (`seen`)."""
    done = seen.get(id(node))
    if done is not None:
        return done
    value = _convert_new(node, loader, seen)
    seen[id(node)] = value
    return value


def _convert_new(node: yaml.Node, loader: yaml.SafeLoader, seen: dict[int, Located]) -> Located:
    line = node.start_mark.line + 1
    if isinstance(node, yaml.ScalarNode):
        try:
            return LScalar(loader.construct_object(node, deep=True), line)
        except yaml.YAMLError as exc:
            raise LocatedYAMLError(line, f"bad YAML value: {exc}") from None
    if isinstance(node, yaml.SequenceNode):
        return LSeq([_convert(item, loader, seen) for item in node.value], line)
    if isinstance(node, yaml.MappingNode):
        items: dict[str, Located] = {}
        key_lines: dict[str, int] = {}
        for key_node, value_node in node.value:
            key_line = key_node.start_mark.line + 1
            key = _convert(key_node, loader, seen)
            if not isinstance(key, LScalar) or key.value is None or isinstance(key.value, (list, dict)):
                raise LocatedYAMLError(key_line, "mapping keys must be plain names")
            name = str(key.value)
            if name == "<<":
                raise LocatedYAMLError(key_line, "YAML merge keys (`<<`) are not supported in rule files")
            if name in items:
                raise LocatedYAMLError(key_line, f"duplicate key `{name}`")
            items[name] = _convert(value_node, loader, seen)
            key_lines[name] = key_line
        return LMap(items, line, key_lines)
    raise LocatedYAMLError(line, "unsupported YAML node")
