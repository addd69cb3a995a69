"""Any dbt profile as a pipewatch warehouse: the dbt adapter in-process, one connection for the whole run.

The profile is read the way dbt reads it (`--profiles-dir`, else `DBT_PROFILES_DIR`, else the current
directory when it holds a profiles.yml, else `~/.dbt`; `--target`/`DBT_TARGET`, `--profile`/`DBT_PROFILE`,
the project's `profile:`), through dbt's own loaders, so Jinja (`env_var`, `flags.PROFILES_DIR`) renders
exactly as in `dbt build`. The adapter class comes from dbt's adapter factory and the connection is
opened once, named `pipewatch`, and held until `close()`: a run of checks is a few statements on one
connection, never a dbt invocation per query.

SQL is generated in the adapter's dialect (`warehouse.dialects`, sqlglot names). Results are read from the
DB-API cursor when the adapter has one (values keep their Python types), else from dbt's agate table.

A query the database refuses raises `QueryError` (the engine errors that check and goes on); a warehouse
that cannot be reached or whose connection is gone raises `WarehouseError` (exit code 3) with the
database's message, its triage category, and never a credential.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import threading
from argparse import Namespace
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from sqlglot import exp

from pipewatch.errors import ConfigError, WarehouseError
from pipewatch.triage.unwrap import unwrap
from pipewatch.warehouse.base import QueryError, QueryResult, render
from pipewatch.warehouse.dialects import dialect_for, noisy_loggers

CONNECTION_NAME = "pipewatch"
#: Credential fields whose values never appear in a message.
SECRET_FIELD = re.compile(r"pass|token|secret|private|keyfile|credential|api_key", re.IGNORECASE)


def profiles_dir_for(profiles_dir: Path | str | None, project_dir: Path | str | None = None) -> Path:
    """Where profiles.yml is: the flag, DBT_PROFILES_DIR, the current dir, the project dir, then ~/.dbt.

    dbt itself stops at the current dir; pipewatch also looks in the project dir, since a project that
    keeps its profiles.yml there (as many do, with `--profiles-dir .`) is the common case when
    `--project-dir` points at it from elsewhere.
    """
    if profiles_dir is not None:
        return Path(profiles_dir)
    env = os.environ.get("DBT_PROFILES_DIR")
    if env:
        return Path(env)
    for candidate in (Path.cwd(), Path(project_dir) if project_dir is not None else None):
        if candidate is not None and (candidate / "profiles.yml").exists():
            return candidate
    return Path.home() / ".dbt"


class DbtAdapterWarehouse:
    """A dbt profile's warehouse, reached through its dbt adapter in this process.

    Creating one reads and validates the profile (ConfigError, exit 2, when it is missing or invalid) but
    does not connect; the connection opens on `connect()` or the first `execute`, and stays open until
    `close()`. Use it as a context manager.
    """

    def __init__(
        self,
        *,
        project_dir: Path | str = ".",
        profiles_dir: Path | str | None = None,
        target: str | None = None,
        profile: str | None = None,
        vars: Mapping[str, Any] | None = None,
        threads: int | None = None,
    ) -> None:
        self.project_dir = Path(project_dir)
        self.profiles_dir = profiles_dir_for(profiles_dir, self.project_dir)
        self._config = load_dbt_config(
            self.project_dir,
            self.profiles_dir,
            target or os.environ.get("DBT_TARGET") or None,
            profile or os.environ.get("DBT_PROFILE") or None,
            dict(vars or {}),
        )
        #: How many connections independent statements may use at once: the profile's `threads`, as dbt.
        self.threads: int = threads or int(getattr(self._config, "threads", None) or 1)
        credentials = self._config.credentials
        self.adapter_type: str = str(credentials.type)
        self.dialect: str = dialect_for(self.adapter_type)
        self.profile_name: str = str(self._config.profile_name)
        self.target_name: str = str(self._config.target_name)
        self._secrets = _secrets_of(credentials)
        self._adapter: Any = None
        self._stack: contextlib.ExitStack | None = None

    @property
    def config(self) -> Any:
        """dbt's RuntimeConfig: the chosen target's credentials as dbt rendered and validated them, the
        project's settings (`quoting:`...)."""
        return self._config

    def __repr__(self) -> str:
        return f"DbtAdapterWarehouse({self.adapter_type}, profile={self.profile_name}, target={self.target_name})"

    @property
    def label(self) -> str:
        """`postgres (profile shop, target dev)`: how messages name this warehouse."""
        return f"{self.adapter_type} (profile `{self.profile_name}`, target `{self.target_name}`)"

    # -- connection -------------------------------------------------------------------------------------

    def connect(self) -> None:
        """Open the one connection of the run (WarehouseError with the database's message if it cannot)."""
        if self._stack is not None:
            return
        from dbt.adapters.factory import get_adapter_class_by_name, load_plugin
        from dbt.mp_context import get_mp_context

        try:
            load_plugin(self.adapter_type)
            adapter_class: Any = get_adapter_class_by_name(self.adapter_type)
            # An adapter of our own rather than the factory's registered one: a second profile of the same
            # type in this process must not get the first one's connection.
            adapter: Any = adapter_class(self._config, get_mp_context())
        except Exception as exc:  # dbt raises its own exception types for a broken or missing plugin
            raise ConfigError(f"dbt adapter `{self.adapter_type}`: {self._message(exc)}") from None
        stack = contextlib.ExitStack()
        try:
            stack.enter_context(adapter.connection_named(CONNECTION_NAME))
            connection = adapter.connections.get_thread_connection()
            _ = connection.handle  # dbt opens connections lazily; open it now to fail here, not mid-run
        except Exception as exc:
            with contextlib.suppress(Exception):
                stack.close()
            raise self._unreachable("cannot connect to", exc) from None
        self._adapter = adapter
        self._stack = stack
        if noisy_loggers(self.dialect):
            _silence_client_logs(self.dialect, self._run)

    @contextlib.contextmanager
    def session(self) -> Iterator[DbtAdapterWarehouse]:
        """A connection of its own for the calling worker thread, held until the block ends.

        dbt's connection manager keys connections by thread, so `execute` in this thread runs on it (see
        `warehouse.base.run_concurrently`).
        """
        self.connect()
        name = f"{CONNECTION_NAME}:{threading.current_thread().name}"
        with contextlib.ExitStack() as stack:
            try:
                stack.enter_context(self._adapter.connection_named(name))
                _ = self._adapter.connections.get_thread_connection().handle
            except Exception as exc:
                raise self._unreachable("cannot connect to", exc) from None
            yield self

    def execute(self, statement: exp.Expr | str) -> QueryResult:
        """Run one statement on the run's connection and fetch every row."""
        self.connect()
        sql = render(statement, self.dialect)
        try:
            return self._run(sql)
        except Exception as exc:
            # Line breaks kept: the first line is the database's diagnosis (what the views show), the
            # rest its detail (Spark's logical plan), kept for --format json.
            message = redact(dbt_message(exc, one_line=False), self._secrets)
            if not self._alive():
                raise self._unreachable("lost the connection to", exc) from None
            raise QueryError(message, sql) from None

    def commit(self) -> None:
        """Commit the calling thread's open transaction: a test that stores its failures writes a table,
        which dbt's test materialization commits (`adapter.commit()`)."""
        self.connect()
        connections = self._adapter.connections
        connection = connections.get_if_exists()
        if connection is not None and connection.transaction_open:
            connections.commit()

    def quote_policy(self) -> dict[str, bool]:
        """How dbt quotes the relations it creates (`relation_quote_policy`)."""
        self.connect()
        return relation_quote_policy(self._adapter.Relation, self._config)

    def close(self) -> None:
        """Close the connection (checks only read; failures dbt stores are committed by `commit`)."""
        stack, adapter = self._stack, self._adapter
        self._stack = self._adapter = None
        if stack is not None:
            with contextlib.suppress(Exception):
                stack.close()
        if adapter is not None:
            with contextlib.suppress(Exception):
                adapter.cleanup_connections()
            # dbt-duckdb keeps the database open process-wide; let go of the file for other writers.
            close_all = getattr(type(adapter.connections), "close_all_connections", None)
            if callable(close_all):
                with contextlib.suppress(Exception):
                    close_all()

    def __enter__(self) -> DbtAdapterWarehouse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals --------------------------------------------------------------------------------------

    def _run(self, sql: str) -> QueryResult:
        from dbt.adapters.sql.connections import SQLConnectionManager

        connections = self._adapter.connections
        if isinstance(connections, SQLConnectionManager):
            # auto_begin: dbt then knows a transaction is open and rolls it back after an error, so the
            # next check's query does not land in an aborted transaction (PostgreSQL).
            _, cursor = connections.add_query(sql, auto_begin=True)
            columns = [str(d[0]) for d in (cursor.description or [])]
            rows = [tuple(r) for r in cursor.fetchall()] if cursor.description is not None else []
            return QueryResult(columns, rows)
        _, table = self._adapter.execute(sql, fetch=True)
        return QueryResult(list(table.column_names), [tuple(r.values()) for r in table.rows])

    def _alive(self) -> bool:
        try:
            self._run("SELECT 1")
        except Exception:
            return False
        return True

    def _unreachable(self, what: str, exc: BaseException) -> WarehouseError:
        return unreachable(what, self.label, self._message(exc), self.adapter_type)

    def _message(self, exc: BaseException) -> str:
        return redact(dbt_message(exc), self._secrets)


