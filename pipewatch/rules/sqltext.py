"""The only doors through which rule-file text reaches SQL: identifiers, tables and boolean fragments.

No user string is pasted into SQL. Names become quoted `exp.Identifier`s; `where` and `expression`
text is parsed by sqlglot in the target dialect, checked to be exactly one row-level boolean
expression, and re-generated from the tree.
"""

from __future__ import annotations

import re

import sqlglot
from sqlglot import TokenType, exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import SqlglotError
from sqlglot.optimizer.annotate_types import annotate_types

from pipewatch.errors import exception_line
from pipewatch.rules.spec import TableRef

_PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")

#: Node types that are clearly not boolean at the top of a filter/expression.
_NOT_BOOLEAN = (
    exp.Column,
    exp.Literal,
    exp.Null,
    exp.Star,
    exp.Binary,
    exp.Unary,
    exp.Interval,
    exp.Array,
    exp.Tuple,
)


#: A name part DuckDB (and other engines' table functions) would take for a file or URL, not a table.
_FILE_SUFFIX = re.compile(
    r"\.(csv|tsv|txt|parquet|json|jsonl|ndjson|xlsx?|arrow|ipc|feather|avro|orc|gz|zst|bz2|xz|zip|tar"
    r"|db|ddb|duckdb|sqlite3?|xml|ya?ml)\Z",
    re.IGNORECASE,
)
_FUNCTION_CALL = re.compile(r"\s*[A-Za-z_][A-Za-z0-9_.]*\s*\(")


class SqlTextError(ValueError):
    """A `where`/`expression`/relation text that pipewatch refuses; the message says why."""


class ExternalRelationError(SqlTextError):
    """A relation named as a file, URL or table function: refused everywhere, never skipped."""


def external_source(parts: tuple[str, ...]) -> str | None:
    """Why a relation's name parts look like a file path, URL or table function (None: a plain table).

    DuckDB reads `FROM "secrets/creds.csv"` as the file and `FROM "https://..."` as a download, so a
    rule file (or a manifest) could make a check print a file's contents in its samples. Such names are
    refused before any SQL is built; the warehouse's own lockdown is the second line.
    """
    for part in parts:
        if "://" in part:
            return "a URL"
        if "/" in part or "\\" in part:
            return "a file path"
        if _FILE_SUFFIX.search(part):
            return "a file name"
        if _FUNCTION_CALL.match(part):
            return "a function call"
    return None


def refuse_external(parts: tuple[str, ...], text: str) -> tuple[str, ...]:
    """`parts` unchanged, or ExternalRelationError when they name a file, URL or function, not a table."""
    what = external_source(parts)
    if what is not None:
        raise ExternalRelationError(f"relation `{text}` is {what}, not a table: pipewatch checks tables only")
    return parts


def dialect_of(name: str) -> Dialect:
    """The sqlglot dialect for a name (`duckdb`, `postgres`, ...); ValueError if sqlglot has none."""
    try:
        return Dialect.get_or_raise(name)
    except (ValueError, SqlglotError) as exc:
        raise ValueError(f"unknown SQL dialect `{name}`") from exc


def ident(name: str, dialect: str) -> exp.Identifier:
    """A quoted identifier for a column/table name as a rule file writes it.

    A plain name (`order_id`, `Orders`) means what it would unquoted in SQL, so it is folded the way the
    dialect folds unquoted names (upper-case on Snowflake, lower-case on Postgres) and then quoted, which
    keeps keywords like `order` safe. Any other name (spaces, quotes, unicode) is taken verbatim.
    """
    node = exp.to_identifier(name, quoted=not _PLAIN_NAME.match(name))
    node = dialect_of(dialect).normalize_identifier(node)
    node.set("quoted", True)
    return node


def column(name: str, dialect: str) -> exp.Column:
    """An unqualified, quoted column reference."""
    return exp.Column(this=ident(name, dialect))


def table(ref: TableRef, dialect: str) -> exp.Table:
    """The `exp.Table` for a table reference: catalog, db and name as quoted identifiers."""
    refuse_external(ref.parts, ref.relation)  # the last door: a TableRef built by the API is checked too
    parts = [ident(p, dialect) for p in ref.parts]
    name = parts[-1]
    db = parts[-2] if len(parts) >= 2 else None
    catalog = parts[-3] if len(parts) >= 3 else None
    return exp.Table(this=name, db=db, catalog=catalog)


def parse_relation(text: str, dialect: str) -> tuple[str, ...]:
    """Split `db.schema.table` (parts may be quoted the dialect's way) into 1-3 names."""
    try:
        tokens = sqlglot.tokenize(text, read=dialect)
    except SqlglotError as exc:
        raise SqlTextError(f"cannot read relation `{text}`: {exception_line(exc)}") from None
    parts: list[str] = []
    expect_name = True
    for tok in tokens:
        if expect_name:
            if tok.token_type not in (TokenType.VAR, TokenType.IDENTIFIER) and not tok.text.isidentifier():
                raise SqlTextError(f"bad relation `{text}`: expected a name, got `{tok.text}`")
            parts.append(tok.text)
        elif tok.token_type != TokenType.DOT:
            raise SqlTextError(f"bad relation `{text}`: expected `.` between names, got `{tok.text}`")
        expect_name = not expect_name
    if expect_name or not 1 <= len(parts) <= 3:
        raise SqlTextError(f"bad relation `{text}`: expected `table`, `schema.table` or `db.schema.table`")
    return refuse_external(tuple(parts), text)


