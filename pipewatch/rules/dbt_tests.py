"""dbt's generic tests as rule specs, so `pipewatch check --dbt-tests` runs them through the fused engine.

Each generic test node of the manifest becomes one check on the relation of the node it tests, with
the test's unique id as its check id, its `severity`, its `where` config as the table filter and its
`warn_if`/`error_if` as the threshold. Counts are dbt's `failures`:

* core `not_null`, `unique`, `accepted_values`, `relationships` (and the same names from a package that
  overrides them with dbt's semantics, as the pipewatch package does);
* dbt-utils `expression_is_true`, `accepted_range`, `unique_combination_of_columns`,
  `not_null_proportion` (one failing row when the share is out of bounds);
* the pipewatch package's tests (`pipewatch.range`, `pipewatch.matches`, ...), whose arguments are the
  rule file's.

Anything else (singular tests, other generic tests, a custom `fail_calc`, Jinja in arguments, a column
given as an SQL expression) is listed as skipped with the reason, never guessed at.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from pipewatch.artifacts.model import Node, TestInfo
from pipewatch.config import parse_duration
from pipewatch.errors import ConfigError
from pipewatch.rules.results import SkippedCheck
from pipewatch.rules.spec import (
    AcceptedValues,
    Check,
    Duplicates,
    Expression,
    Freshness,
    Location,
    Matches,
    NotNull,
    NotNullProportion,
    Range,
    Relationships,
    RowCount,
    RuleSet,
    Scalar,
    TableRef,
    TableSpec,
    Unique,
)
from pipewatch.rules.sqltext import (
    ExternalRelationError,
    SqlTextError,
    check_pattern,
    name_key,
    parse_boolean,
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


class _Unsupported(Exception):
    """Internal: this test cannot be run faithfully; the message says why."""


@dataclass(slots=True)
class DbtTests:
    """The manifest's generic tests as table specs (one per relation and `where`), and the tests left out."""

    tables: list[TableSpec] = field(default_factory=list)
    skipped: list[SkippedCheck] = field(default_factory=list)

    @property
    def ruleset(self) -> RuleSet:
        """The specs as a rule set the engine runs."""
        return RuleSet(tables=list(self.tables), files=["<dbt tests>"])

    @property
    def checks(self) -> list[Check]:
        """Every imported check."""
        return [c for t in self.tables for c in t.checks]


def dbt_test_rules(nodes: Mapping[str, Node], dialect: str = "duckdb") -> DbtTests:
    """Turn every generic test in `nodes` (a loaded run's manifest nodes) into checks for `dialect`.

    Tests are taken in unique-id order; tests that cannot be run exactly as dbt runs them are returned
    in `skipped` with the reason.
    """
    out = DbtTests()
    groups: dict[tuple[tuple[str, ...], str], list[tuple[TableRef, str | None, Check, Node]]] = {}
    for uid in sorted(nodes):
        node = nodes[uid]
        if node.resource_type != "test" or node.test is None:
            continue
        try:
            target, where, check = _import(node, node.test, nodes, dialect)
        except ExternalRelationError as exc:  # a hostile manifest: refused, not skipped
            raise ConfigError(f"{node.path}: test `{uid}`: {exc}") from None
        except _Unsupported as why:
            out.skipped.append(
                SkippedCheck(check_id=uid, name=node.name, reason=str(why), model=node.test.attached_node)
            )
            continue
        key = (tuple(name_key(p, dialect) for p in target.parts), where or "")
        groups.setdefault(key, []).append((target, where, check, node))
    for items in groups.values():
        target, where, _, first = items[0]
        out.tables.append(
            TableSpec(
                target=target,
                checks=tuple(check for _, _, check, _ in items),
                where=where,
                loc=Location(first.path, 0),
            )
        )
    return out