def unreachable(what: str, label: str, message: str, adapter_type: str) -> WarehouseError:
    """The error for a warehouse that cannot be reached: what failed, on which profile, the database's
    (redacted) message, and its triage category and action."""
    # The function from its module: the package attribute `classify` is that module once it is imported.
    from pipewatch.triage.classify import classify

    verdict = classify(message, adapter_type)
    return WarehouseError(f"{what} {label}: {message} [{verdict.category}: {verdict.action}]")


def _silence_client_logs(dialect: str, run: Any) -> None:
    """Quiet an in-process database client (Spark: pyspark's loggers and the JVM's log4j), whose logs
    would bury pipewatch's report under a stack trace per failed query. The errors still arrive as
    exceptions, which is how pipewatch reports them."""
    import logging
    import sys

    try:
        run("SELECT 1")  # dbt-spark's session starts the JVM on the first statement, not on connect
    except Exception:
        return  # the connection's real error surfaces on the first check, with its message
    make: Any = logging.getLogger
    if "pyspark" in sys.modules:
        # pyspark's own loggers must be of its class: it logs to them with keyword context.
        from pyspark.logger import PySparkLogger

        make = PySparkLogger.getLogger
        from pyspark import SparkContext

        context = SparkContext._active_spark_context
        if context is not None:
            context.setLogLevel("OFF")
    for name in noisy_loggers(dialect):
        make(name).setLevel(logging.CRITICAL + 1)


