"""Load `rules/*.yml` into a `RuleSet`, validating everything before any query runs.

Every problem in every file is collected with its `file:line`, and one `ConfigError` (exit code 2)
lists them all, one per line. The format is the rule-file contract in DESIGN.md:

    version: 1
    tables:
      - model: orders | source: raw.orders | relation: analytics.main.orders
        where: "<boolean SQL>"          # optional
        checks:
          - not_null: [order_id, customer_id]
          - unique: order_id
          - range: {column: amount, min: 0, max: 100000, severity: warn}
          ...

A check is a one-key mapping `<type>: <args>`; the common options (`name`, `severity`, `max_failures`,
`max_failure_ratio`, `weight`) go inside the args mapping or beside the type key.
"""

from __future__ import annotations

import contextlib
import difflib
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from pipewatch.config import parse_duration as parse_config_duration
from pipewatch.errors import ConfigError
from pipewatch.rules.located import LMap, Located, LocatedYAMLError, LScalar, LSeq, load_located
from pipewatch.rules.spec import (
    CHECK_TYPES,
    SEVERITIES,
    AcceptedValues,
    Check,
    Duplicates,
    Expression,
    Freshness,
    Location,
    Matches,
    NotNull,
    Range,
    Relationships,
    RowCount,
    RuleSet,
    Scalar,
    TableRef,
    TableSpec,
    Unique,
    check_id,
)
from pipewatch.rules.sqltext import SqlTextError, check_pattern, dialect_of, parse_boolean
from pipewatch.rules.targets import NodeLike, Resolver, TargetError

RULE_FILE_SUFFIXES = (".yml", ".yaml")
COMMON_KEYS = ("name", "severity", "max_failures", "max_failure_ratio", "weight")
THRESHOLD_KEYS = ("max_failures", "max_failure_ratio")
TARGET_KEYS = ("model", "source", "relation")
TABLE_KEYS = (*TARGET_KEYS, "where", "checks")


def parse_duration(text: str) -> float:
    """Seconds in a rule file's duration (`48h`, `2d`, `1h30m`); zero or less is refused too."""
    total = parse_config_duration(text)
    if total <= 0:
        raise ValueError(f"bad duration `{text}`: must be more than zero")
    return total


def rule_files(path: str | Path) -> list[Path]:
    """The rule files at `path`: the file itself, or every `*.yml`/`*.yaml` in the folder (sorted)."""
    p = Path(path)
    if p.is_file():
        return [p]
    if p.is_dir():
        files = sorted(f for f in p.rglob("*") if f.suffix in RULE_FILE_SUFFIXES and f.is_file())
        if not files:
            raise ConfigError(f"{p}: no rule files (*.yml, *.yaml) in this folder")
        return files
    raise ConfigError(f"{p}: no such rule file or folder")


def load_rules(
    path: str | Path, *, nodes: Mapping[str, NodeLike] | None = None, dialect: str = "duckdb"
) -> RuleSet:
    """Load and validate a rule file or a folder of them; raise one `ConfigError` listing every problem.

    `nodes` is the manifest's nodes (`Run.nodes`) for `model:`/`source:` targets; `dialect` is the
    warehouse's SQL dialect, in which `where`/`expression` text is parsed.
    """
    loader = _Loader(nodes, dialect)
    for f in rule_files(path):
        try:
            text = f.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            loader.problems.append((str(f), 0, f"cannot read: {exc}"))
            continue
        loader.add_text(text, str(f))
    return loader.finish()


def parse_rules(
    text: str,
    *,
    source: str = "<rules>",
    nodes: Mapping[str, NodeLike] | None = None,
    dialect: str = "duckdb",
) -> RuleSet:
    """Validate rule-file YAML given as text (`source` names it in error messages)."""
    loader = _Loader(nodes, dialect)
    loader.add_text(text, source)
    return loader.finish()


class _Invalid(Exception):
    """Internal: a value was refused and reported; stop building the current item."""


