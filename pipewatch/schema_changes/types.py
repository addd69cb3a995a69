"""Column types compared the way the warehouse means them: `INT` and `INTEGER` are one type.

Two spellings that are equal as text (case and spaces aside) are the same type without parsing; only
when they differ does sqlglot parse both as a `DataType` of the adapter's dialect and compare the
canonical forms, so an unchanged build never imports sqlglot.
"""

from __future__ import annotations

from functools import lru_cache


def _plain(type_text: str) -> str:
    return " ".join(type_text.split()).upper()


@lru_cache(maxsize=4096)
def canonical_type(type_text: str, dialect: str | None) -> str:
    """The canonical spelling of a column type in `dialect` (sqlglot's), or its plain upper-case text
    when sqlglot cannot read it."""
    from sqlglot import exp
    from sqlglot.errors import ParseError

    try:
        return exp.DataType.build(type_text, dialect=dialect).sql(dialect=dialect).upper()
    except (ParseError, ValueError, TypeError):
        return _plain(type_text)


def same_type(old: str, new: str, dialect: str | None) -> bool:
    """Whether two spellings of a column type name the same type in `dialect`."""
    if _plain(old) == _plain(new):
        return True
    return canonical_type(old, dialect) == canonical_type(new, dialect)