def dbt_message(exc: BaseException, one_line: bool = True) -> str:
    """A dbt exception's message without dbt's `Runtime Error` style headers (dbt-spark wraps twice), on
    one line, or (`one_line=False`) one line per line of the database's message."""
    text = str(getattr(exc, "msg", None) or exc)
    # A message that is nothing but a header still says something: keep it rather than the class name.
    body = unwrap(text).body or text
    if not one_line:
        lines = [" ".join(line.split()) for line in body.splitlines()]
        return "\n".join(line for line in lines if line) or type(exc).__name__
    return " ".join(body.split()) or type(exc).__name__


def redact(message: str, secrets: list[str]) -> str:
    """`message` with every secret value replaced by `***`."""
    for secret in sorted(secrets, key=len, reverse=True):
        message = message.replace(secret, "***")
    return message


def env_secrets() -> list[str]:
    """The values of the `DBT_ENV_SECRET_*` variables: dbt never prints them, nor does pipewatch."""
    return [v for k, v in os.environ.items() if k.startswith("DBT_ENV_SECRET") and len(v) >= 3]


def secrets_in(fields: Mapping[str, Any]) -> list[str]:
    """The `DBT_ENV_SECRET_*` values and the values of secret-looking credential fields (passwords,
    tokens, keys): what no message may show."""
    return env_secrets() + [
        v for k, v in fields.items() if SECRET_FIELD.search(k) and isinstance(v, str) and len(v) >= 3
    ]


def _secrets_of(credentials: Any) -> list[str]:
    if not dataclasses.is_dataclass(credentials):
        return env_secrets()
    return secrets_in({f.name: getattr(credentials, f.name, None) for f in dataclasses.fields(credentials)})