@dataclass
class _Loader:
    nodes: Mapping[str, NodeLike] | None
    dialect: str
    problems: list[tuple[str, int, str]] = field(default_factory=list)
    ruleset: RuleSet = field(default_factory=RuleSet)
    file: str = ""

    def __post_init__(self) -> None:
        try:
            dialect_of(self.dialect)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        self.resolver = Resolver(self.nodes, self.dialect)

    # -- error plumbing ---------------------------------------------------------------------------------

    def err(self, line: int, message: str) -> None:
        """Record a problem at `line` of the current file."""
        self.problems.append((self.file, line, message))

    def fail(self, line: int, message: str) -> _Invalid:
        """Record a problem and return the exception that abandons the current item."""
        self.err(line, message)
        return _Invalid()

    def finish(self) -> RuleSet:
        """Check ids across files, then the rule set, or one ConfigError listing every problem."""
        places: dict[str, list[Location]] = {}
        for table in self.ruleset.tables:
            for check in table.checks:
                places.setdefault(check_id(table, check), []).append(check.loc)
        for cid, locs in places.items():
            if len(locs) > 1:  # said once per id, with a count, however many copies there are
                again = locs[1]
                more = f" ({len(locs) - 1} more definitions)" if len(locs) > 2 else ""
                self.problems.append(
                    (
                        again.file,
                        again.line,
                        f"check `{cid}` is already defined at {locs[0]}{more}; give one of them a `name`",
                    )
                )
        if self.problems:
            lines = [f"{f}:{n}: {m}" if n else f"{f}: {m}" for f, n, m in self.problems]
            raise ConfigError("\n".join(lines))
        return self.ruleset

    # -- document ---------------------------------------------------------------------------------------

    def add_text(self, text: str, source: str) -> None:
        """Validate one rule file's text and add its tables."""
        self.file = source
        self.ruleset.files.append(source)
        try:
            doc = load_located(text)
        except LocatedYAMLError as exc:
            self.err(exc.line, exc.message)
            return
        if doc is None:
            self.err(1, "empty rule file (expected `version: 1` and `tables:`)")
            return
        if not isinstance(doc, LMap):
            self.err(doc.line, "a rule file is a mapping with `version: 1` and `tables:`")
            return
        self._keys(doc, ("version", "tables"), ("version", "tables"), "rule file")
        version = doc.items.get("version")
        if version is not None:
            v = version.value if isinstance(version, LScalar) else None
            if isinstance(v, str):
                self.err(version.line, f"`version` must be the number 1, not the string `{v}`")
            elif isinstance(v, bool) or v != 1:
                self.err(version.line, f"unsupported rule file version `{_show(version)}` (expected 1)")
        tables = doc.items.get("tables")
        if tables is None:
            return
        if not isinstance(tables, LSeq):
            self.err(tables.line, "`tables` must be a list of table entries")
            return
        for entry in tables.items:
            with contextlib.suppress(_Invalid):
                self._table(entry)

    def _keys(self, m: LMap, allowed: tuple[str, ...], required: tuple[str, ...], what: str) -> None:
        for key in m.items:
            if key not in allowed:
                hint = _suggest(key, allowed)
                self.err(m.line_of(key), f"{what}: unknown key `{key}`{hint} (allowed: {', '.join(allowed)})")
        for key in required:
            if key not in m.items:
                self.err(m.line, f"{what}: missing key `{key}`")

    # -- tables -----------------------------------------------------------------------------------------

    def _table(self, entry: Located) -> None:
        if not isinstance(entry, LMap):
            raise self.fail(
                entry.line, "a table entry must be a mapping with `model:`, `source:` or `relation:`"
            )
        self._keys(entry, TABLE_KEYS, ("checks",), "table")
        named = [k for k in TARGET_KEYS if k in entry.items]
        target: TableRef | None = None
        if len(named) != 1:
            self.err(entry.line, "a table entry needs exactly one of `model:`, `source:` or `relation:`")
        else:
            key = named[0]
            raw = entry.items[key]
            target = self._target(key, raw)
        where: str | None = None
        if "where" in entry.items:
            w = entry.items["where"]
            text = self._str(w, "`where`")
            if text is not None:
                try:
                    parse_boolean(text, self.dialect, "`where`")
                    where = text
                except SqlTextError as exc:
                    self.err(w.line, str(exc))
        checks_node = entry.items.get("checks")
        checks: list[Check] = []
        if checks_node is not None:
            if not isinstance(checks_node, LSeq) or not checks_node.items:
                self.err(checks_node.line, "`checks` must be a non-empty list")
            else:
                for item in checks_node.items:
                    with contextlib.suppress(_Invalid):
                        checks.extend(self._check(item))
        if target is not None:
            self.ruleset.tables.append(
                TableSpec(
                    target=target, checks=tuple(checks), where=where, loc=Location(self.file, entry.line)
                )
            )

    def _target(self, key: str, raw: Located, what: str = "") -> TableRef | None:
        text = self._str(raw, f"`{key}`")
        if text is None:
            return None
        try:
            if key == "model":
                return self.resolver.model(text)
            if key == "source":
                return self.resolver.source(text)
            return self.resolver.relation(text)
        except TargetError as exc:
            self.err(raw.line, f"{what}{exc}")
            return None

    # -- checks -----------------------------------------------------------------------------------------

    def _check(self, item: Located) -> list[Check]:
        if not isinstance(item, LMap) or not item.items:
            raise self.fail(
                item.line, "a check is a mapping `<type>: <arguments>` (e.g. `- not_null: order_id`)"
            )
        types = [k for k in item.items if k in CHECK_TYPES]
        if len(types) > 1:
            raise self.fail(item.line, f"one check per list item (found {', '.join(types)})")
        if not types:
            unknown = (
                next(k for k in item.items if k not in COMMON_KEYS)
                if set(item.items) - set(COMMON_KEYS)
                else None
            )
            if unknown is None:
                raise self.fail(item.line, "check type missing (e.g. `- not_null: order_id`)")
            hint = _suggest(unknown, tuple(CHECK_TYPES))
            raise self.fail(
                item.line_of(unknown),
                f"unknown check type `{unknown}`{hint} (known: {', '.join(CHECK_TYPES)})",
            )
        kind = types[0]
        siblings = {k: v for k, v in item.items.items() if k != kind}
        for k in siblings:
            if k not in COMMON_KEYS:
                raise self.fail(item.line_of(k), f"{kind}: unknown key `{k}`{_suggest(k, COMMON_KEYS)}")
        value = item.items[kind]
        line = item.line_of(kind)
        builder = _BUILDERS[kind]
        return builder(self, kind, value, siblings, line)

    def _args(
        self,
        kind: str,
        value: Located,
        siblings: dict[str, Located],
        own: tuple[str, ...],
        required: tuple[str, ...],
    ) -> dict[str, Located]:
        """The check's arguments (mapping form plus sibling options), with unknown/missing keys reported."""
        if not isinstance(value, LMap):
            raise self.fail(value.line, f"{kind}: arguments must be a mapping ({', '.join(own)})")
        common = COMMON_KEYS if CHECK_TYPES[kind].counts_rows else ("name", "severity", "weight")
        allowed = (*own, *common)
        before = len(self.problems)
        self._keys(value, allowed, required, kind)
        for k in siblings:
            if k not in allowed:
                self.err(value.line, f"{kind}: `{k}` does not apply to this check")
            elif k in value.items:
                self.err(value.line_of(k), f"{kind}: `{k}` given twice")
        if len(self.problems) != before:
            raise _Invalid()
        return {**siblings, **value.items}

    def _common(self, kind: str, args: dict[str, Located], line: int, default_name: str) -> dict[str, Any]:
        out: dict[str, Any] = {"name": default_name, "loc": Location(self.file, line)}
        ok = True
        if "name" in args:
            name = self._str(args["name"], f"{kind}: `name`")
            ok &= name is not None
            if name is not None:
                out["name"] = name
        if "severity" in args:
            sev = args["severity"]
            raw = sev.value if isinstance(sev, LScalar) else None
            if not isinstance(raw, str) or raw.lower() not in SEVERITIES:
                ok = False
                self.err(sev.line, f"{kind}: severity must be `error` or `warn` (got `{_show(sev)}`)")
            else:
                out["severity"] = raw.lower()
        if "max_failures" in args:
            mf = args["max_failures"]
            raw = mf.value if isinstance(mf, LScalar) else None
            if isinstance(raw, bool) or not isinstance(raw, int) or raw < 0:
                ok = False
                self.err(mf.line, f"{kind}: max_failures must be a whole number >= 0 (got `{_show(mf)}`)")
            else:
                out["max_failures"] = raw
        for key in ("max_failure_ratio", "max_ratio"):
            if key in args:
                ratio = self._number(args[key], f"{kind}: {key}", low=0.0, high=1.0)
                ok &= ratio is not None
                if ratio is not None:
                    out["max_failure_ratio"] = ratio
        if "weight" in args:
            w = self._number(args["weight"], f"{kind}: weight", low=0.0)
            ok &= w is not None
            if w is not None:
                out["weight"] = w
        if not ok:
            raise _Invalid()
        return out

    # -- scalar helpers ---------------------------------------------------------------------------------

    def _str(self, node: Located, what: str, blank_ok: bool = False) -> str | None:
        if (
            isinstance(node, LScalar)
            and isinstance(node.value, str)
            and (node.value.strip() or (blank_ok and node.value))
        ):
            return node.value
        self.err(node.line, f"{what} must be a non-empty string (got `{_show(node)}`)")
        return None

    def _number(
        self, node: Located, what: str, low: float | None = None, high: float | None = None
    ) -> float | None:
        raw = node.value if isinstance(node, LScalar) else None
        if isinstance(raw, bool) or not isinstance(raw, (int, float, Decimal)):
            self.err(node.line, f"{what} must be a number (got `{_show(node)}`)")
            return None
        value = float(raw)
        if (low is not None and value < low) or (high is not None and value > high) or value != value:
            bounds = f"between {low:g} and {high:g}" if high is not None else f">= {low:g}"
            self.err(node.line, f"{what} must be {bounds} (got {raw})")
            return None
        return value

    def _columns(self, node: Located, what: str) -> list[str]:
        items = node.items if isinstance(node, LSeq) else [node]
        if isinstance(node, LSeq) and not items:
            raise self.fail(node.line, f"{what}: the column list is empty")
        names = [self._str(i, f"{what}: column name") for i in items]
        if any(n is None for n in names):
            raise _Invalid()
        return [n for n in names if n is not None]

    def _column(self, node: Located, what: str) -> str:
        name = self._str(node, f"{what}: `column`")
        if name is None:
            raise _Invalid()
        return name

    def _literal(self, node: Located, what: str) -> Scalar:
        raw = node.value if isinstance(node, LScalar) else None
        if raw is None or not isinstance(raw, (str, int, float, bool, Decimal, date, datetime)):
            raise self.fail(
                node.line, f"{what} must be a string, number, boolean or date (got `{_show(node)}`)"
            )
        value: Scalar = raw
        return value


