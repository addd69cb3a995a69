"""`pipewatch init`: scaffold pipewatch into a dbt project without touching anything already there.

Writes `pipewatch.yml` and a sample `rules/pipewatch.yml`, and adds the pipewatch dbt package to the
project's `packages.yml` (appending to an existing file with its comments kept, or creating it).
Existing `pipewatch.yml` or `rules/pipewatch.yml` are never overwritten: the command refuses (exit 2)
before writing anything. Registered on the main CLI as `main.add_command(init_command, "init")`.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import yaml

from pipewatch import __version__
from pipewatch.errors import ConfigError, PipewatchError, UsageError

#: Where the dbt package is published: the repository's `macros/` folder.
PACKAGE_GIT_URL = "https://github.com/pipewatch/pipewatch.git"
PACKAGE_SUBDIRECTORY = "macros"
#: The dbt package next to this pipewatch when it runs from a source checkout.
_CHECKOUT_MACROS = Path(__file__).resolve().parents[2] / PACKAGE_SUBDIRECTORY

CONFIG_TEMPLATE = """\
# pipewatch configuration. Every key is optional; PIPEWATCH_* environment variables override this file.
# Reference: the README's "Configuration" section.

# Quality rule files checked against the warehouse (a file or a folder of *.yml).
rules: rules

# Run history for trends and anomaly detection (a DuckDB file); `false` turns it off.
history: .pipewatch/history.duckdb

# Fail the gate (exit 1) when the quality score drops below this (0..1).
# min_score: 0.95

# Who gets resource, permission and unknown errors.
# platform_owner: data-platform@example.com

# Owners for nodes without meta.owner (first match wins).
# owners:
#   - {path: "models/finance/*", owner: finance-data@example.com}
#   - {tag: marketing, owner: growth@example.com}

# Slack alerts for failures and anomalies.
# slack:
#   webhook_url: https://hooks.slack.com/services/T000/B000/XXXX
"""

RULES_TEMPLATE = """\
# pipewatch quality rules (the rule-file contract: version 1, a list of tables and their checks).
# The same checks work as dbt tests from the pipewatch dbt package (`pipewatch.range`, ...) with the
# same arguments, and in a model's `meta.pipewatch` with `post_hook: "{{{{ pipewatch.assert_rules() }}}}"`.
version: 1

