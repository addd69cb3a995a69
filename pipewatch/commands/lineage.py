"""`pipewatch lineage NODE[.COLUMN]`: a node's upstream and downstream with each node's last-run status,
or one column's upstream and downstream columns, parsed from the compiled SQL."""

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
    NODE.COLUMN (`orders.amount`) prints the columns that column is computed from and the columns
    downstream that read it, from the compiled SQL (sqlglot column lineage).
    """
    from pipewatch.analysis import node_lineage, split_column_spec
    from pipewatch.outputs.lineage_view import render_lineage

    if "." in node:
        from pipewatch.artifacts import load_run
        from pipewatch.config import load_config, resolve_target_dir
        from pipewatch.lineage import Graph

        config = load_config(project_dir)
        target = resolve_target_dir(project_dir, target_path, config.target_path)
        run = load_run(target)
        graph = Graph.from_run(run)
        unique_id, column = split_column_spec(graph, node)
        if column is None:
            from pipewatch.lineage import upstream_downstream

            write_output(render_lineage(upstream_downstream(graph, unique_id, depth, run), fmt), None)
            return
        from pipewatch.analysis import column_lineage
        from pipewatch.outputs.lineage_view import render_column_lineage

        view = column_lineage(target, run, graph, unique_id, column, config.history_file())
        write_output(render_column_lineage(view, fmt, depth), None)
        return
    write_output(render_lineage(node_lineage(project_dir, node, depth, target_path=target_path), fmt), None)