def parse_boolean(text: str, dialect: str, what: str = "expression") -> exp.Expr:
    """Parse `text` as exactly one row-level boolean expression in `dialect` (SqlTextError otherwise).

    Refused: several statements or a `;`, a statement (SELECT, DROP, ...), a subquery, an aggregate or
    window function (the check is evaluated per row), and a top-level value that is not boolean (a bare
    column, a literal, arithmetic, a function sqlglot knows returns something else).
    """
    if not text.strip():
        raise SqlTextError(f"{what} is empty")
    try:
        tokens = sqlglot.tokenize(text, read=dialect)
    except SqlglotError as exc:
        raise SqlTextError(f"{what} is not valid SQL: {exception_line(exc)}") from None
    if any(t.token_type == TokenType.SEMICOLON for t in tokens):
        raise SqlTextError(f"{what} must be a single SQL expression without `;`")
    try:
        parsed = sqlglot.parse_one(text, read=dialect, into=exp.Condition)
    except SqlglotError as exc:
        raise SqlTextError(f"{what} is not a single SQL expression: {exception_line(exc)}") from None
    for node in parsed.walk():
        node.pop_comments()  # comments never travel into generated SQL
        if isinstance(node, (exp.Query, exp.Subquery, exp.DDL, exp.DML, exp.Command)):
            raise SqlTextError(f"{what} must not contain a subquery or statement")
        if isinstance(node, (exp.AggFunc, exp.Window)):
            raise SqlTextError(f"{what} must be a row-level condition: no aggregate or window functions")
        if isinstance(node, (exp.Placeholder, exp.Parameter)):
            raise SqlTextError(f"{what} must not contain query parameters")
    if not is_boolean(parsed, dialect):
        raise SqlTextError(f"{what} must be a boolean condition (a comparison, IS, IN, LIKE, AND/OR, ...)")
    return parsed


def is_boolean(node: exp.Expr, dialect: str) -> bool:
    """Whether `node` is (as far as sqlglot can tell) a boolean expression."""
    node = node.unnest()
    if isinstance(node, (exp.Predicate, exp.Connector, exp.Not, exp.Boolean)):
        return True
    if isinstance(node, _NOT_BOOLEAN):
        return False
    try:
        typed = annotate_types(node.copy(), dialect=dialect)
    except Exception:  # sqlglot's type annotation is best effort; an unknown type is not a refusal
        return True
    kind = typed.type.this if typed.type is not None else exp.DataType.Type.UNKNOWN
    return kind in (exp.DataType.Type.BOOLEAN, exp.DataType.Type.UNKNOWN)


def referenced_columns(node: exp.Expr, dialect: str) -> frozenset[str] | None:
    """The normalized names of the columns `node` reads; None if any is qualified (`t.col`).

    The planner may evaluate a condition over a grouped subquery only when every column it reads is a
    group key; qualified references only resolve against the base table, so they force the flat scan.
    """
    names: set[str] = set()
    for col in node.find_all(exp.Column):
        if col.table:
            return None
        names.add(ident_key(col.this, dialect))
    return frozenset(names)


def ident_key(node: exp.Identifier | exp.Expr, dialect: str) -> str:
    """A comparable key for an identifier in `dialect` (folded per the dialect's case rules)."""
    if not isinstance(node, exp.Identifier):
        return node.sql(dialect=dialect)
    normalized = dialect_of(dialect).normalize_identifier(node.copy())
    return str(normalized.this)


def name_key(name: str, dialect: str) -> str:
    """`ident_key` for a name as rule files write it (the same folding as `ident`)."""
    node = exp.to_identifier(name, quoted=not _PLAIN_NAME.match(name))
    return str(dialect_of(dialect).normalize_identifier(node).this)


# --- regular expressions ----------------------------------------------------------------------------

#: Dialects whose regex engine is RE2 (no lookaround, no backreferences).
_RE2 = frozenset({"duckdb", "bigquery"})
#: Dialects whose regex engine has no lookaround (POSIX-style engines).
_NO_LOOKAROUND = _RE2 | {"snowflake", "redshift"}
_LOOKAROUND = re.compile(r"\(\?<?[=!]")
# A backslash-digit preceded by an even number of backslashes (`\\1` is a literal backslash, then 1).
_BACKREF = re.compile(r"(?<!\\)(?:\\\\)*\\[1-9]|\(\?P=")


def check_pattern(pattern: str, dialect: str) -> str | None:
    """Why `pattern` is refused (None if fine): Python `re` must compile it, and the dialect must support it.

    Rule-file patterns are written for Python's `re` and searched (not full-matched) in the warehouse.
    The common syntax (classes, anchors, quantifiers, groups) is the same everywhere; lookaround is
    refused where the engine lacks it and backreferences on RE2 engines.
    """
    try:
        re.compile(pattern)
    except re.error as exc:
        return f"bad regex `{pattern}`: {exc}"
    if dialect in _NO_LOOKAROUND and _LOOKAROUND.search(pattern):
        return f"regex `{pattern}` uses lookaround, which {dialect} does not support"
    if dialect in _RE2 and _BACKREF.search(pattern):
        return f"regex `{pattern}` uses a backreference, which {dialect} (RE2) does not support"
    return None