# --- one builder per check type ---------------------------------------------------------------------

Builder = Callable[[_Loader, str, Located, dict[str, Located], int], list[Check]]


def _per_column(
    ld: _Loader, kind: str, value: Located, siblings: dict[str, Located], line: int
) -> list[Check]:
    """not_null / unique: a column, a list of columns, or `{column|columns: ..., <options>}`."""
    if isinstance(value, LMap):
        args = ld._args(kind, value, siblings, ("column", "columns"), ())
        given = [k for k in ("column", "columns") if k in args]
        if len(given) != 1:
            raise ld.fail(value.line, f"{kind}: give exactly one of `column` or `columns`")
        cols = ld._columns(args[given[0]], kind)
    else:
        args = dict(siblings)
        ld._args(kind, LMap({}, value.line), siblings, ("column", "columns"), ())
        cols = ld._columns(value, kind)
    if "name" in args and len(cols) > 1:
        raise ld.fail(args["name"].line, f"{kind}: `name` needs a single column (got {len(cols)})")
    repeated = {c: n for c, n in Counter(cols).items() if n > 1}
    if repeated:  # one line per column however often it repeats, not one per copy
        for col, times in repeated.items():
            ld.err(value.line, f"{kind}: column `{col}` is listed {times} times")
        raise _Invalid()
    checks: list[Check] = []
    for col in cols:
        common = ld._common(kind, args, line, f"{kind}({col})")
        if kind == "not_null":
            checks.append(NotNull(column=col, **common))
        else:
            checks.append(Unique(columns=(col,), **common))
    return checks