def _import(
    node: Node, info: TestInfo, nodes: Mapping[str, Node], dialect: str
) -> tuple[TableRef, str | None, Check]:
    if not info.generic:
        raise _Unsupported("singular test: its own SQL is not a check pipewatch can fuse (run it with dbt)")
    key = (info.namespace or "", info.name)
    build = _BUILDERS.get(key) or (_BUILDERS.get(("dbt_utils", info.name)) if not info.namespace else None)
    if build is None:
        label = f"{info.namespace}.{info.name}" if info.namespace else info.name
        raise _Unsupported(f"generic test `{label}` has no pipewatch equivalent")
    if info.fail_calc is not None and "".join(info.fail_calc.split()).lower() != "count(*)":
        raise _Unsupported(f"fail_calc `{info.fail_calc}`: pipewatch counts failing rows (count(*)) only")
    _no_jinja(info.kwargs, "arguments")
    target = _tested_relation(info, nodes, dialect)
    where = info.where
    if where is not None:
        _no_jinja(where, "`where`")
        try:
            parse_boolean(where, dialect, "`where`")
        except SqlTextError as exc:
            raise _Unsupported(str(exc)) from None
    ctx = _Context(node, info, nodes, dialect, target)
    return target, where, build(ctx)


@dataclass(frozen=True)
class _Context:
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
                raise _Unsupported("no column to test")
            return ""
        return _column_name(str(raw), self.dialect)

    def common(self, *, counts_rows: bool = True, own_thresholds: bool = False) -> dict[str, Any]:
        """The options every check takes: name, id, severity, location and the threshold."""
        out: dict[str, Any] = {
            "name": self.node.name,
            "check_id": self.node.unique_id,
            "severity": "warn" if self.info.severity == "warn" else "error",
            "loc": Location(self.node.path, 0),
        }
        weight = self.arg("weight")
        if own_thresholds and _is_number(weight) and float(weight) >= 0:
            out["weight"] = float(weight)
        if not counts_rows:
            return out
        if own_thresholds:
            mf = self.arg("max_failures")
            ratio = self.arg("max_failure_ratio", self.arg("max_ratio"))
            if mf is not None:
                if not isinstance(mf, int) or isinstance(mf, bool) or mf < 0:
                    raise _Unsupported(f"max_failures `{mf}` is not a whole number >= 0")
                out["max_failures"] = mf
            if ratio is not None:
                if not _is_number(ratio) or not 0 <= float(ratio) <= 1:
                    raise _Unsupported(f"max_failure_ratio `{ratio}` is not a number between 0 and 1")
                out["max_failure_ratio"] = float(ratio)
            return out
        if out["severity"] == "warn":
            out["max_failures"] = _max_failures(self.info.warn_if)
            return out
        # dbt judges error_if first, then warn_if: more failures than warn_if allows is a `warn`.
        out["max_failures"] = _max_failures(self.info.error_if)
        warn_at = _max_failures(self.info.warn_if)
        if warn_at < out["max_failures"]:
            out["warn_above"] = warn_at
        return out


def _tested_relation(info: TestInfo, nodes: Mapping[str, Node], dialect: str) -> TableRef:
    if info.attached_node is None:
        raise _Unsupported("dbt does not say which model this test is attached to")
    parent = nodes.get(info.attached_node)
    if parent is None:
        raise _Unsupported(f"the tested node `{info.attached_node}` is not in the manifest")
    return _node_ref(parent)


def _node_ref(node: Node) -> TableRef:
    """The relation dbt built for a model, seed, snapshot or source."""
    if node.resource_type not in (*MODEL_TYPES, "source"):
        raise _Unsupported(f"tests on a {node.resource_type} have no table to check")
    if node.materialization == "ephemeral":
        raise _Unsupported(f"`{node.name}` is an ephemeral model: there is no table to check")
    parts = tuple(p for p in (node.database, node.schema, node.alias or node.name) if p)
    relation = ".".join(parts)
    return TableRef(parts=refuse_external(parts, relation), relation=relation, model=node.unique_id)


# --- argument helpers -------------------------------------------------------------------------------


def _no_jinja(value: Any, what: str) -> None:
    """dbt renders Jinja in test arguments at run time; pipewatch cannot, so such tests are skipped."""
    if isinstance(value, str):
        if "{{" in value or "{%" in value:
            raise _Unsupported(f"{what} hold Jinja that dbt renders at run time")
    elif isinstance(value, Mapping):
        for k, v in value.items():
            if k != "model":  # dbt's own `{{ get_where_subquery(ref(...)) }}`
                _no_jinja(v, what)
    elif isinstance(value, (list, tuple)):
        for v in value:
            _no_jinja(v, what)


