"""The signature library: the per-adapter data files in `signatures/`, loaded, checked and compiled once.

A data file names its adapter, optional `aliases` (other adapter names it answers to, e.g. `spark`) and
`extends` (adapters whose signatures also apply after its own, e.g. redshift extends postgres), and a list
of signatures. Loading checks every entry (known category, exactly one matcher, a source, a regex that
compiles and passes `regex_safety`) so a bad edit fails loudly with the file and entry named.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from pipewatch.errors import ConfigError
from pipewatch.triage.regex_anchors import required_anchors
from pipewatch.triage.regex_safety import pattern_problems

Category = Literal["transient", "resource", "permission", "data", "code", "dependency", "quality", "unknown"]
#: The error categories of the contract in docs/contracts.md, in the order the docs list them.
CATEGORIES: tuple[Category, ...] = (
    "transient",
    "resource",
    "permission",
    "data",
    "code",
    "dependency",
    "quality",
    "unknown",
)
GENERIC = "generic"
#: Adapter data files, in the order they are consulted when the adapter is not known.
ADAPTERS = ("duckdb", "postgres", "snowflake", "bigquery", "databricks", "redshift", "trino")

_ENTRY_KEYS = frozenset({"id", "category", "pattern", "code", "sqlstate_class", "source", "scope", "note"})
_FILE_KEYS = frozenset({"adapter", "title", "aliases", "extends", "signatures"})
_ID = re.compile(r"[a-z][a-z0-9_]{0,63}")

# The C loader is several times faster; PyYAML builds without libyaml only have the Python one.
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class Pattern:
    """A signature's regex (case-insensitive), compiled on its first search.

    One message is checked against a few of ~80 patterns (the others' anchors are absent), so
    compiling all of them up front would cost `pipewatch classify` more than classifying does.
    """

    __slots__ = ("_compiled", "label", "pattern")

    def __init__(self, pattern: str, label: str) -> None:
        """Wrap `pattern`; `label` names the signature in the error an invalid regex raises."""
        self.pattern = pattern
        self.label = label
        self._compiled: re.Pattern[str] | None = None

    def compiled(self) -> re.Pattern[str]:
        """The compiled regex; ConfigError (naming the signature) if it is not a valid one."""
        if self._compiled is None:
            try:
                self._compiled = re.compile(self.pattern, re.IGNORECASE)
            except re.error as exc:
                raise ConfigError(f"{self.label}: invalid regex ({exc})") from exc
        return self._compiled

    def search(self, text: str) -> re.Match[str] | None:
        """The first match in `text`, as `re.Pattern.search`."""
        return (self._compiled or self.compiled()).search(text)


@dataclass(frozen=True, slots=True)
class Signature:
    """One known error: how to recognize it (codes, a SQLSTATE class or a regex) and what it means."""

    adapter: str
    id: str
    category: Category
    source: str
    codes: frozenset[str] = frozenset()  # lower-cased for case-insensitive comparison
    sqlstate_class: str | None = None
    pattern: Pattern | None = None
    scope: Literal["message", "dbt"] = "message"
    # Case-folded literals of which at least one occurs in any text the pattern matches (None: unknown).
    anchors: tuple[str, ...] | None = None

    @property
    def qualified_id(self) -> str:
        """`adapter/id`, the name evidence uses."""
        return f"{self.adapter}/{self.id}"


@dataclass(frozen=True, slots=True)
class SignatureSet:
    """The signatures of one data file, split by how they match, each list in file order."""

    adapter: str
    title: str
    aliases: tuple[str, ...]
    extends: tuple[str, ...]
    signatures: tuple[Signature, ...]
    by_code: tuple[Signature, ...] = field(init=False)
    by_class: tuple[Signature, ...] = field(init=False)
    by_pattern: tuple[Signature, ...] = field(init=False)
    dbt_level: tuple[Signature, ...] = field(init=False)

    def __post_init__(self) -> None:
        sigs = self.signatures
        object.__setattr__(self, "by_code", tuple(s for s in sigs if s.codes))
        object.__setattr__(self, "by_class", tuple(s for s in sigs if s.sqlstate_class))
        object.__setattr__(
            self, "by_pattern", tuple(s for s in sigs if s.pattern is not None and s.scope == "message")
        )
        object.__setattr__(
            self, "dbt_level", tuple(s for s in sigs if s.pattern is not None and s.scope == "dbt")
        )


@dataclass(frozen=True, slots=True)
class Library:
    """Every signature set, by canonical adapter name, with the alias table and the lookup chains."""

    sets: Mapping[str, SignatureSet]
    aliases: Mapping[str, str]  # lower-case name or alias -> canonical adapter name
    chains: Mapping[str, tuple[SignatureSet, ...]]  # canonical name ("" when unknown) -> sets to consult

    def resolve(self, adapter: str | None) -> str | None:
        """The canonical adapter for a name or alias (case-insensitive); None when unknown or not given."""
        if not adapter:
            return None
        return self.aliases.get(adapter.strip().lower())

    def chain(self, adapter: str | None) -> tuple[SignatureSet, ...]:
        """The signature sets to consult, in order: the adapter, what it extends, then generic.

        An unknown or missing adapter consults generic first and then every adapter's set, so a
        distinctive vendor code (Snowflake's `000625`, BigQuery's `rateLimitExceeded`) is still found.
        """
        return self.chains[self.resolve(adapter) or ""]


def _chains(sets: Mapping[str, SignatureSet]) -> dict[str, tuple[SignatureSet, ...]]:
    chains: dict[str, tuple[SignatureSet, ...]] = {"": (sets[GENERIC], *(sets[name] for name in ADAPTERS))}
    for adapter in sets:
        ordered: list[str] = []
        pending = [adapter]
        while pending:
            name = pending.pop(0)
            if name not in ordered:
                ordered.append(name)
                pending.extend(sets[name].extends)
        if GENERIC not in ordered:
            ordered.append(GENERIC)
        chains[adapter] = tuple(sets[name] for name in ordered)
    return chains


def known_adapters() -> tuple[str, ...]:
    """Every adapter name `classify` recognizes (canonical names and aliases), sorted; `generic` excluded."""
    return tuple(sorted(name for name in load_library().aliases if name != GENERIC))


@functools.lru_cache(maxsize=1)
def load_library() -> Library:
    """Load, check and compile every signature file shipped in `pipewatch/triage/signatures/` (once)."""
    # The package's own folder, not importlib.resources: that machinery (zip and tempfile support
    # pipewatch never needs) costs `pipewatch classify` a tenth of its start-up.
    folder = Path(__file__).with_name("signatures")
    sets: dict[str, SignatureSet] = {}
    for name in (GENERIC, *ADAPTERS):
        resource = folder.joinpath(f"{name}.yml")
        label = f"pipewatch/triage/signatures/{name}.yml"
        try:
            text = resource.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"{label}: cannot read signature file ({exc.strerror or exc})") from exc
        # Shipped files are checked whole by the tests; here each regex compiles when first needed.
        sets[name] = parse_signature_file(text, label, expected_adapter=name, compile_patterns=False)
    aliases: dict[str, str] = {}
    for name, sset in sets.items():
        for alias in (name, *sset.aliases):
            if alias in aliases:
                raise ConfigError(f"pipewatch/triage/signatures/{name}.yml: alias {alias!r} is already taken")
            aliases[alias] = name
    for name, sset in sets.items():
        for parent in sset.extends:
            if parent not in sets or parent == GENERIC:
                raise ConfigError(
                    f"pipewatch/triage/signatures/{name}.yml: extends unknown adapter {parent!r}"
                )
    return Library(sets=sets, aliases=aliases, chains=_chains(sets))


def parse_signature_file(
    text: str, label: str, expected_adapter: str | None = None, *, compile_patterns: bool = True
) -> SignatureSet:
    """Parse and check one signature file's YAML text; `label` names it in errors.

    `compile_patterns=False` leaves each regex to compile on its first search (an invalid one is
    then a ConfigError there); by default every regex is compiled, and so checked, now.
    """
    try:
        data = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{label}:{where} invalid YAML ({getattr(exc, 'problem', None) or exc})") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{label}: expected a mapping with 'adapter' and 'signatures'")
    unknown = set(data) - _FILE_KEYS
    if unknown:
        raise ConfigError(f"{label}: unknown key(s) {', '.join(sorted(map(str, unknown)))}")
    adapter = data.get("adapter")
    if not isinstance(adapter, str) or not adapter:
        raise ConfigError(f"{label}: 'adapter' must be a non-empty string")
    if expected_adapter is not None and adapter != expected_adapter:
        raise ConfigError(f"{label}: declares adapter {adapter!r}, expected {expected_adapter!r}")
    entries = data.get("signatures")
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"{label}: 'signatures' must be a non-empty list")
    seen: set[str] = set()
    signatures: list[Signature] = []
    for index, entry in enumerate(entries, start=1):
        signature = _parse_entry(entry, adapter, f"{label}: signature #{index}", compile_patterns)
        if signature.id in seen:
            raise ConfigError(f"{label}: signature #{index}: duplicate id {signature.id!r}")
        seen.add(signature.id)
        signatures.append(signature)
    return SignatureSet(
        adapter=adapter,
        title=str(data.get("title") or adapter),
        aliases=_names(data.get("aliases"), label, "aliases"),
        extends=_names(data.get("extends"), label, "extends"),
        signatures=tuple(signatures),
    )


def _names(value: Any, label: str, key: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"{label}: '{key}' must be a list of names")
    return tuple(v.lower() for v in value)


def _parse_entry(entry: Any, adapter: str, where: str, compile_patterns: bool = True) -> Signature:
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: expected a mapping")
    unknown = set(entry) - _ENTRY_KEYS
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(map(str, unknown)))}")
    sig_id = entry.get("id")
    if not isinstance(sig_id, str) or not _ID.fullmatch(sig_id):
        raise ConfigError(f"{where}: 'id' must be snake_case (got {sig_id!r})")
    where = f"{where} ({sig_id})"
    category = entry.get("category")
    if category not in CATEGORIES:
        raise ConfigError(f"{where}: category {category!r} is not one of {', '.join(CATEGORIES)}")
    source = entry.get("source")
    if not isinstance(source, str) or not source.strip():
        raise ConfigError(f"{where}: 'source' must say where the signature comes from")
    matchers = [key for key in ("pattern", "code", "sqlstate_class") if entry.get(key) is not None]
    if len(matchers) != 1:
        raise ConfigError(f"{where}: needs exactly one of 'pattern', 'code', 'sqlstate_class'")
    scope = entry.get("scope", "message")
    if scope not in ("message", "dbt"):
        raise ConfigError(f"{where}: scope must be 'message' or 'dbt'")
    if scope == "dbt" and matchers[0] != "pattern":
        raise ConfigError(f"{where}: scope 'dbt' needs a 'pattern'")
    codes: frozenset[str] = frozenset()
    sqlstate_class: str | None = None
    compiled: Pattern | None = None
    if matchers[0] == "code":
        codes = _parse_codes(entry["code"], where)
    elif matchers[0] == "sqlstate_class":
        value = entry["sqlstate_class"]
        if not isinstance(value, str) or len(value) != 2 or not value.isalnum():
            raise ConfigError(f"{where}: 'sqlstate_class' must be a quoted two-character class such as '22'")
        sqlstate_class = value.upper()
    else:
        compiled = _compile(entry["pattern"], where, compile_patterns)
    return Signature(
        adapter=adapter,
        id=sig_id,
        category=category,
        source=" ".join(source.split()),
        codes=codes,
        sqlstate_class=sqlstate_class,
        pattern=compiled,
        scope=scope,
        anchors=required_anchors(compiled.pattern) if compiled is not None else None,
    )


def _parse_codes(value: Any, where: str) -> frozenset[str]:
    values = value if isinstance(value, list) else [value]
    if not values or not all(isinstance(v, str) and v.strip() for v in values):
        # An unquoted 08000 or 000625 would reach us as a number with its zeros gone.
        raise ConfigError(f"{where}: 'code' must be a quoted string or a list of quoted strings")
    return frozenset(v.strip().lower() for v in values)


def _compile(pattern: Any, where: str, now: bool) -> Pattern:
    if not isinstance(pattern, str) or not pattern:
        raise ConfigError(f"{where}: 'pattern' must be a non-empty string")
    problems = pattern_problems(pattern)
    if problems:
        raise ConfigError(f"{where}: pattern may backtrack badly: {'; '.join(problems)}")
    wrapped = Pattern(pattern, where)
    if now:
        wrapped.compiled()
    return wrapped
