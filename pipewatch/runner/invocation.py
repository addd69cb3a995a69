"""A dbt command line taken apart, and where that command will run and write.

`DbtInvocation.parse(argv)` tells dbt's global options, subcommand and options apart, so the runner can
rebuild the command as `dbt retry` or `dbt <command> --select <nodes>`. `resolve_project_dir` and
`resolve_target_dir` find the project and its target dir as dbt itself would.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from pipewatch.errors import UsageError

# dbt options that take a value (`--opt value` or `--opt=value`); the others are flags. Needed to tell a
# value from the subcommand (`dbt --log-level debug build`) and to rebuild commands.
_VALUE_OPTIONS = frozenset(
    {
        "--select", "-s", "--models", "--model", "-m", "--exclude", "--selector", "--resource-type",
        "--resource-types", "--exclude-resource-type", "--exclude-resource-types", "--project-dir",
        "--profiles-dir", "--profile", "--target", "-t", "--vars", "--target-path", "--log-path",
        "--threads", "--state", "--defer-state", "--log-level", "--log-level-file", "--log-format",
        "--log-format-file", "--printer-width", "--record-timing-info", "-r", "--warn-error-options",
        "--indirect-selection", "--event-time-start", "--event-time-end", "--output", "-o",
        "--output-keys", "--args", "--sample", "--output-path", "--favor-state-path", "--inline",
        "--limit", "--macro", "--log-file-max-bytes",
    }
)  # fmt: skip
#: Options whose values may be several words (`--select a b c`).
_MULTI_VALUE = frozenset(
    {"--select", "-s", "--models", "--model", "-m", "--exclude", "--resource-type", "--resource-types",
     "--exclude-resource-type", "--exclude-resource-types", "--output-keys"}
)  # fmt: skip
#: Node selection, replaced by the failed nodes when rerunning with `--select`.
_SELECTION = frozenset(
    {"--select", "-s", "--models", "--model", "-m", "--exclude", "--selector", "--resource-type",
     "--resource-types", "--exclude-resource-type", "--exclude-resource-types", "--inline"}
)  # fmt: skip
#: What `dbt retry` must be told again: it takes these from its own command line, not from the previous
#: run (dbt-core task/retry.py IGNORE_PARENT_FLAGS, ALLOW_CLI_OVERRIDE_FLAGS), and the project config is
#: rendered before the previous run's vars are read. Never `--state`: retry would read run_results there.
_RETRY_PASSTHROUGH = frozenset(
    {"--project-dir", "--profiles-dir", "--profile", "--target", "-t", "--vars", "--target-path",
     "--log-path", "--threads"}
)  # fmt: skip
#: Subcommands of two words.
_GROUPS = frozenset({"docs", "source"})


@dataclass(frozen=True, slots=True)
class DbtInvocation:
    """A dbt command line taken apart: executable, options before the subcommand, subcommand, the rest."""

    executable: str
    global_args: tuple[str, ...]  # between the executable and the subcommand (`--no-use-colors`)
    command: tuple[str, ...]  # `("build",)`, `("docs", "generate")`; () when there is none
    options: tuple[str, ...]  # everything after the subcommand

    @classmethod
    def parse(cls, argv: Sequence[str]) -> DbtInvocation:
        """Split a dbt argv; UsageError when it is empty or its program is not dbt."""
        args = [str(a) for a in argv]
        if not args:
            raise UsageError("no dbt command given: put it after `--`, e.g. `pipewatch run -- dbt build`")
        program = Path(args[0]).name.lower().removesuffix(".exe")
        if not program.endswith("dbt"):
            raise UsageError(f"{args[0]!r} is not dbt: the command after `--` must start with dbt")
        i = 1
        while i < len(args) and args[i].startswith("-"):
            i += 2 if args[i] in _VALUE_OPTIONS else 1
        global_args = tuple(args[1 : min(i, len(args))])
        command: list[str] = []
        if i < len(args):
            command.append(args[i])
            i += 1
            if command[0] in _GROUPS and i < len(args) and not args[i].startswith("-"):
                command.append(args[i])
                i += 1
        return cls(args[0], global_args, tuple(command), tuple(args[i:]))

    @property
    def argv(self) -> list[str]:
        """The command line again."""
        return [self.executable, *self.global_args, *self.command, *self.options]

    @property
    def which(self) -> str | None:
        """The subcommand as run_results names it (`build`, `generate`, `run-operation`), None if absent."""
        return self.command[-1] if self.command else None

    def option(self, *names: str) -> str | None:
        """The value of the last of the options `names` (global or after the subcommand), None if absent."""
        found: str | None = None
        for args in (self.global_args, self.options):
            for name, values in _options(args):
                if name in names and values:
                    found = values[0]
        return found

    def retry_argv(self) -> list[str]:
        """`dbt retry` with the options it needs repeated (project, profiles, target, vars, paths)."""
        kept = [token for name, _, tokens in _option_spans(self.options) if name in _RETRY_PASSTHROUGH
                for token in tokens]  # fmt: skip
        return [self.executable, *self.global_args, "retry", *kept]

    def select_argv(self, selectors: Sequence[str]) -> list[str]:
        """The same command restricted to `selectors` (its own selection options replaced)."""
        kept = [token for name, _, tokens in _option_spans(self.options) if name not in _SELECTION
                for token in tokens]  # fmt: skip
        command = list(self.command) or ["build"]
        return [self.executable, *self.global_args, *command, "--select", *selectors, *kept]


def _option_spans(args: Sequence[str]) -> list[tuple[str | None, tuple[str, ...], tuple[str, ...]]]:
    """`args` cut into (option name or None for a positional, its values, its tokens)."""
    spans: list[tuple[str | None, tuple[str, ...], tuple[str, ...]]] = []
    i = 0
    while i < len(args):
        token = args[i]
        if not token.startswith("-") or token == "-":
            spans.append((None, (token,), (token,)))
            i += 1
            continue
        name, eq, inline = token.partition("=")
        if eq:
            spans.append((name, (inline,), (token,)))
            i += 1
            continue
        j = i + 1
        if name in _VALUE_OPTIONS:
            j = min(i + 2, len(args))
            if name in _MULTI_VALUE:
                while j < len(args) and not args[j].startswith("-"):
                    j += 1
        spans.append((name, tuple(args[i + 1 : j]), tuple(args[i:j])))
        i = j
    return spans


def _options(args: Sequence[str]) -> list[tuple[str, tuple[str, ...]]]:
    return [(name, values) for name, values, _ in _option_spans(args) if name is not None]


def resolve_project_dir(invocation: DbtInvocation, workdir: Path, env: Mapping[str, str]) -> Path:
    """The dbt project dir as dbt finds it: --project-dir, DBT_PROJECT_DIR, else the working dir or the
    nearest parent holding a dbt_project.yml (else the working dir itself)."""
    chosen = invocation.option("--project-dir") or env.get("DBT_PROJECT_DIR")
    if chosen:
        path = Path(chosen).expanduser()
        return path if path.is_absolute() else workdir / path
    for candidate in (workdir, *workdir.resolve().parents):
        if (candidate / "dbt_project.yml").is_file():
            return candidate
    return workdir