def _column_name(raw: str, dialect: str) -> str:
    """A test's column as a name the engine quotes: plain names as they are, quoted ones unquoted."""
    text = raw.strip()
    if _PLAIN_COLUMN.match(text):
        return text
    quoted = _QUOTED_COLUMN.match(text)
    if quoted:
        inner = quoted.group(1).replace('""', '"') if quoted.group(1) else quoted.group(2).replace("``", "`")
        # The engine folds plain names as the dialect does; a quoted name it would fold means another column.
        if _PLAIN_COLUMN.match(inner) and name_key(inner, dialect) != inner:
            raise _Unsupported(f"quoted column {text}: pipewatch would fold its case")
        return inner
    raise _Unsupported(f"column `{raw}` is an SQL expression, not a column name")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, Decimal)) and not isinstance(value, bool)


def _max_failures(condition: str | None) -> int:
    """dbt's `warn_if`/`error_if` (`!= 0`, `> 10`, `>= 5`) as the most failures that still pass."""
    if condition is None:
        return 0
    match = _CONDITION.fullmatch(condition)
    if match is None:
        raise _Unsupported(f"threshold `{condition}`: pipewatch reads only `!= 0`, `> N` and `>= N`")
    op, n = match.group(1), int(match.group(2))
    if op in ("!=", "<>"):
        if n != 0:
            raise _Unsupported(f"threshold `{condition}`: pipewatch reads only `!= 0`, `> N` and `>= N`")
        return 0
    if op == ">":
        return n
    if n == 0:
        raise _Unsupported(f"threshold `{condition}` always fails")
    return n - 1


def _sql_literal(text: str, dialect: str) -> Scalar:
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
                raise _Unsupported(f"value `{text}` is not a plain SQL literal")
            return str(inner.this)
        number = Decimal(("-" if negative else "") + str(inner.this))
        return int(number) if number == number.to_integral_value() and "." not in str(inner.this) else number
    if isinstance(inner, exp.Boolean) and not negative:
        return bool(inner.this)
    raise _Unsupported(f"value `{text}` is not a plain SQL literal")


def _parent(ctx: _Context, to: Any) -> TableRef:
    """The parent relation of a relationships test: from `to` (a ref/source, a model name or a mapping)."""
    if isinstance(to, Mapping):
        if to.get("relation"):
            try:
                parts = parse_relation(str(to["relation"]), ctx.dialect)
            except ExternalRelationError:
                raise
            except SqlTextError as exc:
                raise _Unsupported(str(exc)) from None
            return TableRef(parts=parts, relation=".".join(parts))
        if to.get("model"):
            return _node_ref(_by_name(ctx, "ref", [str(to["model"])]))
        if to.get("source"):
            return _node_ref(_by_name(ctx, "source", str(to["source"]).split(".")))
        raise _Unsupported("relationships `to` names no model, source or relation")
    if not isinstance(to, str) or not to.strip():
        raise _Unsupported("relationships test without `to`")
    call = _REF.search(to)
    if call is None:  # the pipewatch package takes a bare model name
        return _node_ref(_by_name(ctx, "ref", [to.strip()]))
    args = [m.group(2) for a in call.group(2).split(",") if (m := _STRING_ARG.match(a))]
    return _node_ref(_by_name(ctx, call.group(1), args))


def _by_name(ctx: _Context, kind: str, args: list[str]) -> Node:
    """The node a `ref(...)`/`source(...)` names, looked up among the test's dependencies first."""
    deps = [ctx.nodes[d] for d in ctx.node.depends_on if d in ctx.nodes]
    if kind == "source":
        if len(args) < 2:
            raise _Unsupported(f"cannot read source({', '.join(args)})")
        suffix = "." + ".".join(args[-2:])
        found = [n for n in deps if n.resource_type == "source" and n.unique_id.endswith(suffix)]
        if not found:
            found = [
                n for n in ctx.nodes.values() if n.resource_type == "source" and n.unique_id.endswith(suffix)
            ]
    else:
        if not args:
            raise _Unsupported("cannot read the ref() of `to`")
        name = args[-1] if len(args) <= 2 else args[1]
        found = [n for n in deps if n.resource_type in MODEL_TYPES and n.name == name]
        if not found:
            found = [n for n in ctx.nodes.values() if n.resource_type in MODEL_TYPES and n.name == name]
        if len(found) > 1 and len(args) == 2:
            found = [n for n in found if n.package == args[0]]
    if len(found) != 1:
        what = "no" if not found else "more than one"
        raise _Unsupported(f"{kind}({', '.join(repr(a) for a in args)}) matches {what} node in the manifest")
    return found[0]