def _accepted_values(
    ld: _Loader, kind: str, value: Located, siblings: dict[str, Located], line: int
) -> list[Check]:
    args = ld._args(kind, value, siblings, ("column", "values"), ("column", "values"))
    col = ld._column(args["column"], kind)
    values_node = args["values"]
    if not isinstance(values_node, LSeq) or not values_node.items:
        raise ld.fail(values_node.line, f"{kind}: `values` must be a non-empty list")
    values: list[Scalar] = []
    bad = False
    for v in values_node.items:
        if isinstance(v, LScalar) and v.value is None:
            ld.err(v.line, f"{kind}: null is not a value (NULLs never fail accepted_values; use not_null)")
            bad = True
            continue
        try:
            values.append(ld._literal(v, f"{kind}: each value"))
        except _Invalid:
            bad = True
    common = ld._common(kind, args, line, f"{kind}({col})")
    if bad:
        raise _Invalid()
    return [AcceptedValues(column=col, values=tuple(values), **common)]


def _comparable(a: Scalar, b: Scalar) -> bool:
    numbers = (int, float, Decimal)
    if isinstance(a, numbers) and isinstance(b, numbers):
        return True
    if isinstance(a, datetime) or isinstance(b, datetime):
        return isinstance(a, datetime) and isinstance(b, datetime)
    return type(a) is type(b)


