"""`pipewatch lineage NODE`: one node's upstream and downstream with each node's last-run status."""

from __future__ import annotations

from pathlib import Path

import click

from pipewatch.commands.common import project_dir_option, target_path_option, write_output


@click.command("lineage")
@click.argument("node")
@project_dir_option
@target_path_option
@click.option("--depth", type=click.IntRange(min=1), default=None, help="Levels up and down (default: all).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def lineage_command(
    node: str, project_dir: Path, target_path: str | None, depth: int | None, fmt: str
) -> None:
    """Print NODE's upstream and downstream with each node's status in the last run.

    NODE is a unique id (`model.shop.orders`) or a bare name (`orders`) when that name is unambiguous.
    """
    from pipewatch.analysis import node_lineage
    from pipewatch.outputs.lineage_view import render_lineage

    write_output(render_lineage(node_lineage(project_dir, node, depth, target_path=target_path), fmt), None)