# --- one builder per test ---------------------------------------------------------------------------

Builder = Callable[[_Context], Check]


def _not_null(ctx: _Context) -> Check:
    return NotNull(column=ctx.column(), **ctx.common())


def _unique(ctx: _Context) -> Check:
    return Unique(columns=(ctx.column(),), **ctx.common())


def _accepted_values(ctx: _Context, own: bool = False) -> Check:
    values = ctx.arg("values")
    if not isinstance(values, (list, tuple)) or not values:
        raise _Unsupported("accepted_values without a list of values")
    # dbt quotes every value as a string unless `quote: false`, then pastes them as SQL.
    if ctx.arg("quote", True) is False:
        parsed = [
            v if _is_number(v) or isinstance(v, bool) else _sql_literal(str(v), ctx.dialect) for v in values
        ]
    else:
        parsed = [str(v) for v in values]
    return AcceptedValues(column=ctx.column(), values=tuple(parsed), **ctx.common(own_thresholds=own))


def _relationships(ctx: _Context, own: bool = False) -> Check:
    col = ctx.column()
    field_name = ctx.arg("field") or col
    return Relationships(
        column=col,
        to=_parent(ctx, ctx.arg("to")),
        field=_column_name(str(field_name), ctx.dialect),
        **ctx.common(own_thresholds=own),
    )


def _boolean_sql(ctx: _Context, sql: str, what: str) -> str:
    try:
        parse_boolean(sql, ctx.dialect, what)
    except SqlTextError as exc:
        raise _Unsupported(str(exc)) from None
    return sql


def _expression_is_true(ctx: _Context) -> Check:
    expression = ctx.arg("expression")
    if not isinstance(expression, str) or not expression.strip():
        raise _Unsupported("expression_is_true without an `expression`")
    column = ctx.info.column_name
    sql = f"{column} {expression}" if column else expression
    return Expression(sql=_boolean_sql(ctx, sql, "expression"), **ctx.common())


def _accepted_range(ctx: _Context) -> Check:
    col = ctx.column()
    low, high = ctx.arg("min_value"), ctx.arg("max_value")
    inclusive = ctx.arg("inclusive", True) is not False
    if low is None and high is None:
        raise _Unsupported("accepted_range without min_value or max_value")
    common = ctx.common()
    if all(v is None or _is_number(v) for v in (low, high)):
        return Range(column=col, min=low, max=high, inclusive=inclusive, **common)
    # dbt-utils pastes the bounds as SQL (`current_date`, `'2024-01-01'`): the same test as an expression.
    eq = "=" if inclusive else ""
    parts = [f"{ctx.info.column_name} >{eq} {low}" if low is not None else None]
    parts.append(f"{ctx.info.column_name} <{eq} {high}" if high is not None else None)
    sql = " AND ".join(p for p in parts if p)
    return Expression(sql=_boolean_sql(ctx, sql, "accepted_range"), **common)


def _unique_combination(ctx: _Context) -> Check:
    cols = ctx.arg("combination_of_columns")
    if not isinstance(cols, (list, tuple)) or not cols:
        raise _Unsupported("unique_combination_of_columns without `combination_of_columns`")
    names = tuple(_column_name(str(c), ctx.dialect) for c in cols)
    if ctx.arg("quote_columns") is True and any(name_key(n, ctx.dialect) != n for n in names):
        raise _Unsupported("quote_columns with names the dialect would fold")
    # dbt-utils groups by the columns as they are: NULL keys group together.
    return Unique(columns=names, ignore_null_keys=False, **ctx.common())


def _not_null_proportion(ctx: _Context) -> Check:
    if ctx.arg("group_by_columns"):
        raise _Unsupported("not_null_proportion with group_by_columns (one result per group)")
    at_least = ctx.arg("at_least", ctx.arg("arg"))
    at_most = ctx.arg("at_most", 1)
    if not _is_number(at_least) or not _is_number(at_most):
        raise _Unsupported("not_null_proportion needs numeric at_least (and at_most)")
    return NotNullProportion(
        column=ctx.column(), at_least=float(at_least), at_most=float(at_most), **ctx.common()
    )