def _bounds(ld: _Loader, kind: str, args: dict[str, Located], integer: bool, line: int) -> tuple[Any, Any]:
    if "min" not in args and "max" not in args:
        raise ld.fail(line, f"{kind}: give `min`, `max` or both")
    out: list[Any] = []
    for key in ("min", "max"):
        node = args.get(key)
        if node is None:
            out.append(None)
            continue
        raw = node.value if isinstance(node, LScalar) else None
        if integer:
            if isinstance(raw, bool) or not isinstance(raw, int) or raw < 0:
                raise ld.fail(node.line, f"{kind}: `{key}` must be a whole number >= 0 (got `{_show(node)}`)")
        elif isinstance(raw, bool) or not isinstance(raw, (int, float, Decimal, str, date, datetime)):
            raise ld.fail(
                node.line, f"{kind}: `{key}` must be a number, string or date (got `{_show(node)}`)"
            )
        if isinstance(raw, float) and raw != raw:
            raise ld.fail(node.line, f"{kind}: `{key}` must not be NaN")
        out.append(raw)
    lo, hi = out
    if lo is not None and hi is not None:
        if not _comparable(lo, hi):
            raise ld.fail(args["max"].line, f"{kind}: `min` and `max` have different types ({lo!r}, {hi!r})")
        if lo > hi:
            raise ld.fail(args["min"].line, f"{kind}: min ({lo}) is greater than max ({hi})")
    return lo, hi


def _range(ld: _Loader, kind: str, value: Located, siblings: dict[str, Located], line: int) -> list[Check]:
    args = ld._args(kind, value, siblings, ("column", "min", "max"), ("column",))
    col = ld._column(args["column"], kind)
    lo, hi = _bounds(ld, kind, args, integer=False, line=value.line)
    common = ld._common(kind, args, line, f"{kind}({col})")
    return [Range(column=col, min=lo, max=hi, **common)]


def _matches(ld: _Loader, kind: str, value: Located, siblings: dict[str, Located], line: int) -> list[Check]:
    args = ld._args(kind, value, siblings, ("column", "pattern"), ("column", "pattern"))
    col = ld._column(args["column"], kind)
    pattern = ld._str(args["pattern"], f"{kind}: `pattern`", blank_ok=True)
    if pattern is None:
        raise _Invalid()
    problem = check_pattern(pattern, ld.dialect)
    if problem:
        raise ld.fail(args["pattern"].line, f"{kind}: {problem}")
    common = ld._common(kind, args, line, f"{kind}({col})")
    return [Matches(column=col, pattern=pattern, **common)]


def _relationships(
    ld: _Loader, kind: str, value: Located, siblings: dict[str, Located], line: int
) -> list[Check]:
    args = ld._args(kind, value, siblings, ("column", "to", "field"), ("column", "to"))
    col = ld._column(args["column"], kind)
    field_name = col
    if "field" in args:
        f = ld._str(args["field"], f"{kind}: `field`")
        if f is None:
            raise _Invalid()
        field_name = f
    to_node = args["to"]
    if isinstance(to_node, LScalar):
        parent = ld._target("model", to_node, f"{kind}: `to`: ")
    elif isinstance(to_node, LMap):
        ld._keys(to_node, TARGET_KEYS, (), f"{kind}: `to`")
        named = [k for k in TARGET_KEYS if k in to_node.items]
        if len(named) != 1:
            raise ld.fail(
                to_node.line, f"{kind}: `to` needs exactly one of `model:`, `source:` or `relation:`"
            )
        parent = ld._target(named[0], to_node.items[named[0]], f"{kind}: `to`: ")
    else:
        raise ld.fail(to_node.line, f"{kind}: `to` is a model name or a mapping with model/source/relation")
    common = ld._common(kind, args, line, "")
    if parent is None:
        raise _Invalid()
    if "name" not in args:
        common["name"] = f"{kind}({col} -> {parent.relation}.{field_name})"
    return [Relationships(column=col, to=parent, field=field_name, **common)]


