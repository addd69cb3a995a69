"""The command registry of `pipewatch.cli` (commands imported only when used, issue 12): what
`pipewatch --help` lists from `COMMANDS` is what each command says of itself."""

from __future__ import annotations

import click
from click.testing import CliRunner

from pipewatch.cli import COMMANDS, main


def test_registry_help_lines_are_the_commands_own() -> None:
    ctx = click.Context(main)
    for name, (_, _, line) in COMMANDS.items():
        command = main.get_command(ctx, name)
        assert command is not None, name
        assert command.name == name
        own = " ".join((command.help or "").split("\n\n")[0].split())
        assert own == line, f"COMMANDS[{name!r}] says {line!r}; the command says {own!r}"


def test_help_lists_every_command() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    listed = [line.split()[0] for line in result.output.split("Commands:")[1].splitlines() if line.strip()]
    assert listed == sorted(COMMANDS)


def test_an_unknown_command_is_a_usage_error() -> None:
    result = CliRunner().invoke(main, ["afterrun"])
    assert result.exit_code == 2
