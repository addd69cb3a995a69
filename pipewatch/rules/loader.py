"""Load `rules/*.yml` into a `RuleSet`, validating everything before any query runs.

Every problem in every file is collected with its `file:line`, and one `ConfigError` (exit code 2)
lists them all, one per line. The format is the rule-file contract in docs/contracts.md:

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
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from pipewatch.errors import ConfigError
from pipewatch.located import LMap, Located, LocatedYAMLError, LScalar, LSeq, load_located
from pipewatch.rules.rule_checks import BUILDERS, TARGET_KEYS, Invalid, show, suggest
from pipewatch.rules.spec import (
    CHECK_TYPES,
    SEVERITIES,
    Check,
    Location,
    RuleSet,
    Scalar,
    TableRef,
    TableSpec,
    check_id,
)
from pipewatch.rules.sqltext import SqlTextError, dialect_of, parse_boolean
from pipewatch.rules.targets import NodeLike, Resolver, TargetError

RULE_FILE_SUFFIXES = (".yml", ".yaml")
COMMON_KEYS = ("name", "severity", "max_failures", "max_failure_ratio", "weight")
TABLE_KEYS = (*TARGET_KEYS, "where", "checks")


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
    loader = RuleLoader(nodes, dialect)
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
    loader = RuleLoader(nodes, dialect)
    loader.add_text(text, source)
    return loader.finish()


@dataclass
class RuleLoader:
    """Validates rule files one by one into a rule set, collecting every problem with its file and line."""

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

    def fail(self, line: int, message: str) -> Invalid:
        """Record a problem and return the exception that abandons the current item."""
        self.err(line, message)
        return Invalid()

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
        self.keys(doc, ("version", "tables"), ("version", "tables"), "rule file")
        version = doc.items.get("version")
        if version is not None:
            v = version.value if isinstance(version, LScalar) else None
            if isinstance(v, str):
                self.err(version.line, f"`version` must be the number 1, not the string `{v}`")
            elif isinstance(v, bool) or v != 1:
                self.err(version.line, f"unsupported rule file version `{show(version)}` (expected 1)")
        tables = doc.items.get("tables")
        if tables is None:
            return
        if not isinstance(tables, LSeq):
            self.err(tables.line, "`tables` must be a list of table entries")
            return
        for entry in tables.items:
            with contextlib.suppress(Invalid):
                self._table(entry)

    def keys(self, m: LMap, allowed: tuple[str, ...], required: tuple[str, ...], what: str) -> None:
        """Report keys of `m` not in `allowed` (with a suggestion) and `required` keys it lacks."""
        for key in m.items:
            if key not in allowed:
                hint = suggest(key, allowed)
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
        self.keys(entry, TABLE_KEYS, ("checks",), "table")
        named = [k for k in TARGET_KEYS if k in entry.items]
        target: TableRef | None = None
        if len(named) != 1:
            self.err(entry.line, "a table entry needs exactly one of `model:`, `source:` or `relation:`")
        else:
            key = named[0]
            raw = entry.items[key]
            target = self.target(key, raw)
        where: str | None = None
        if "where" in entry.items:
            w = entry.items["where"]
            text = self.string(w, "`where`")
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
                    with contextlib.suppress(Invalid):
                        checks.extend(self._check(item))
        if target is not None:
            self.ruleset.tables.append(
                TableSpec(
                    target=target, checks=tuple(checks), where=where, loc=Location(self.file, entry.line)
                )
            )

    def target(self, key: str, raw: Located, what: str = "") -> TableRef | None:
        """The table a `model:`/`source:`/`relation:` value names (None, reported, when it resolves to none)."""
        text = self.string(raw, f"`{key}`")
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
            hint = suggest(unknown, tuple(CHECK_TYPES))
            raise self.fail(
                item.line_of(unknown),
                f"unknown check type `{unknown}`{hint} (known: {', '.join(CHECK_TYPES)})",
            )
        kind = types[0]
        siblings = {k: v for k, v in item.items.items() if k != kind}
        for k in siblings:
            if k not in COMMON_KEYS:
                raise self.fail(item.line_of(k), f"{kind}: unknown key `{k}`{suggest(k, COMMON_KEYS)}")
        value = item.items[kind]
        line = item.line_of(kind)
        builder = BUILDERS[CHECK_TYPES[kind]]
        return builder(self, kind, value, siblings, line)

    def args(
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
        self.keys(value, allowed, required, kind)
        for k in siblings:
            if k not in allowed:
                self.err(value.line, f"{kind}: `{k}` does not apply to this check")
            elif k in value.items:
                self.err(value.line_of(k), f"{kind}: `{k}` given twice")
        if len(self.problems) != before:
            raise Invalid()
        return {**siblings, **value.items}

    def common(self, kind: str, args: dict[str, Located], line: int, default_name: str) -> dict[str, Any]:
        """The options every check takes (name, severity, thresholds, weight), validated, as constructor kwargs."""
        out: dict[str, Any] = {"name": default_name, "loc": Location(self.file, line)}
        ok = True
        if "name" in args:
            name = self.string(args["name"], f"{kind}: `name`")
            ok &= name is not None
            if name is not None:
                out["name"] = name
        if "severity" in args:
            sev = args["severity"]
            raw = sev.value if isinstance(sev, LScalar) else None
            if not isinstance(raw, str) or raw.lower() not in SEVERITIES:
                ok = False
                self.err(sev.line, f"{kind}: severity must be `error` or `warn` (got `{show(sev)}`)")
            else:
                out["severity"] = raw.lower()
        if "max_failures" in args:
            mf = args["max_failures"]
            raw = mf.value if isinstance(mf, LScalar) else None
            if isinstance(raw, bool) or not isinstance(raw, int) or raw < 0:
                ok = False
                self.err(mf.line, f"{kind}: max_failures must be a whole number >= 0 (got `{show(mf)}`)")
            else:
                out["max_failures"] = raw
        for key in ("max_failure_ratio", "max_ratio"):
            if key in args:
                ratio = self.number(args[key], f"{kind}: {key}", low=0.0, high=1.0)
                ok &= ratio is not None
                if ratio is not None:
                    out["max_failure_ratio"] = ratio
        if "weight" in args:
            w = self.number(args["weight"], f"{kind}: weight", low=0.0)
            ok &= w is not None
            if w is not None:
                out["weight"] = w
        if not ok:
            raise Invalid()
        return out

    # -- scalar helpers ---------------------------------------------------------------------------------

    def string(self, node: Located, what: str, blank_ok: bool = False) -> str | None:
        """The non-empty string `node` holds (None, reported, otherwise)."""
        if (
            isinstance(node, LScalar)
            and isinstance(node.value, str)
            and (node.value.strip() or (blank_ok and node.value))
        ):
            return node.value
        self.err(node.line, f"{what} must be a non-empty string (got `{show(node)}`)")
        return None

    def number(
        self, node: Located, what: str, low: float | None = None, high: float | None = None
    ) -> float | None:
        """The number `node` holds, within the bounds (None, reported, otherwise)."""
        raw = node.value if isinstance(node, LScalar) else None
        if isinstance(raw, bool) or not isinstance(raw, (int, float, Decimal)):
            self.err(node.line, f"{what} must be a number (got `{show(node)}`)")
            return None
        value = float(raw)
        if (low is not None and value < low) or (high is not None and value > high) or value != value:
            bounds = f"between {low:g} and {high:g}" if high is not None else f">= {low:g}"
            self.err(node.line, f"{what} must be {bounds} (got {raw})")
            return None
        return value

    def columns(self, node: Located, what: str) -> list[str]:
        """Column names from a name or a non-empty list of names (Invalid, reported, otherwise)."""
        items = node.items if isinstance(node, LSeq) else [node]
        if isinstance(node, LSeq) and not items:
            raise self.fail(node.line, f"{what}: the column list is empty")
        names = [self.string(i, f"{what}: column name") for i in items]
        if any(n is None for n in names):
            raise Invalid()
        return [n for n in names if n is not None]

    def column(self, node: Located, what: str) -> str:
        """One column name (Invalid, reported, otherwise)."""
        name = self.string(node, f"{what}: `column`")
        if name is None:
            raise Invalid()
        return name

    def literal(self, node: Located, what: str) -> Scalar:
        """A scalar a check compares against (Invalid, reported, for null, lists and mappings)."""
        raw = node.value if isinstance(node, LScalar) else None
        if raw is None or not isinstance(raw, (str, int, float, bool, Decimal, date, datetime)):
            raise self.fail(
                node.line, f"{what} must be a string, number, boolean or date (got `{show(node)}`)"
            )
        value: Scalar = raw
        return value
