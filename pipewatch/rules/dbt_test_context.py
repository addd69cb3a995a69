"""What the dbt-test builders work from: the test node's context, its arguments read as dbt reads them,
and the relations it names (`ref()`/`source()`/`relation`), with `Unsupported` for a test pipewatch
cannot run exactly as dbt does."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from pipewatch.artifacts.model import Node, TestInfo
from pipewatch.rules.spec import (
    Location,
    Scalar,
    TableRef,
)
from pipewatch.rules.sqltext import (
    ExternalRelationError,
    SqlTextError,
    name_key,
    parse_relation,
    refuse_external,
)
from pipewatch.rules.targets import MODEL_TYPES

#: dbt's warn_if/error_if conditions pipewatch can express as a failing-rows threshold.
_CONDITION = re.compile(r"\s*(!=|<>|>=|>)\s*(\d+)\s*")
_PLAIN_COLUMN = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*\Z")
_QUOTED_COLUMN = re.compile(r'"((?:[^"]|"")+)"\Z|`((?:[^`]|``)+)`\Z')
_REF = re.compile(r"\b(ref|source)\s*\(([^()]*)\)")
_STRING_ARG = re.compile(r"""^\s*(['"])(.*?)\1\s*$""")


class Unsupported(Exception):
    """Internal: this test cannot be run faithfully; the message says why."""


@dataclass(frozen=True)
class TestContext:
    """What a builder needs: the test node, its metadata, the manifest and the tested relation."""

    node: Node
    info: TestInfo
    nodes: Mapping[str, Node]
    dialect: str
    target: TableRef

    def arg(self, name: str, default: Any = None) -> Any:
        """A test argument (`kwargs`)."""
        return self.info.kwargs.get(name, default)

    def column(self, *, required: bool = True) -> str:
        """The tested column (`column_name`, or the pipewatch package's `column` argument)."""
        raw = self.info.column_name or self.arg("column")
        if raw is None:
            if required:
                raise Unsupported("no column to test")
            return ""
        return column_name(str(raw), self.dialect)

    def common(self, *, counts_rows: bool = True, own_thresholds: bool = False) -> dict[str, Any]:
        """The options every check takes: name, id, severity, location and the threshold."""
        out: dict[str, Any] = {
            "name": self.node.name,
            "check_id": self.node.unique_id,
            "severity": "warn" if self.info.severity == "warn" else "error",
            "loc": Location(self.node.path, 0),
        }
        weight = self.arg("weight")
        if own_thresholds and is_number(weight) and float(weight) >= 0:
            out["weight"] = float(weight)
        if not counts_rows:
            return out
        if own_thresholds:
            mf = self.arg("max_failures")
            ratio = self.arg("max_failure_ratio", self.arg("max_ratio"))
            if mf is not None:
                if not isinstance(mf, int) or isinstance(mf, bool) or mf < 0:
                    raise Unsupported(f"max_failures `{mf}` is not a whole number >= 0")
                out["max_failures"] = mf
            if ratio is not None:
                if not is_number(ratio) or not 0 <= float(ratio) <= 1:
                    raise Unsupported(f"max_failure_ratio `{ratio}` is not a number between 0 and 1")
                out["max_failure_ratio"] = float(ratio)
            return out
        if out["severity"] == "warn":
            out["max_failures"] = max_failures(self.info.warn_if)
            return out
        # dbt judges error_if first, then warn_if: more failures than warn_if allows is a `warn`.
        out["max_failures"] = max_failures(self.info.error_if)
        warn_at = max_failures(self.info.warn_if)
        if warn_at < out["max_failures"]:
            out["warn_above"] = warn_at
        return out


def node_ref(node: Node) -> TableRef:
    """The relation dbt built for a model, seed, snapshot or source."""
    if node.resource_type not in (*MODEL_TYPES, "source"):
        raise Unsupported(f"tests on a {node.resource_type} have no table to check")
    if node.materialization == "ephemeral":
        raise Unsupported(f"`{node.name}` is an ephemeral model: there is no table to check")
    parts = tuple(p for p in (node.database, node.schema, node.alias or node.name) if p)
    relation = ".".join(parts)
    return TableRef(parts=refuse_external(parts, relation), relation=relation, model=node.unique_id)


def no_jinja(value: Any, what: str) -> None:
    """dbt renders Jinja in test arguments at run time; pipewatch cannot, so such tests are skipped."""
    if isinstance(value, str):
        if "{{" in value or "{%" in value:
            raise Unsupported(f"{what} hold Jinja that dbt renders at run time")
    elif isinstance(value, Mapping):
        for k, v in value.items():
            if k != "model":  # dbt's own `{{ get_where_subquery(ref(...)) }}`
                no_jinja(v, what)
    elif isinstance(value, (list, tuple)):
        for v in value:
            no_jinja(v, what)


def column_name(raw: str, dialect: str) -> str:
    """A test's column as a name the engine quotes: plain names as they are, quoted ones unquoted."""
    text = raw.strip()
    if _PLAIN_COLUMN.match(text):
        return text
    quoted = _QUOTED_COLUMN.match(text)
    if quoted:
        inner = quoted.group(1).replace('""', '"') if quoted.group(1) else quoted.group(2).replace("``", "`")
        # The engine folds plain names as the dialect does; a quoted name it would fold means another column.
        if _PLAIN_COLUMN.match(inner) and name_key(inner, dialect) != inner:
            raise Unsupported(f"quoted column {text}: pipewatch would fold its case")
        return inner
    raise Unsupported(f"column `{raw}` is an SQL expression, not a column name")


def is_number(value: Any) -> bool:
    """Whether `value` is a number (booleans are not)."""
    return isinstance(value, (int, float, Decimal)) and not isinstance(value, bool)


def max_failures(condition: str | None) -> int:
    """dbt's `warn_if`/`error_if` (`!= 0`, `> 10`, `>= 5`) as the most failures that still pass."""
    if condition is None:
        return 0
    match = _CONDITION.fullmatch(condition)
    if match is None:
        raise Unsupported(f"threshold `{condition}`: pipewatch reads only `!= 0`, `> N` and `>= N`")
    op, n = match.group(1), int(match.group(2))
    if op in ("!=", "<>"):
        if n != 0:
            raise Unsupported(f"threshold `{condition}`: pipewatch reads only `!= 0`, `> N` and `>= N`")
        return 0
    if op == ">":
        return n
    if n == 0:
        raise Unsupported(f"threshold `{condition}` always fails")
    return n - 1


def sql_literal(text: str, dialect: str) -> Scalar:
    """A value dbt pastes into SQL unquoted (`quote: false`), when it is a plain literal."""
    try:
        parsed = sqlglot.parse_one(text, read=dialect)
    except SqlglotError:
        parsed = None
    negative = isinstance(parsed, exp.Neg)
    inner = parsed.this if isinstance(parsed, exp.Neg) else parsed
    if isinstance(inner, exp.Literal):
        if inner.is_string:
            if negative:
                raise Unsupported(f"value `{text}` is not a plain SQL literal")
            return str(inner.this)
        number = Decimal(("-" if negative else "") + str(inner.this))
        return int(number) if number == number.to_integral_value() and "." not in str(inner.this) else number
    if isinstance(inner, exp.Boolean) and not negative:
        return bool(inner.this)
    raise Unsupported(f"value `{text}` is not a plain SQL literal")


def parent_ref(ctx: TestContext, to: Any) -> TableRef:
    """The parent relation of a relationships test: from `to` (a ref/source, a model name or a mapping)."""
    if isinstance(to, Mapping):
        if to.get("relation"):
            try:
                parts = parse_relation(str(to["relation"]), ctx.dialect)
            except ExternalRelationError:
                raise
            except SqlTextError as exc:
                raise Unsupported(str(exc)) from None
            return TableRef(parts=parts, relation=".".join(parts))
        if to.get("model"):
            return node_ref(by_name(ctx, "ref", [str(to["model"])]))
        if to.get("source"):
            return node_ref(by_name(ctx, "source", str(to["source"]).split(".")))
        raise Unsupported("relationships `to` names no model, source or relation")
    if not isinstance(to, str) or not to.strip():
        raise Unsupported("relationships test without `to`")
    call = _REF.search(to)
    if call is None:  # the pipewatch package takes a bare model name
        return node_ref(by_name(ctx, "ref", [to.strip()]))
    args = [m.group(2) for a in call.group(2).split(",") if (m := _STRING_ARG.match(a))]
    return node_ref(by_name(ctx, call.group(1), args))


def by_name(ctx: TestContext, kind: str, args: list[str]) -> Node:
    """The node a `ref(...)`/`source(...)` names, looked up among the test's dependencies first."""
    deps = [ctx.nodes[d] for d in ctx.node.depends_on if d in ctx.nodes]
    if kind == "source":
        if len(args) < 2:
            raise Unsupported(f"cannot read source({', '.join(args)})")
        suffix = "." + ".".join(args[-2:])
        found = [n for n in deps if n.resource_type == "source" and n.unique_id.endswith(suffix)]
        if not found:
            found = [
                n for n in ctx.nodes.values() if n.resource_type == "source" and n.unique_id.endswith(suffix)
            ]
    else:
        if not args:
            raise Unsupported("cannot read the ref() of `to`")
        name = args[-1] if len(args) <= 2 else args[1]
        found = [n for n in deps if n.resource_type in MODEL_TYPES and n.name == name]
        if not found:
            found = [n for n in ctx.nodes.values() if n.resource_type in MODEL_TYPES and n.name == name]
        if len(found) > 1 and len(args) == 2:
            found = [n for n in found if n.package == args[0]]
    if len(found) != 1:
        what = "no" if not found else "more than one"
        raise Unsupported(f"{kind}({', '.join(repr(a) for a in args)}) matches {what} node in the manifest")
    return found[0]