def _row_count(
    ld: _Loader, kind: str, value: Located, siblings: dict[str, Located], line: int
) -> list[Check]:
    args = ld._args(kind, value, siblings, ("min", "max"), ())
    lo, hi = _bounds(ld, kind, args, integer=True, line=value.line)
    common = ld._common(kind, args, line, kind)
    return [RowCount(min=lo, max=hi, **common)]


def _freshness(
    ld: _Loader, kind: str, value: Located, siblings: dict[str, Located], line: int
) -> list[Check]:
    args = ld._args(kind, value, siblings, ("column", "max_age"), ("column", "max_age"))
    col = ld._column(args["column"], kind)
    age_node = args["max_age"]
    raw = age_node.value if isinstance(age_node, LScalar) else None
    try:
        if not isinstance(raw, str):
            raise ValueError(
                f"bad duration `{_show(age_node)}`: use a number and a unit s, m, h, d or w (e.g. 48h)"
            )
        seconds = parse_duration(raw)
    except ValueError as exc:
        raise ld.fail(age_node.line, f"{kind}: {exc}") from None
    common = ld._common(kind, args, line, f"{kind}({col})")
    return [Freshness(column=col, max_age_s=seconds, **common)]


def _duplicates(
    ld: _Loader, kind: str, value: Located, siblings: dict[str, Located], line: int
) -> list[Check]:
    args = ld._args(kind, value, siblings, ("columns", "column", "max_ratio"), ())
    given = [k for k in ("column", "columns") if k in args]
    if len(given) != 1:
        raise ld.fail(value.line, f"{kind}: give exactly one of `column` or `columns`")
    if "max_ratio" in args and "max_failure_ratio" in args:
        raise ld.fail(args["max_ratio"].line, f"{kind}: give `max_ratio` or `max_failure_ratio`, not both")
    cols = ld._columns(args[given[0]], kind)
    if len(set(cols)) != len(cols):
        raise ld.fail(args[given[0]].line, f"{kind}: a column is listed twice")
    common = ld._common(kind, args, line, f"{kind}({', '.join(cols)})")
    return [Duplicates(columns=tuple(cols), **common)]


def _expression(
    ld: _Loader, kind: str, value: Located, siblings: dict[str, Located], line: int
) -> list[Check]:
    if isinstance(value, LMap):
        args = ld._args(kind, value, siblings, ("sql",), ("sql",))
        sql_node = args["sql"]
    else:
        args = dict(siblings)
        ld._args(kind, LMap({}, value.line), siblings, ("sql",), ())
        sql_node = value
    sql = ld._str(sql_node, f"{kind}: `sql`")
    if sql is None:
        raise _Invalid()
    try:
        parse_boolean(sql, ld.dialect, f"{kind}: `sql`")
    except SqlTextError as exc:
        raise ld.fail(sql_node.line, str(exc)) from None
    common = ld._common(kind, args, line, f"{kind}({' '.join(sql.split())})")
    return [Expression(sql=sql, **common)]


_BUILDERS: dict[str, Builder] = {
    "not_null": _per_column,
    "unique": _per_column,
    "accepted_values": _accepted_values,
    "range": _range,
    "matches": _matches,
    "relationships": _relationships,
    "row_count": _row_count,
    "freshness": _freshness,
    "duplicates": _duplicates,
    "expression": _expression,
}


def _show(node: Located) -> str:
    if isinstance(node, LScalar):
        return "null" if node.value is None else str(node.value)
    return "a list" if isinstance(node, LSeq) else "a mapping"


def _suggest(word: str, choices: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(word, choices, n=1)
    return f" (did you mean `{close[0]}`?)" if close else ""
