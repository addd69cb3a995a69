"""pipewatch.yml discovery, its schema, defaults, PIPEWATCH_* environment overrides, and where dbt's
artifacts are.

Precedence, highest first: command-line flags (applied by the CLI), `PIPEWATCH_*` environment
variables, `pipewatch.yml` in the dbt project directory, built-in defaults. The file is read against a
typed schema (`PipewatchFile`): an unknown key, a wrong type or a value out of range is refused with
the file, line and key, never ignored, since an ignored key silently switches a feature off.
"""

from __future__ import annotations

import difflib
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import msgspec
import yaml

from pipewatch.errors import ConfigError

if TYPE_CHECKING:
    from pipewatch.located import LMap, Located

CONFIG_FILENAME = "pipewatch.yml"
#: Where the history store is when pipewatch.yml does not say.
DEFAULT_HISTORY = ".pipewatch/history.duckdb"
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str | int | float) -> float:
    """Seconds in `90s`, `30m`, `48h`, `2d`, `1w` or `1h30m` (a bare number is seconds); ValueError otherwise.

    The one duration parser of pipewatch: rule files (`freshness.max_age`), pipewatch.yml
    (`alert_suppression`) and flags (`--keep 90d`) all read durations through it.
    """
    if isinstance(text, bool):
        raise ValueError(
            f"bad duration `{text}`: use a number and a unit s, m, h, d or w (e.g. 48h, 2d, 30m)"
        )
    if isinstance(text, int | float):
        return float(text)
    s = str(text).strip().lower()
    pos, total = 0, 0.0
    for match in _DURATION_PART.finditer(s):
        if s[pos : match.start()].strip():
            break
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    if not s or pos == 0 or s[pos:].strip():
        raise ValueError(
            f"bad duration `{text}`: use a number and a unit s, m, h, d or w (e.g. 48h, 2d, 30m)"
        )
    return total


@dataclass(frozen=True, slots=True)
class OwnerRule:
    """Routes nodes without `meta.owner` to a team by path glob or tag (`owners:` in pipewatch.yml)."""

    owner: str
    path: str | None = None
    tag: str | None = None


@dataclass(slots=True)
class Config:
    """Everything pipewatch reads from pipewatch.yml and the environment, with defaults filled in."""

    project_dir: Path = field(default_factory=Path)
    source: Path | None = None  # the pipewatch.yml that was read, if any
    target_path: str | None = None
    history_path: str | None = DEFAULT_HISTORY
    rules_path: str | None = None
    min_score: float | None = None
    platform_owner: str | None = None
    owners: list[OwnerRule] = field(default_factory=list)
    slack_webhook: str | None = None
    slack_handles: dict[str, str] = field(default_factory=dict)
    report_url: str | None = None
    alert_suppression_s: float = 24 * 3600.0
    schema: SchemaSection | None = None  # column snapshots and their gate; None: the defaults
    extra: dict[str, Any] = field(default_factory=dict)  # `anomalies`: the history module reads it

    def history_file(self) -> Path | None:
        """The history store's path resolved against the project dir, or None when history is off."""
        if not self.history_path:
            return None
        path = Path(self.history_path).expanduser()
        return path if path.is_absolute() else self.project_dir / path


# The schema of pipewatch.yml. Every Struct forbids unknown fields: `min_scroe: 0.99` must be an
# error, not a gate that quietly stops checking the score.
Score = Annotated[float, msgspec.Meta(ge=0.0, le=1.0)]
Positive = Annotated[float, msgspec.Meta(gt=0.0)]
NonNegative = Annotated[float, msgspec.Meta(ge=0.0)]
AtLeastOne = Annotated[int, msgspec.Meta(ge=1)]