# The pipewatch package's tests take the rule file's arguments and thresholds.


def _pw_not_null(ctx: _Context) -> Check:
    return NotNull(column=ctx.column(), **ctx.common(own_thresholds=True))


def _pw_unique(ctx: _Context) -> Check:
    return Unique(columns=(ctx.column(),), **ctx.common(own_thresholds=True))


def _pw_range(ctx: _Context) -> Check:
    low, high = ctx.arg("min"), ctx.arg("max")
    if low is None and high is None:
        raise _Unsupported("range without min or max")
    for v in (low, high):
        if isinstance(v, bool) or (v is not None and not isinstance(v, (int, float, Decimal, str))):
            raise _Unsupported(f"range bound `{v}` is not a number or string")
    inclusive = ctx.arg("inclusive", True) is not False
    return Range(
        column=ctx.column(), min=low, max=high, inclusive=inclusive, **ctx.common(own_thresholds=True)
    )


def _pw_matches(ctx: _Context) -> Check:
    pattern = ctx.arg("pattern")
    if not isinstance(pattern, str):
        raise _Unsupported("matches without a `pattern`")
    problem = check_pattern(pattern, ctx.dialect)
    if problem:
        raise _Unsupported(problem)
    return Matches(column=ctx.column(), pattern=pattern, **ctx.common(own_thresholds=True))


def _pw_expression(ctx: _Context) -> Check:
    sql = ctx.arg("sql")
    if not isinstance(sql, str):
        raise _Unsupported("expression without `sql`")
    return Expression(sql=_boolean_sql(ctx, sql, "expression"), **ctx.common(own_thresholds=True))


def _pw_row_count(ctx: _Context) -> Check:
    low, high = ctx.arg("min"), ctx.arg("max")
    for v in (low, high):
        if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 0):
            raise _Unsupported(f"row_count bound `{v}` is not a whole number >= 0")
    if low is None and high is None:
        raise _Unsupported("row_count without min or max")
    return RowCount(min=low, max=high, **ctx.common(counts_rows=False, own_thresholds=True))


def _pw_freshness(ctx: _Context) -> Check:
    try:
        seconds = parse_duration(ctx.arg("max_age"))
    except (TypeError, ValueError) as exc:
        raise _Unsupported(f"freshness: {exc}") from None
    return Freshness(
        column=ctx.column(), max_age_s=seconds, **ctx.common(counts_rows=False, own_thresholds=True)
    )


def _pw_duplicates(ctx: _Context) -> Check:
    cols = ctx.arg("columns")
    if cols is None:
        cols = [ctx.column()]
    elif isinstance(cols, str):
        cols = [cols]
    if not isinstance(cols, (list, tuple)) or not cols:
        raise _Unsupported("duplicates without columns")
    names = tuple(_column_name(str(c), ctx.dialect) for c in cols)
    return Duplicates(columns=names, **ctx.common(own_thresholds=True))


_BUILDERS: dict[tuple[str, str], Builder] = {
    ("", "not_null"): _not_null,
    ("", "unique"): _unique,
    ("", "accepted_values"): _accepted_values,
    ("", "relationships"): _relationships,
    ("dbt", "not_null"): _not_null,
    ("dbt", "unique"): _unique,
    ("dbt", "accepted_values"): _accepted_values,
    ("dbt", "relationships"): _relationships,
    ("dbt_utils", "expression_is_true"): _expression_is_true,
    ("dbt_utils", "accepted_range"): _accepted_range,
    ("dbt_utils", "unique_combination_of_columns"): _unique_combination,
    ("dbt_utils", "not_null_proportion"): _not_null_proportion,
    ("pipewatch", "not_null"): _pw_not_null,
    ("pipewatch", "unique"): _pw_unique,
    ("pipewatch", "accepted_values"): lambda ctx: _accepted_values(ctx, own=True),
    ("pipewatch", "relationships"): lambda ctx: _relationships(ctx, own=True),
    ("pipewatch", "range"): _pw_range,
    ("pipewatch", "matches"): _pw_matches,
    ("pipewatch", "expression"): _pw_expression,
    ("pipewatch", "row_count"): _pw_row_count,
    ("pipewatch", "freshness"): _pw_freshness,
    ("pipewatch", "duplicates"): _pw_duplicates,
}
