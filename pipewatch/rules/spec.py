"""Typed rule specs: what a validated rule file (or an imported dbt test) asks the engine to check.

The loader (`pipewatch.rules.loader`) turns `rules/*.yml` into these; the dbt-test import builds
them directly. Every spec carries its `Location` so later stages can still point at the rule file.
A spec is dialect-free: identifiers are plain names and `where`/`expression` are SQL text that the
loader has already checked parses as one boolean expression in the target dialect.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import ClassVar

#: A literal a check compares against (accepted values, range bounds).
Scalar = str | int | float | bool | Decimal | date | datetime

SEVERITIES = ("error", "warn")


@dataclass(frozen=True, slots=True)
class Location:
    """Where a spec was written: a file and a 1-based line (0 when not from a file)."""

    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file


NOWHERE = Location("<api>", 0)


@dataclass(frozen=True, slots=True)
class TableRef:
    """A table to check: its identifier parts (`db`, `schema`, `table`; 1 to 3 of them) and how it was named.

    `relation` is the display name (`analytics.main.orders`) used in reports and check ids; `model` is
    the manifest unique id when the table was named by `model:` or `source:`.
    """

    parts: tuple[str, ...]
    relation: str
    model: str | None = None

    @property
    def name(self) -> str:
        """The table's own name (the last identifier part)."""
        return self.parts[-1]


#: Every check type by name, in declaration order (filled as the classes below are declared).
ALL_CHECK_TYPES: dict[str, type[Check]] = {}
#: The check types rule files may name.
CHECK_TYPES: dict[str, type[Check]] = {}


@dataclass(frozen=True, kw_only=True)
class Check:
    """Options every check takes; subclasses add the check type's own fields.

    `max_failures` / `max_failure_ratio`: status is `fail` when failing rows exceed the count or the
    ratio (either given; with neither, any failing row fails). `check_id` overrides the default
    `<relation>::<name>` id (the dbt-test import sets the test's unique id). `warn_above`: a result
    within the thresholds but with more failing rows than this is `warn` (dbt's `warn_if` beside a
    looser `error_if`).
    """

    type: ClassVar[str] = ""
    #: Whether the check counts failing rows (thresholds apply) or is a pass/fail condition on the table.
    counts_rows: ClassVar[bool] = True
    #: Whether rule files may name this type (the dbt-test-only `NotNullProportion` may not).
    in_rule_files: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs: object) -> None:
        # Declaring a check class is what makes it a check type: the tables keyed by name are filled here,
        # and the loader's builders and the compiler's functions are keyed by the class itself.
        super().__init_subclass__(**kwargs)
        ALL_CHECK_TYPES[cls.type] = cls
        if cls.in_rule_files:
            CHECK_TYPES[cls.type] = cls

    name: str
    severity: str = "error"
    max_failures: int | None = None
    max_failure_ratio: float | None = None
    weight: float = 1.0
    loc: Location = NOWHERE
    check_id: str | None = None
    warn_above: int | None = None

    @property
    def column_label(self) -> str | None:
        """The checked column(s) as reports show them (None for table-level checks)."""
        return None


@dataclass(frozen=True, kw_only=True)
class NotNull(Check):
    """Rows whose `column` is NULL fail (dbt `not_null`)."""

    type: ClassVar[str] = "not_null"
    column: str

    @property
    def column_label(self) -> str | None:
        """The checked column."""
        return self.column


@dataclass(frozen=True, kw_only=True)
class Unique(Check):
    """Values of `columns` that occur more than once fail; each such value counts once (dbt `unique`).

    `ignore_null_keys`: rows with a NULL key are left out, as dbt's `unique` does; the dbt-utils
    `unique_combination_of_columns` import sets it False (NULL keys group together there).
    """

    type: ClassVar[str] = "unique"
    columns: tuple[str, ...]
    ignore_null_keys: bool = True

    @property
    def column_label(self) -> str | None:
        """The key column(s), comma separated."""
        return ", ".join(self.columns)


@dataclass(frozen=True, kw_only=True)
class AcceptedValues(Check):
    """Distinct non-NULL values of `column` outside `values` fail, each counted once (dbt accepted_values)."""

    type: ClassVar[str] = "accepted_values"
    column: str
    values: tuple[Scalar, ...]

    @property
    def column_label(self) -> str | None:
        """The checked column."""
        return self.column


