"""pipewatch.yml discovery, defaults, and PIPEWATCH_* environment overrides.

Precedence, highest first: command-line flags (applied by the CLI), `PIPEWATCH_*` environment
variables, `pipewatch.yml` in the dbt project directory, built-in defaults.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pipewatch.errors import ConfigError

CONFIG_FILENAME = "pipewatch.yml"
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
    history_path: str | None = ".pipewatch/history.duckdb"
    rules_path: str | None = None
    min_score: float | None = None
    platform_owner: str | None = None
    owners: list[OwnerRule] = field(default_factory=list)
    slack_webhook: str | None = None
    slack_handles: dict[str, str] = field(default_factory=dict)
    report_url: str | None = None
    alert_suppression_s: float = 24 * 3600.0
    extra: dict[str, Any] = field(default_factory=dict)

    def history_file(self) -> Path | None:
        """The history store's path resolved against the project dir, or None when history is off."""
        if not self.history_path:
            return None
        path = Path(self.history_path)
        return path if path.is_absolute() else self.project_dir / path


def _as_str(value: Any, key: str, where: Path) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str | int | float):
        raise ConfigError(f"{where}: `{key}` must be a string")
    return str(value)


def load_config(project_dir: Path | str = ".", env: Mapping[str, str] | None = None) -> Config:
    """Read `pipewatch.yml` from the project dir (if present) and apply `PIPEWATCH_*` overrides."""
    env = os.environ if env is None else env
    project = Path(project_dir)
    cfg = Config(project_dir=project)
    path = project / CONFIG_FILENAME
    raw: dict[str, Any] = {}
    if path.is_file():
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.MarkedYAMLError as exc:
            line = exc.problem_mark.line + 1 if exc.problem_mark else 0
            raise ConfigError(f"{path}:{line}: invalid YAML: {exc.problem}") from None
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise ConfigError(f"{path}: cannot read: {exc}") from None
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"{path}: expected a mapping at the top level")
        raw = loaded or {}
        cfg.source = path
    _apply(cfg, raw, path)
    _apply_env(cfg, env)
    return cfg


def _apply(cfg: Config, raw: dict[str, Any], where: Path) -> None:
    known = {
        "target_path", "history", "rules", "min_score", "platform_owner", "owners", "slack",
        "report_url", "alert_suppression",
    }  # fmt: skip
    cfg.extra = {k: v for k, v in raw.items() if k not in known}
    cfg.target_path = _as_str(raw.get("target_path"), "target_path", where) or cfg.target_path
    if "history" in raw:
        history = raw["history"]
        cfg.history_path = None if history in (False, None) else _as_str(history, "history", where)
    cfg.rules_path = _as_str(raw.get("rules"), "rules", where) or cfg.rules_path
    if raw.get("min_score") is not None:
        try:
            cfg.min_score = float(raw["min_score"])
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: `min_score` must be a number between 0 and 1") from None
    cfg.platform_owner = _as_str(raw.get("platform_owner"), "platform_owner", where) or cfg.platform_owner
    cfg.report_url = _as_str(raw.get("report_url"), "report_url", where) or cfg.report_url
    if raw.get("alert_suppression") is not None:
        try:
            cfg.alert_suppression_s = parse_duration(raw["alert_suppression"])
        except ValueError as exc:
            raise ConfigError(f"{where}: `alert_suppression`: {exc}") from None
    owners = raw.get("owners") or []
    if not isinstance(owners, list):
        raise ConfigError(f"{where}: `owners` must be a list of {{owner, path|tag}} entries")
    for entry in owners:
        if not isinstance(entry, dict) or "owner" not in entry or not ({"path", "tag"} & entry.keys()):
            raise ConfigError(f"{where}: each `owners` entry needs `owner` and `path` or `tag`")
        cfg.owners.append(OwnerRule(owner=str(entry["owner"]), path=entry.get("path"), tag=entry.get("tag")))
    slack = raw.get("slack") or {}
    if not isinstance(slack, dict):
        raise ConfigError(f"{where}: `slack` must be a mapping (webhook_url, handles)")
    cfg.slack_webhook = _as_str(slack.get("webhook_url"), "slack.webhook_url", where) or cfg.slack_webhook
    handles = slack.get("handles") or {}
    if not isinstance(handles, dict):
        raise ConfigError(f"{where}: `slack.handles` must map owners to Slack handles")
    cfg.slack_handles = {str(k): str(v) for k, v in handles.items()}


def _apply_env(cfg: Config, env: Mapping[str, str]) -> None:
    if env.get("PIPEWATCH_HISTORY"):
        value = env["PIPEWATCH_HISTORY"]
        cfg.history_path = None if value.lower() in ("off", "false", "0", "none") else value
    if env.get("PIPEWATCH_SLACK_WEBHOOK"):
        cfg.slack_webhook = env["PIPEWATCH_SLACK_WEBHOOK"]
    if env.get("PIPEWATCH_REPORT_URL"):
        cfg.report_url = env["PIPEWATCH_REPORT_URL"]
    if env.get("PIPEWATCH_MIN_SCORE"):
        try:
            cfg.min_score = float(env["PIPEWATCH_MIN_SCORE"])
        except ValueError:
            raise ConfigError("PIPEWATCH_MIN_SCORE must be a number between 0 and 1") from None
    if env.get("PIPEWATCH_PLATFORM_OWNER"):
        cfg.platform_owner = env["PIPEWATCH_PLATFORM_OWNER"]


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