class _Schema(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """Base of the pipewatch.yml schema."""


class OwnerEntry(_Schema):
    """One `owners:` entry: who owns the nodes matching a path glob or a tag."""

    owner: str
    path: str | None = None
    tag: str | None = None


class SlackSection(_Schema):
    """`slack:`: the incoming webhook and who to @-mention per owner."""

    webhook_url: str | None = None
    handles: dict[str, str] = {}


class AnomaliesSection(_Schema):
    """`anomalies:`: how history judges a value an anomaly (read by `pipewatch.history`)."""

    window: AtLeastOne | None = None
    min_points: AtLeastOne | None = None
    sensitivity: Positive | None = None
    seasonality: bool | None = None
    relative_floor: NonNegative | None = None
    floors: dict[str, NonNegative] | None = None


#: The kinds of column change `schema.fail_on` can name (the same words as the JSON's `change`).
SCHEMA_CHANGE_KINDS = ("added", "dropped", "type_changed", "possibly_renamed")
ChangeKind = Literal["added", "dropped", "type_changed", "possibly_renamed"]


class SchemaSection(_Schema):
    """`schema:`: column snapshots and schema changes (`schema: true` is `{warehouse: true}`).

    `enabled: false` (or `schema: false`) turns column snapshots off; `warehouse` reads columns from the
    information schema when the target dir holds no catalog.json of the build; `fail_on` lists the
    change kinds that fail the gate (default none: changes are reported, as warnings).
    """

    enabled: bool = True
    warehouse: bool = False
    fail_on: list[ChangeKind] = []


class PipewatchFile(_Schema):
    """pipewatch.yml as written: every key optional, each of one type."""

    target_path: str | None = None
    history: str | bool | None = DEFAULT_HISTORY
    rules: str | None = None
    min_score: Score | None = None
    platform_owner: str | None = None
    owners: list[OwnerEntry] = []
    slack: SlackSection | None = None
    report_url: str | None = None
    alert_suppression: str | float | None = None
    anomalies: AnomaliesSection | None = None
    schema: bool | SchemaSection | None = None


#: The Struct a mapping key leads to, to check nested keys and suggest names (owners: a list of them).
_NESTED: dict[str, type[_Schema]] = {
    "slack": SlackSection,
    "anomalies": AnomaliesSection,
    "owners": OwnerEntry,
    "schema": SchemaSection,
}
#: What a value must be, said the way a user reads it, for the keys whose msgspec wording is cryptic.
_EXPECTED = {
    "min_score": "must be a number between 0 and 1",
    "history": "must be the path of the history store, or false to turn history off",
    "anomalies.window": "expected a whole number of at least 1",
    "anomalies.min_points": "expected a whole number of at least 1",
    "anomalies.sensitivity": "expected a positive number",
    "anomalies.relative_floor": "expected a number of at least 0",
    "anomalies.floors": "expected a mapping of metric names to numbers of at least 0",
    "anomalies.seasonality": "expected true or false",
    "schema": "must be true, false, or a mapping of enabled, warehouse and fail_on",
    "schema.fail_on": f"must be a list of change kinds ({', '.join(SCHEMA_CHANGE_KINDS)})",
}
#: Words that read as yes/no, never as a file name: `history: "no"` means something else.
_BOOLEAN_WORDS = frozenset({"y", "n", "yes", "no", "true", "false", "on", "off", "none", "null", "~"})
#: PIPEWATCH_HISTORY values that turn history off.
_OFF_WORDS = frozenset({"off", "false", "0", "none"})
_AT_PATH = re.compile(r"\s+- at `\$(?P<path>[^`]*)`$")
_PATH_PART = re.compile(r"\.(\w+)|\[(\d+)\]|\[\.\.\.\]")


def load_config(project_dir: Path | str = ".", env: Mapping[str, str] | None = None) -> Config:
    """Read `pipewatch.yml` from the project dir (if present) and apply `PIPEWATCH_*` overrides.

    Raises ConfigError (`pipewatch.yml:LINE: ...`) for invalid YAML, a duplicate or unknown key, a
    value of the wrong type or out of range, and for invalid `PIPEWATCH_*` values.
    """
    env = os.environ if env is None else env
    project = Path(project_dir)
    cfg = Config(project_dir=project)
    path = project / CONFIG_FILENAME
    if path.is_file():
        _apply(cfg, _read_file(path))
        cfg.source = path
    _apply_env(cfg, env)
    return cfg


def _read_file(path: Path) -> PipewatchFile:
    """pipewatch.yml decoded into its schema; ConfigError naming the file, line and key otherwise."""
    # Imported here: `pipewatch.rules` imports this module (for durations) as it loads.
    from pipewatch.located import LMap, LocatedYAMLError, load_located, plain

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    try:
        root = load_located(text)
    except LocatedYAMLError as exc:
        raise ConfigError(f"{path}:{exc.line}: invalid YAML: {exc.message}") from None
    if root is None:
        return PipewatchFile()
    if not isinstance(root, LMap):
        raise ConfigError(f"{path}:{root.line}: expected a mapping of settings at the top level")
    _refuse_unknown_keys(root, PipewatchFile, "", path)
    try:
        parsed = msgspec.convert(plain(root), PipewatchFile, strict=True)
    except msgspec.ValidationError as exc:
        raise ConfigError(_explain(exc, root, path)) from None
    _check_values(parsed, root, path)
    return parsed


def _refuse_unknown_keys(node: Located, schema: type[_Schema], prefix: str, where: Path) -> None:
    """ConfigError for the first key `schema` does not have, with the closest known name if any."""
    from pipewatch.located import LMap, LSeq

    items = node.items if isinstance(node, LSeq) else [node]
    for item in items:
        if not isinstance(item, LMap):
            continue  # the wrong type is reported by the schema, with its expectation
        known = schema.__struct_fields__
        for key, value in item.items.items():
            if key not in known:
                close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
                hint = f" (did you mean '{close[0]}'?)" if close else f"; known: {', '.join(known)}"
                raise ConfigError(f"{where}:{item.line_of(key)}: unknown key '{prefix}{key}'{hint}")
            nested = _NESTED.get(key) if schema is PipewatchFile else None
            if nested is not None:
                _refuse_unknown_keys(value, nested, f"{key}.", where)


def _explain(exc: msgspec.ValidationError, root: LMap, where: Path) -> str:
    """One line for a schema mismatch: the file, the line of the offending key, and what it must be."""
    from pipewatch.located import LMap, LSeq, plain

    message = str(exc)
    match = _AT_PATH.search(message)
    keys: list[str | int] = []
    if match:
        message = message[: match.start()]
        for name, index in _PATH_PART.findall(match.group("path")):
            if name:
                keys.append(name)
            elif index:
                keys.append(int(index))
    node: Located = root
    line = root.line
    for key in keys:
        if isinstance(node, LMap) and isinstance(key, str) and key in node.items:
            line, node = node.line_of(key), node.items[key]
        elif isinstance(node, LSeq) and isinstance(key, int) and key < len(node.items):
            node = node.items[key]
            line = node.line
        else:
            break
    dotted = ".".join(str(k) if isinstance(k, str) else f"[{k}]" for k in keys).replace(".[", "[")
    expected = _EXPECTED.get(dotted)
    if expected is not None and dotted.startswith("anomalies."):
        # Worded as the history module words the same mistakes, so both read alike.
        return f"{where}:{line}: `anomalies`: {expected} for `{dotted[10:]}` (got {plain(node)!r})"
    if expected is not None:
        return f"{where}:{line}: `{dotted}` {expected} (got {plain(node)!r})"
    return f"{where}:{line}: `{dotted or 'pipewatch.yml'}`: {message[0].lower()}{message[1:]}"


def _check_values(parsed: PipewatchFile, root: LMap, where: Path) -> None:
    """The rules a type cannot say: finite numbers, an owner rule's match, a history path."""
    from pipewatch.located import LSeq

    if parsed.min_score is not None and not math.isfinite(parsed.min_score):
        raise ConfigError(f"{where}:{root.line_of('min_score')}: `min_score` {_EXPECTED['min_score']}")
    anomalies = parsed.anomalies
    if (
        anomalies is not None
        and anomalies.sensitivity is not None
        and not math.isfinite(anomalies.sensitivity)
    ):
        raise ConfigError(
            f"{where}:{root.line_of('anomalies')}: `anomalies.sensitivity` must be a finite number"
        )
    if parsed.history is True or (isinstance(parsed.history, str) and not _is_path(parsed.history)):
        raise ConfigError(
            f"{where}:{root.line_of('history')}: `history` {_EXPECTED['history']} (got {parsed.history!r})"
        )
    owners = root.items.get("owners")
    for index, entry in enumerate(parsed.owners):
        if entry.path is None and entry.tag is None:
            line = owners.items[index].line if isinstance(owners, LSeq) else root.line_of("owners")
            raise ConfigError(f"{where}:{line}: each `owners` entry needs `owner` and `path` or `tag`")
    if parsed.alert_suppression is not None:
        try:
            parse_duration(parsed.alert_suppression)
        except ValueError as exc:
            raise ConfigError(
                f"{where}:{root.line_of('alert_suppression')}: `alert_suppression`: {exc}"
            ) from None


def _is_path(text: str) -> bool:
    """Whether `text` can name a file: not empty, not a yes/no word, not a bare number."""
    word = text.strip().lower()
    if not word or word in _BOOLEAN_WORDS:
        return False
    try:
        float(word)
    except ValueError:
        return True
    return False


def _apply(cfg: Config, parsed: PipewatchFile) -> None:
    cfg.target_path = parsed.target_path or cfg.target_path
    cfg.history_path = parsed.history if isinstance(parsed.history, str) else None
    cfg.rules_path = parsed.rules or cfg.rules_path
    cfg.min_score = parsed.min_score
    cfg.platform_owner = parsed.platform_owner or cfg.platform_owner
    cfg.report_url = parsed.report_url or cfg.report_url
    if parsed.alert_suppression is not None:
        cfg.alert_suppression_s = parse_duration(parsed.alert_suppression)
    cfg.owners = [OwnerRule(owner=o.owner, path=o.path, tag=o.tag) for o in parsed.owners]
    if parsed.slack is not None:
        cfg.slack_webhook = parsed.slack.webhook_url or cfg.slack_webhook
        cfg.slack_handles = dict(parsed.slack.handles)
    if parsed.anomalies is not None:
        cfg.extra["anomalies"] = msgspec.to_builtins(parsed.anomalies)
    if isinstance(parsed.schema, bool):
        cfg.schema = SchemaSection(enabled=parsed.schema, warehouse=parsed.schema)
    elif parsed.schema is not None:
        cfg.schema = parsed.schema


def _apply_env(cfg: Config, env: Mapping[str, str]) -> None:
    if env.get("PIPEWATCH_HISTORY"):
        value = env["PIPEWATCH_HISTORY"]
        if value.strip().lower() in _OFF_WORDS:
            cfg.history_path = None
        elif _is_path(value):
            cfg.history_path = value
        else:
            raise ConfigError(
                f"PIPEWATCH_HISTORY={value!r} is not a path; give the history store's path, or "
                f"{'/'.join(sorted(_OFF_WORDS))} to turn history off"
            )
    if env.get("PIPEWATCH_SLACK_WEBHOOK"):
        cfg.slack_webhook = env["PIPEWATCH_SLACK_WEBHOOK"]
    if env.get("PIPEWATCH_REPORT_URL"):
        cfg.report_url = env["PIPEWATCH_REPORT_URL"]
    if env.get("PIPEWATCH_MIN_SCORE"):
        try:
            score = float(env["PIPEWATCH_MIN_SCORE"])
        except ValueError:
            score = math.nan
        if not (math.isfinite(score) and 0.0 <= score <= 1.0):
            raise ConfigError(
                f"PIPEWATCH_MIN_SCORE={env['PIPEWATCH_MIN_SCORE']!r} must be a number between 0 and 1"
            )
        cfg.min_score = score
    if env.get("PIPEWATCH_PLATFORM_OWNER"):
        cfg.platform_owner = env["PIPEWATCH_PLATFORM_OWNER"]


def rules_location(config: Config, rules_path: str | Path | None = None) -> Path | None:
    """The rule file or folder to load: `rules_path` as given, else pipewatch.yml's `rules:` (relative to
    the project dir), else the project's `rules/` folder when it exists; None when there is none."""
    if rules_path is not None:
        return Path(rules_path)
    if config.rules_path:
        configured = Path(config.rules_path)
        return configured if configured.is_absolute() else config.project_dir / configured
    default = config.project_dir / "rules"
    return default if default.is_dir() else None


def resolve_target_dir(
    project_dir: Path,
    target_path: str | None = None,
    config_target: str | None = None,
    env: Mapping[str, str] | None = None,
) -> Path:
    """Where dbt wrote its artifacts, as dbt decides it.

    Precedence: the explicit `--target-path`, `DBT_TARGET_PATH`, pipewatch.yml's `target_path`,
    dbt_project.yml's `target-path`, then `target`. A relative path is relative to the project dir;
    `~` is expanded.
    """
    env = os.environ if env is None else env
    chosen = target_path or env.get("DBT_TARGET_PATH") or config_target or read_target_path(project_dir)
    path = Path(chosen).expanduser()
    return path if path.is_absolute() else project_dir / path


def read_target_path(project_dir: Path) -> str:
    """The `target-path` from dbt_project.yml (dbt's default `target` when unset or unreadable)."""
    project_file = project_dir / "dbt_project.yml"
    try:
        data = yaml.safe_load(project_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return "target"
    value = data.get("target-path") if isinstance(data, dict) else None
    # dbt allows Jinja here (env_var); pipewatch cannot render it, so it falls back to the default.
    if isinstance(value, str) and value and "{{" not in value:
        return value
    return "target"