@dataclass(frozen=True, kw_only=True)
class Range(Check):
    """Rows whose non-NULL `column` lies outside [min, max] fail (bounds inclusive unless `inclusive` off)."""

    type: ClassVar[str] = "range"
    column: str
    min: Scalar | None = None
    max: Scalar | None = None
    inclusive: bool = True

    @property
    def column_label(self) -> str | None:
        """The checked column."""
        return self.column


@dataclass(frozen=True, kw_only=True)
class Matches(Check):
    """Rows whose non-NULL `column` has no match of `pattern` anywhere fail (search, like `re.search`)."""

    type: ClassVar[str] = "matches"
    column: str
    pattern: str

    @property
    def column_label(self) -> str | None:
        """The checked column."""
        return self.column


@dataclass(frozen=True, kw_only=True)
class Relationships(Check):
    """Rows whose non-NULL `column` has no equal `field` value in the `to` table fail (dbt relationships)."""

    type: ClassVar[str] = "relationships"
    column: str
    to: TableRef
    field: str

    @property
    def column_label(self) -> str | None:
        """The checked (child) column."""
        return self.column


@dataclass(frozen=True, kw_only=True)
class RowCount(Check):
    """The table (under its filter) must have between `min` and `max` rows."""

    type: ClassVar[str] = "row_count"
    counts_rows: ClassVar[bool] = False
    min: int | None = None
    max: int | None = None


@dataclass(frozen=True, kw_only=True)
class Freshness(Check):
    """The newest `column` value must be at most `max_age_s` seconds old (an empty table fails)."""

    type: ClassVar[str] = "freshness"
    counts_rows: ClassVar[bool] = False
    column: str
    max_age_s: float

    @property
    def column_label(self) -> str | None:
        """The timestamp column."""
        return self.column


@dataclass(frozen=True, kw_only=True)
class Duplicates(Check):
    """Redundant copies fail: rows beyond the first of each `columns` key (NULL keys compare equal).

    A key seen 3 times contributes 2 failing rows, like pandas' `duplicated(keep="first")`.
    """

    type: ClassVar[str] = "duplicates"
    columns: tuple[str, ...]

    @property
    def column_label(self) -> str | None:
        """The key column(s), comma separated."""
        return ", ".join(self.columns)


@dataclass(frozen=True, kw_only=True)
class Expression(Check):
    """Rows where the boolean `sql` is false fail; a NULL result passes (as dbt-utils expression_is_true)."""

    type: ClassVar[str] = "expression"
    sql: str


@dataclass(frozen=True, kw_only=True)
class NotNullProportion(Check):
    """The share of non-NULL `column` values must lie in [at_least, at_most] (dbt-utils not_null_proportion).

    A pass/fail check on the whole table, counted as dbt counts it: 1 failing when the share is outside
    the bounds, else 0 (an empty table passes: its share is undefined, NULL in dbt's query). Built by the
    dbt-test import; rule files say `not_null` with `max_failure_ratio` instead.
    """

    type: ClassVar[str] = "not_null_proportion"
    counts_rows: ClassVar[bool] = False
    in_rule_files: ClassVar[bool] = False
    column: str
    at_least: float = 0.0
    at_most: float = 1.0

    @property
    def column_label(self) -> str | None:
        """The checked column."""
        return self.column


@dataclass(frozen=True, slots=True)
class TableSpec:
    """The checks on one table under one optional `where` filter (SQL text, one boolean expression)."""

    target: TableRef
    checks: tuple[Check, ...]
    where: str | None = None
    loc: Location = NOWHERE


@dataclass(slots=True)
class RuleSet:
    """Every table spec of a run, in file order, and the files they came from."""

    tables: list[TableSpec] = field(default_factory=list)
    files: list[str] = field(default_factory=list)

    @property
    def checks(self) -> list[Check]:
        """Every check of every table."""
        return [c for t in self.tables for c in t.checks]


def check_id(table: TableSpec, check: Check) -> str:
    """The stable id of a check: its own `check_id`, else `<relation>::<name>`."""
    return check.check_id or f"{table.target.relation}::{check.name}"
