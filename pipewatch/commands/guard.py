"""Refuse an output path that is one of the command's inputs, before anything is written.

`--output warehouse.duckdb` or `--report target/manifest.json` would otherwise replace the file the
command reads (the atomic writer happily renames over it). The inputs are worked out from the
command's own parameters, so every command that writes files gets the same protection.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from pipewatch.errors import UsageError

#: The parameters through which commands write files, and their flags.
OUTPUT_PARAMS = {"output": "--output", "report": "--report", "prometheus": "--prometheus"}
_ARTIFACTS = ("manifest.json", "run_results.json", "sources.json")
_RULE_SUFFIXES = (".yml", ".yaml")


def refuse_outputs_over_inputs(params: Mapping[str, Any]) -> None:
    """Raise UsageError when an output parameter resolves to a file the command reads.

    `params` are the command's parameters (`click.get_current_context().params`).
    """
    outputs = [(flag, Path(params[name])) for name, flag in OUTPUT_PARAMS.items() if params.get(name)]
    if not outputs:
        return
    inputs = list(_inputs(params))
    for flag, output in outputs:
        for what, path in inputs:
            if _same_file(output, path):
                raise UsageError(f"{flag} {output} is {what} {path}; writing there would overwrite it")


def _inputs(params: Mapping[str, Any]) -> Iterator[tuple[str, Path]]:
    """(what, path) of every file the command may read, as far as its parameters tell."""
    from pipewatch.config import load_config, resolve_target_dir, rules_location

    project_dir = Path(params.get("project_dir") or ".")
    config = load_config(project_dir)
    if config.source is not None:
        yield "the config file", config.source
    yield "the dbt project file", project_dir / "dbt_project.yml"
    target = resolve_target_dir(project_dir, params.get("target_path"), config.target_path)
    for name in _ARTIFACTS:
        yield "a dbt artifact", target / name
    if not params.get("no_history"):
        history = params.get("history_path") or config.history_file()
        if history is not None:
            yield "the history store", Path(history)
    if params.get("duckdb_path"):
        yield "the warehouse", Path(params["duckdb_path"])
    if params.get("profiles_dir"):
        yield "the dbt profiles file", Path(params["profiles_dir"]) / "profiles.yml"
    rules = rules_location(config, params.get("rules_path"))
    if rules is not None and rules.is_dir():
        for path in sorted(rules.rglob("*")):
            if path.suffix in _RULE_SUFFIXES:
                yield "a rule file", path
    elif rules is not None:
        yield "a rule file", rules


def _same_file(output: Path, path: Path) -> bool:
    """Whether writing `output` would replace `path`: the same file, or the same place if none exists yet."""
    try:
        return os.path.samefile(output, path)
    except OSError:
        pass  # one of them does not exist (yet): compare where they would be
    try:
        return output.resolve() == path.resolve()
    except (OSError, RuntimeError):
        return False
