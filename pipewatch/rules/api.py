"""The rules' Python API: `check_dataframe(df, rules)` runs rules on in-memory DuckDB; `run_quality` runs a
project's rule files and/or its dbt tests on a warehouse (what `pipewatch check` and after-run call)."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from pipewatch.config import rules_location
from pipewatch.errors import ConfigError, UsageError
from pipewatch.rules.engine import run_checks
from pipewatch.rules.loader import RULE_FILE_SUFFIXES, load_rules, parse_rules, rule_files
from pipewatch.rules.results import CheckResult, QualityReport
from pipewatch.rules.spec import RuleSet
from pipewatch.warehouse.duckdb import DuckDBWarehouse

if TYPE_CHECKING:
    from pipewatch.artifacts.model import Node, Run
    from pipewatch.config import Config
    from pipewatch.rules.dbt_compile import Compiled, DbtProject
    from pipewatch.rules.dbt_unit import UnitRun
    from pipewatch.warehouse.base import Warehouse

RulesInput = str | Path | Mapping[str, Any] | RuleSet
#: Why a `--duckdb FILE` run cannot run dbt's unit tests (dbt needs the profile) ...
_UNIT_NO_PROFILE = "dbt runs unit tests through the project's dbt profile: check without --duckdb to run them"
#: ... nor store a test's failures (pipewatch opens the file read-only).
_READ_ONLY = "pipewatch opens a --duckdb file read-only: check through the dbt profile to store them"


def check_dataframe(
    df: Any,
    rules: RulesInput,
    *,
    name: str = "df",
    tables: Mapping[str, Any] | None = None,
    samples: int = 5,
    now: datetime | None = None,
) -> QualityReport:
    """Run quality rules on a pandas DataFrame and return the report.

    `rules` is a rule file or folder path, rule-file YAML text, a dict of the same shape, or a loaded
    `RuleSet`. The frame is the relation `name` (rules say `relation: df`); a rules mapping with only a
    `checks:` list applies those checks to it. `tables` registers more frames (e.g. the parents of
    `relationships` checks) under their own names.
    """
    ruleset = _ruleset(rules, name)
    with DuckDBWarehouse() as wh:
        wh.register(name, df)
        for other, frame in (tables or {}).items():
            wh.register(other, frame)
        return run_checks(ruleset, wh, samples=samples, now=now)


def run_quality(
    config: Config,
    *,
    rules_path: str | Path | None = None,
    dbt_tests: bool = False,
    run: Run | None = None,
    warehouse: Warehouse,
    samples: int = 5,
    now: datetime | None = None,
    selected: Collection[str] | None = None,
    threads: int | None = None,
    compiled: Compiled | None = None,
    store_failures: bool = False,
    units: UnitRun | None = None,
) -> QualityReport:
    """Run a project's quality checks on `warehouse`: its rule files and/or (`dbt_tests`) its dbt tests.

    Rules come from `rules_path`, else `rules:` in pipewatch.yml, else the project's `rules/` folder (see
    `rules_location`); `model:`/`source:` resolve through `run`'s manifest, which `dbt_tests` also needs.
    Every rule file is validated before any query runs (one ConfigError listing every problem, exit 2).
    dbt tests (`selected` unique ids only, when given) that cannot be fused run as dbt runs them, their
    compiled SQL wrapped as dbt's test materialization does; every statement runs on up to `threads`
    connections at once (default: the warehouse's `threads`, the profile's for a dbt profile).
    `compiled`: SQL dbt compiled for this run for tests the artifacts have none for. Tests that store
    their failures (their config, or `store_failures`: dbt's `--store-failures`) write them where dbt
    would, in schemas created first, as dbt's `create_schemas` does. `units`: the selected dbt unit
    tests, judged by dbt (`rules.dbt_unit`), reported beside the other checks.
    """
    path = rules_location(config, rules_path)
    if path is None and not dbt_tests:
        raise UsageError(
            "nothing to check: pass --rules PATH (or set `rules:` in pipewatch.yml, or add a rules/ folder"
            " to the dbt project) and/or --dbt-tests"
        )
    nodes = run.nodes if run is not None and "manifest" in run.schema_versions else None
    ruleset = load_rules(path, nodes=nodes, dialect=warehouse.dialect) if path is not None else RuleSet()
    extra: list[Callable[[Warehouse], CheckResult]] = []
    if dbt_tests:
        from pipewatch.rules.dbt_tests import dbt_test_rules

        if run is None or nodes is None:
            raise UsageError("--dbt-tests needs the dbt manifest (target/manifest.json): run dbt first")
        imported = dbt_test_rules(
            nodes,
            warehouse.dialect,
            selected=selected,
            compiled={**_compiled_in_results(run), **(compiled.sql if compiled else {})},
            missing=compiled.problem if compiled else None,
            store_failures=store_failures,
            recompiled=compiled.sql if compiled and store_failures else None,
            read_only=None if callable(getattr(warehouse, "commit", None)) else _READ_ONLY,
        )
        if any(t.store is not None and t.sql is not None for t in imported.sql_tests):
            from pipewatch.rules.dbt_store import prepare_stores

            imported.sql_tests = prepare_stores(warehouse, imported.sql_tests)
        ruleset.tables.extend(imported.tables)
        ruleset.files.append("<dbt tests>")
        extra = [t.run for t in imported.sql_tests]
        if units is not None:
            extra += [_unit_task(units, node) for node in units.tests]
    pool = threads or int(getattr(warehouse, "threads", 1) or 1)
    return run_checks(ruleset, warehouse, samples=samples, now=now, threads=pool, extra=extra)


def check_project(
    config: Config,
    *,
    rules_path: str | Path | None = None,
    dbt_tests: bool = False,
    run: Run | None = None,
    samples: int = 5,
    duckdb: str | Path | None = None,
    project_dir: str | Path | None = None,
    profiles_dir: str | Path | None = None,
    target: str | None = None,
    profile: str | None = None,
    select: Sequence[str] = (),
    exclude: Sequence[str] = (),
    vars: Mapping[str, Any] | None = None,
    threads: int | None = None,
    manifest_path: Path | None = None,
    store_failures: bool = False,
) -> QualityReport:
    """Open the project's warehouse, run its checks (`run_quality`), and close it whatever happens.

    What `pipewatch check` and after-run call. The warehouse is the DuckDB file `duckdb` (attached under
    the manifest's database name when the file is a renamed copy), else the dbt profile of `project_dir`
    (default `config.project_dir`; `profiles_dir`, `target`, `profile`, dbt's `vars`). `select`/`exclude`
    pick dbt tests with dbt's syntax, resolved by dbt's selector on `manifest_path`; `store_failures` is
    dbt's `--store-failures`. The rule files are looked up first, so a missing rules path is reported as
    such, not as a missing dbt profile.
    """
    from pipewatch.rules.dbt_compile import DbtProject
    from pipewatch.warehouse import open_warehouse
    from pipewatch.warehouse.dialects import engine_of

    path = rules_location(config, rules_path)
    if path is not None:
        rule_files(path)  # ConfigError (exit 2) naming the path when there is nothing there
    root = Path(config.project_dir if project_dir is None else project_dir)
    dbt = DbtProject(root, profiles_dir, target, profile, vars)
    selected = None
    if (select or exclude) and dbt_tests:
        from pipewatch.rules.dbt_select import refuse_unsupported, selected_tests

        refuse_unsupported(select, exclude)
        if manifest_path is None or not manifest_path.is_file():
            raise UsageError("--select/--exclude need the dbt manifest (target/manifest.json): run dbt first")
        selected = selected_tests(manifest_path, root, select, exclude)

    def opened(duckdb: str | Path | None) -> Warehouse:
        return open_warehouse(
            duckdb=duckdb,
            project_dir=root,
            profiles_dir=profiles_dir,
            target=target,
            profile=profile,
            vars=vars,
            threads=threads,
            catalog=_main_database(run) if duckdb is not None else None,
        )

    # A dbt profile is read here but connects on first use; a DuckDB file opens at once, so it opens
    # after dbt (in a process of its own) has compiled what the artifacts lack.
    warehouse = opened(None) if duckdb is None else None
    compiled = None
    if dbt_tests and run is not None:
        dialect = warehouse.dialect if warehouse is not None else "duckdb"
        names = _uncompiled(run, dialect, selected, store_failures)
        if names:
            from pipewatch.rules.dbt_compile import compile_tests

            compiled = compile_tests(names, dbt, store_failures=store_failures)
    units = _start_units(
        run if dbt_tests else None,
        selected,
        dbt,
        duckdb=duckdb,
        # dbt-duckdb holds its file open, a Spark session its metastore: pipewatch connects to them
        # only once dbt is done.
        wait=warehouse is None or engine_of(warehouse.dialect).one_client,
        target_dir=manifest_path.parent if manifest_path is not None else None,
    )
    warehouse = warehouse if warehouse is not None else opened(duckdb)
    try:
        return run_quality(
            config,
            rules_path=path,
            dbt_tests=dbt_tests,
            run=run,
            warehouse=warehouse,
            samples=samples,
            selected=selected,
            compiled=compiled,
            store_failures=store_failures,
            units=units,
        )
    finally:
        warehouse.close()
        if units is not None:
            units.close()


def _unit_task(units: UnitRun, node: Node) -> Callable[[Warehouse], CheckResult]:
    """A pool task reporting one unit test's verdict (dbt's, read once dbt is done)."""
    return lambda _: units.result_for(node)


def _start_units(
    run: Run | None,
    selected: Collection[str] | None,
    dbt: DbtProject,
    *,
    duckdb: str | Path | None,
    wait: bool,
    target_dir: Path | None,
) -> UnitRun | None:
    """The selected dbt unit tests started under dbt (`rules.dbt_unit`), None when there are none (no
    import, no process: a project without unit tests pays nothing); `wait`: let dbt finish first."""
    if run is None or "manifest" not in run.schema_versions:
        return None
    if not any(n.resource_type == "unit_test" for n in run.nodes.values()):
        return None
    from pipewatch.rules.dbt_unit import UnitRun, start_unit_tests, unit_tests

    tests = unit_tests(run.nodes, selected)
    if not tests:
        return None
    if duckdb is not None:
        # dbt runs unit tests through the project's profile; --duckdb checks a file without one.
        return UnitRun(tests, run.nodes, problem=_UNIT_NO_PROFILE)
    units = start_unit_tests(tests, run.nodes, dbt, target_dir=target_dir)
    if wait:
        units.results()
    return units


def _compiled_in_results(run: Run) -> dict[str, str]:
    """Tests' compiled SQL as run_results.json has it (a manifest from an earlier `dbt parse` may not)."""
    return {r.unique_id: r.compiled_code for r in run.results if r.compiled_code}


def _uncompiled(
    run: Run, dialect: str, selected: Collection[str] | None, store_failures: bool = False
) -> list[str]:
    """Names of the tests that must run as dbt SQL and that no artifact has compiled SQL for; with
    `store_failures`, also every test that stores its failures only because of that flag, since dbt's
    SQL for it depends on the flag (`not_null` selects `*` instead of the column when it stores)."""
    from pipewatch.rules.dbt_tests import dbt_test_rules

    if "manifest" not in run.schema_versions:
        return []
    flagged = []
    if store_failures:
        flagged = [
            n.name
            for uid, n in run.nodes.items()
            if n.test is not None
            and n.enabled
            and n.test.store_failures is None
            and (selected is None or uid in selected)
        ]
        if flagged:
            return sorted(set(flagged) | set(_uncompiled(run, dialect, selected)))
    compiled = _compiled_in_results(run)
    lacking = [
        n
        for uid, n in run.nodes.items()
        if n.test is not None
        and not n.test.compiled_code
        and uid not in compiled
        and (selected is None or uid in selected)
    ]
    if not lacking:  # the common case, decided without importing the test builders
        return []
    imported = dbt_test_rules(run.nodes, dialect, selected=selected, compiled=compiled)
    return [t.node.name for t in imported.sql_tests if t.sql is None]


def _main_database(run: Run | None) -> str | None:
    """The database most of the manifest's models and seeds live in (what dbt compiled into its SQL)."""
    if run is None:
        return None
    counts: dict[str, int] = {}
    for node in run.nodes.values():
        if node.resource_type in ("model", "seed", "snapshot") and node.database:
            counts[node.database] = counts.get(node.database, 0) + 1
    return max(counts, key=lambda name: counts[name]) if counts else None


def _ruleset(rules: RulesInput, name: str) -> RuleSet:
    if isinstance(rules, RuleSet):
        return rules
    if isinstance(rules, Path) or (
        isinstance(rules, str)
        and "\n" not in rules
        and (rules.endswith(RULE_FILE_SUFFIXES) or Path(rules).is_dir())
    ):
        return load_rules(rules)
    if isinstance(rules, str):
        try:
            data = yaml.safe_load(rules)
        except yaml.YAMLError:
            return parse_rules(rules)  # the loader reports the syntax error with its line
        if isinstance(data, Mapping) and "tables" not in data and "checks" in data:
            return parse_rules(_dump(_wrap(data, name)), source="<rules>")
        return parse_rules(rules)
    if isinstance(rules, Mapping):
        data = _wrap(rules, name) if "tables" not in rules and "checks" in rules else dict(rules)
        return parse_rules(_dump(data), source="<rules dict>")
    raise ConfigError(f"rules must be a path, YAML text or a dict (got {type(rules).__name__})")


def _wrap(data: Mapping[str, Any], name: str) -> dict[str, Any]:
    """`{checks: [...]}` as a full rule file for the one relation `name`."""
    table = {"relation": _quoted(name), **{k: v for k, v in data.items() if k != "version"}}
    return {"version": data.get("version", 1), "tables": [table]}


def _quoted(name: str) -> str:
    """A registered name as a `relation:` string (quoted, so any name round-trips)."""
    return '"' + name.replace('"', '""') + '"'


def _dump(data: Mapping[str, Any]) -> str:
    try:
        return yaml.safe_dump(dict(data), sort_keys=False, allow_unicode=True)
    except yaml.YAMLError as exc:
        raise ConfigError(f"<rules dict>: cannot be read as a rule file: {exc}") from None