# Each table entry names one table (`model:`, `source:` or `relation:`) and lists its checks. To start,
# replace `[]` with the example below (uncommented) and rename the table and columns to yours.
tables: []
#  - model: {model}                 # or `source: raw.orders`, or `relation: analytics.main.orders`
#    where: "created_at >= DATE '2026-01-01'"   # optional: only these rows are checked
#    checks:
#      # not_null: rows where the column is NULL fail (a list makes one check per column)
#      - not_null: [order_id, customer_id]
#      # unique: each non-NULL value occurring more than once fails once (dbt's count)
#      - unique: order_id
#      # accepted_values: each distinct non-NULL value outside the list fails once
#      - accepted_values: {{column: status, values: [placed, shipped, completed, returned]}}
#      # range: rows below min or above max fail (bounds inclusive; NULL passes)
#      - range: {{column: amount, min: 0, max: 100000}}
#      # matches: rows with no match of the regex anywhere in the value fail (NULL passes)
#      - matches: {{column: email, pattern: '^[^@ ]+@[^@ ]+\\.[a-z]+$'}}
#      # relationships: rows whose non-NULL key has no row in the parent table fail
#      - relationships: {{column: customer_id, to: customers, field: customer_id}}
#      # row_count: the table must have between min and max rows (pass/fail)
#      - row_count: {{min: 1}}
#      # freshness: the newest value must be at most max_age old (s, m, h, d, w; pass/fail)
#      - freshness: {{column: created_at, max_age: 48h}}
#      # duplicates: copies beyond the first of each key fail; here up to 1% of rows may
#      - duplicates: {{columns: [order_id, line_no], max_ratio: 0.01}}
#      # expression: rows where the SQL is false fail (NULL passes); `severity: warn` never fails the gate
#      - expression: {{name: paid_orders_have_date, sql: "status <> 'paid' OR paid_at IS NOT NULL", severity: warn}}
"""

_PACKAGES_LINE = re.compile(r"^packages:[ \t]*(#.*)?$", re.MULTILINE)
_ITEM_LINE = re.compile(r"^([ \t]*)- ")


@dataclass
class InitResult:
    """What `scaffold` did, as lines to show the user."""

    created: list[Path] = field(default_factory=list)
    packages_file: Path | None = None
    packages_action: str = ""  # created | appended | present

    def lines(self, project_dir: Path) -> list[str]:
        """One line per change, paths relative to the project."""
        out = [f"created {_rel(p, project_dir)}" for p in self.created]
        if self.packages_file is not None:
            name = _rel(self.packages_file, project_dir)
            out.append(
                {
                    "created": f"created {name} with the pipewatch dbt package",
                    "appended": f"added the pipewatch dbt package to {name}",
                    "present": f"{name} already lists the pipewatch dbt package; left as it was",
                }[self.packages_action]
            )
        return out


def package_entry(project_dir: Path, source: str = "auto", local_path: Path | None = None) -> dict[str, Any]:
    """The packages.yml entry for the pipewatch dbt package.

    `source` `local` (a `local:` path, from `local_path` or this checkout's macros/ folder) or `git`;
    `auto` is local when pipewatch runs from a source checkout that has the package, git otherwise.
    """
    folder = local_path or (_CHECKOUT_MACROS if (_CHECKOUT_MACROS / "dbt_project.yml").is_file() else None)
    if source == "local" or (source == "auto" and folder is not None):
        if folder is None:
            raise UsageError(
                "--package local: no pipewatch dbt package next to this pipewatch; pass --package-path"
            )
        if not (folder / "dbt_project.yml").is_file():
            raise UsageError(f"{folder}: not a dbt package (no dbt_project.yml)")
        return {"local": os.path.relpath(folder.resolve(), project_dir.resolve())}
    return {"git": PACKAGE_GIT_URL, "subdirectory": PACKAGE_SUBDIRECTORY, "revision": f"v{__version__}"}


def scaffold(project_dir: Path, *, package: str = "auto", package_path: Path | None = None) -> InitResult:
    """Write pipewatch.yml, rules/pipewatch.yml and the packages.yml entry into a dbt project.

    Refuses with `UsageError` (exit 2), writing nothing, when the folder is not a dbt project or
    pipewatch.yml / rules/pipewatch.yml already exist; `ConfigError` when packages.yml cannot be read
    or edited safely.
    """
    if not (project_dir / "dbt_project.yml").is_file():
        raise UsageError(
            f"{project_dir}: no dbt_project.yml here; run `pipewatch init` in a dbt project or pass --project-dir"
        )
    config = project_dir / "pipewatch.yml"
    rules = project_dir / "rules" / "pipewatch.yml"
    existing = [p for p in (config, rules) if p.exists()]
    if existing:
        names = ", ".join(_rel(p, project_dir) for p in existing)
        raise UsageError(
            f"refusing to overwrite {names} in {project_dir}: pipewatch init never replaces files; "
            "move them aside to scaffold again"
        )
    entry = package_entry(project_dir, package, package_path)
    packages_file, new_text, action = _packages_edit(project_dir, entry)

    result = InitResult(packages_file=packages_file, packages_action=action)
    try:
        rules.parent.mkdir(parents=True, exist_ok=True)
        _create(config, CONFIG_TEMPLATE)
        result.created.append(config)
        _create(rules, RULES_TEMPLATE.format(model=_first_model(project_dir) or "orders"))
        result.created.append(rules)
        if new_text is not None:
            packages_file.write_text(new_text, encoding="utf-8")
    except FileExistsError as exc:
        raise UsageError(
            f"refusing to overwrite {exc.filename}: it appeared while pipewatch init ran"
        ) from None
    except OSError as exc:
        raise PipewatchError(f"cannot write into {project_dir}: {exc.strerror or exc}") from None
    return result


def _create(path: Path, text: str) -> None:
    # Mode "x" fails rather than overwrite a file created since the check above.
    with path.open("x", encoding="utf-8") as f:
        f.write(text)


def _packages_edit(project_dir: Path, entry: dict[str, Any]) -> tuple[Path, str | None, str]:
    """Which packages file to touch, its new text (None: unchanged) and what was done."""
    path = project_dir / "packages.yml"
    deps = project_dir / "dependencies.yml"
    if not path.exists() and deps.is_file() and "packages" in (_load(deps) or {}):
        path = deps  # dbt >= 1.6 reads packages from dependencies.yml too
    if not path.exists():
        return path, _dump_packages([entry]), "created"
    text = _read(path)
    data = _load(path, text)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping with `packages:`")
    listed = data.get("packages")
    if listed is not None and not isinstance(listed, list):
        raise ConfigError(f"{path}: `packages` must be a list")
    if any("pipewatch" in str(item).lower() for item in listed or []):
        return path, None, "present"
    new_text = _insert_entry(path, text, entry, has_key="packages" in data)
    check = _load(path, new_text)
    if not isinstance(check, dict) or check.get("packages") != [*(listed or []), entry]:
        raise ConfigError(f"{path}: could not add the pipewatch package safely; add it by hand: {entry}")
    return path, new_text, "appended"


def _insert_entry(path: Path, text: str, entry: dict[str, Any], *, has_key: bool) -> str:
    """The file's text with `entry` added last to its `packages:` list, comments and layout kept."""
    if not has_key:
        sep = "" if not text or text.endswith("\n") else "\n"
        return text + sep + _dump_packages([entry])
    match = _PACKAGES_LINE.search(text)
    if match is None:  # `packages: [...]` or another flow form: not editable line by line
        raise ConfigError(
            f"{path}: `packages:` is not a block list pipewatch can extend; add this entry by hand: {entry}"
        )
    # The block runs until the next top-level key; the entry goes after its last item line.
    indent: str | None = None
    block_end = pos = match.end()
    for line in text[match.end() :].splitlines(keepends=True):
        stripped = line.strip()
        content = bool(stripped) and not stripped.startswith("#")
        if content and not line.startswith((" ", "\t", "-")):
            break
        pos += len(line)
        if content:
            block_end = pos
            item = _ITEM_LINE.match(line)
            if indent is None and item:
                indent = item.group(1)
    body = _indented(entry, "  " if indent is None else indent)
    head = text[:block_end]
    if not head.endswith("\n"):
        head += "\n"
    return head + body + text[block_end:]


def _indented(entry: dict[str, Any], indent: str) -> str:
    """`entry` as one YAML list item at `indent`."""
    lines = yaml.safe_dump([entry], sort_keys=False, default_flow_style=False).splitlines()
    return "".join(f"{indent}{line}\n" for line in lines)


def _dump_packages(entries: list[dict[str, Any]]) -> str:
    return "packages:\n" + "".join(_indented(e, "  ") for e in entries)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None


def _load(path: Path, text: str | None = None) -> Any:
    try:
        return yaml.safe_load(_read(path) if text is None else text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}{where}: invalid YAML: {getattr(exc, 'problem', None) or exc}") from None


def _first_model(project_dir: Path) -> str | None:
    """The name of a model in the project's models/ folder, for the sample rule (None if none)."""
    models = sorted((project_dir / "models").rglob("*.sql")) if (project_dir / "models").is_dir() else []
    return models[0].stem if models else None


def _rel(path: Path, base: Path) -> str:
    try:
        return str(path.relative_to(base))
    except ValueError:
        return str(path)


@click.command("init")
@click.option(
    "--project-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="The dbt project to scaffold pipewatch into (where dbt_project.yml lives).",
)
@click.option(
    "--package",
    type=click.Choice(["auto", "git", "local"]),
    default="auto",
    show_default=True,
    help="How packages.yml installs the pipewatch dbt package: `local:` path or `git:` (auto: local when "
    "pipewatch runs from a source checkout).",
)
@click.option(
    "--package-path",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The pipewatch dbt package folder for a `local:` entry (default: this checkout's macros/).",
)
def init_command(project_dir: Path, package: str, package_path: Path | None) -> None:
    """Scaffold pipewatch.yml, a sample rules/pipewatch.yml and the packages.yml entry into a dbt project.

    Never overwrites: exits 2 when pipewatch.yml or rules/pipewatch.yml already exist.
    """
    result = scaffold(project_dir, package=package, package_path=package_path)
    for line in result.lines(project_dir):
        click.echo(line)
    click.echo(
        'next: run `dbt deps`; add `on-run-end: ["{{ pipewatch.audit() }}"]` to dbt_project.yml to keep '
        "run history in the warehouse; edit rules/pipewatch.yml"
    )