def load_dbt_config(
    project_dir: Path, profiles_dir: Path, target: str | None, profile: str | None, cli_vars: dict[str, Any]
) -> Any:
    """dbt's RuntimeConfig for the project (or, without a dbt_project.yml, for the named profile alone)."""
    has_project = check_profile_files(project_dir, profiles_dir, profile)
    _dbt_events_to_stderr()
    from dbt.config.profile import Profile
    from dbt.config.project import PartialProject
    from dbt.config.renderer import DbtProjectYamlRenderer, ProfileRenderer
    from dbt.config.runtime import RuntimeConfig
    from dbt.flags import set_from_args
    from dbt_common.context import set_invocation_context

    args = Namespace(
        project_dir=str(project_dir),
        profiles_dir=str(profiles_dir),
        target=target,
        profile=profile,
        threads=None,
        vars=cli_vars,
    )
    try:
        # dbt's `env_var()` reads the invocation context dbt's CLI sets up before anything renders.
        set_invocation_context(os.environ)
        # dbt's loaders read the global flags (PROFILES_DIR is also what profiles.yml's Jinja sees).
        set_from_args(args, None)
        if has_project:
            return RuntimeConfig.from_args(args)
        loaded = Profile.render(ProfileRenderer(cli_vars), None, profile, target, None)
        project = PartialProject.from_dicts(
            str(project_dir),
            {"name": "pipewatch", "version": "1.0", "config-version": 2, "profile": loaded.profile_name},
            {},
            None,
        ).render(DbtProjectYamlRenderer(loaded, cli_vars))
        return RuntimeConfig.from_parts(project, loaded, args)
    except ConfigError:
        raise
    except Exception as exc:  # dbt's DbtProfileError, DbtProjectError, validation errors, plugin errors
        where = profiles_dir / "profiles.yml"
        secrets = _raw_secrets(where) + env_secrets()
        raise ConfigError(f"{where}: {redact(dbt_message(exc), secrets)}") from None


def check_profile_files(project_dir: Path, profiles_dir: Path, profile: str | None) -> bool:
    """ConfigError unless there is a profiles.yml and a profile name (flag or dbt_project.yml); whether
    the project has a dbt_project.yml."""
    if not (profiles_dir / "profiles.yml").is_file():
        raise ConfigError(
            f"{profiles_dir / 'profiles.yml'}: no dbt profiles file"
            " (pass --profiles-dir, or --duckdb PATH to check a DuckDB file)"
        )
    has_project = (project_dir / "dbt_project.yml").is_file()
    if not has_project and profile is None:
        raise ConfigError(
            f"{project_dir}: no dbt_project.yml to name the profile; pass --profile NAME or --project-dir"
        )
    return has_project


def _dbt_events_to_stderr() -> None:
    """dbt logs its events to stdout at INFO by default; pipewatch's stdout is its report (JSON must
    stay parseable), so dbt's own warnings go to stderr and its chatter nowhere."""
    import sys

    from dbt_common.events.base_types import EventLevel
    from dbt_common.events.event_manager_client import add_logger_to_manager, cleanup_event_logger
    from dbt_common.events.functions import get_stdout_config
    from dbt_common.events.logger import LineFormat

    config = get_stdout_config(LineFormat.PlainText, False, EventLevel.WARN, False)
    cleanup_event_logger()
    add_logger_to_manager(dataclasses.replace(config, name="pipewatch_dbt", output_stream=sys.stderr))


def _raw_secrets(path: Path) -> list[str]:
    """Secret-looking values written in profiles.yml, to keep them out of a profile error's message."""
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return []
    out: list[str] = []

    def walk(value: Any, key: str = "") -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, str(k))
        elif isinstance(value, list):
            for v in value:
                walk(v, key)
        elif isinstance(value, str) and SECRET_FIELD.search(key) and len(value) >= 3:
            out.append(value)

    walk(data)
    return out


def relation_quote_policy(relation: Any, config: Any) -> dict[str, bool]:
    """How dbt quotes the relations it creates: the adapter `Relation` class's default policy with the
    project's `quoting:` (from dbt's RuntimeConfig `config`) over it, as `api.Relation.create` in dbt's
    materializations has it."""
    policy = relation.get_default_quote_policy().replace_dict(dict(getattr(config, "quoting", None) or {}))
    return {part: bool(getattr(policy, part)) for part in ("database", "schema", "identifier")}
