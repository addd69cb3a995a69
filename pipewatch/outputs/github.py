"""GitHub Actions outputs (`--github`): the Markdown step summary and `::error` annotations on the SQL files.

Workflow commands are lines on stdout that the runner parses; values are escaped as the runner's
own toolkit does (actions/toolkit `command.ts`; `escaping.gh_data`): in the message `%`, CR and LF are percent-encoded,
in properties (`file`, `title`) also `:` and `,`. Without that, a dbt message with a newline would end
the annotation early and a comma in a title would split it.
"""

# No `from __future__ import annotations` here: it would bind the name of `annotations()` below.
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from pipewatch.analysis import Outcome
from pipewatch.errors import PipewatchError
from pipewatch.outputs.escaping import gh_data, gh_property
from pipewatch.outputs.wording import first_line, human_age, short_id

#: GitHub refuses step summaries over 1 MiB; a longer one is cut with a note.
STEP_SUMMARY_LIMIT = 1024 * 1024
_MESSAGE_CHARS = 4000
_CUT_NOTE = "\n\n_…cut: the summary is longer than GitHub's 1 MiB limit; see the full report._\n"


def command(level: str, message: str, *, file: str | None = None, title: str | None = None) -> str:
    """One `::error` / `::warning` / `::notice` line."""
    props = [f"{k}={gh_property(v)}" for k, v in (("file", file), ("title", title)) if v]
    return f"::{level}{' ' + ','.join(props) if props else ''}::{gh_data(message)}"


def _repo_path(path: str | None, prefix: str) -> str | None:
    if not path:
        return None
    return (Path(prefix) / path).as_posix() if prefix else Path(path).as_posix()


def workspace_prefix(project_dir: Path | str | None, env: Mapping[str, str] | None = None) -> str:
    """The dbt project's folder relative to the checkout (`GITHUB_WORKSPACE`), so annotations find the files.

    Empty when the project is the checkout's root, or when either is unknown or they are unrelated.
    """
    env = os.environ if env is None else env
    workspace = env.get("GITHUB_WORKSPACE")
    if project_dir is None or not workspace:
        return ""
    try:
        relative = Path(project_dir).resolve().relative_to(Path(workspace).resolve())
    except ValueError:
        return ""
    return "" if str(relative) == "." else relative.as_posix()


def annotations(outcome: Outcome, *, path_prefix: str = "") -> list[str]:
    """Annotation lines: `::error` for each failed node (on its SQL or YAML file), failing check, stale source.

    GitHub shows at most 10 errors and 10 warnings per step, so failures come first, biggest impact first.
    """
    lines: list[str] = []
    ordered = sorted(outcome.failures, key=lambda f: (-len(f.skipped_downstream), f.unique_id))
    for f in ordered:
        c = f.classification
        title = f"{f.node.resource_type} {short_id(f.unique_id)} {f.status} ({c.category})"
        detail = (f.message or f.status).strip()
        if len(detail) > _MESSAGE_CHARS:
            detail = detail[: _MESSAGE_CHARS - 1] + "…"
        extra = []
        if f.escalate_to and c.action == "escalate":
            extra.append(f"escalate to {f.escalate_to}")
        if f.skipped_downstream:
            extra.append(f"skipped {len(f.skipped_downstream)} downstream")
        if f.exposures:
            extra.append(f"exposures hit: {', '.join(short_id(e) for e in f.exposures)}")
        if extra:
            detail += "\n\n" + "; ".join(extra)
        lines.append(command("error", detail, file=_repo_path(f.node.path, path_prefix), title=title))
    if outcome.quality is not None:
        failed = {f.unique_id for f in outcome.failures}
        for check in outcome.quality.checks:
            if check.status == "pass" or check.check_id in failed:
                continue
            level = "warning" if check.status == "warn" else "error"
            node = outcome.run.nodes.get(check.model) if check.model else None
            if check.status == "error":
                text = first_line(check.message, width=_MESSAGE_CHARS) or "check could not run"
            else:
                total = f" of {check.total_rows:,}" if check.total_rows is not None else ""
                text = (
                    f"{check.failing_rows:,}{total} {check.failing_unit} failing"
                    if check.failing_rows is not None
                    else check.status
                )
            lines.append(
                command(
                    level,
                    f"{check.relation}: {text}",
                    file=_repo_path(node.path if node else None, path_prefix),
                    title=f"quality check {check.name} {check.status}",
                )
            )
    for fresh in outcome.freshness:
        if fresh.status in ("pass", "success"):
            continue
        level = "warning" if fresh.status == "warn" else "error"
        node = outcome.run.nodes.get(fresh.unique_id)
        age = (
            f"last loaded {human_age(fresh.age_s)} ago"
            if fresh.age_s is not None
            else (fresh.message or fresh.status)
        )
        lines.append(
            command(
                level,
                f"source {short_id(fresh.unique_id)} is not fresh: {age}",
                file=_repo_path(node.path if node else None, path_prefix),
                title=f"source freshness {fresh.status}",
            )
        )
    return lines


def write_step_summary(markdown: str, *, env: Mapping[str, str] | None = None) -> Path | None:
    """Append Markdown to the job's step summary (`$GITHUB_STEP_SUMMARY`); None when not on GitHub Actions."""
    env = os.environ if env is None else env
    target = env.get("GITHUB_STEP_SUMMARY")
    if not target:
        return None
    data = markdown if markdown.endswith("\n") else markdown + "\n"
    encoded = data.encode("utf-8")
    if len(encoded) > STEP_SUMMARY_LIMIT:
        room = STEP_SUMMARY_LIMIT - len(_CUT_NOTE.encode("utf-8"))
        data = encoded[:room].decode("utf-8", "ignore") + _CUT_NOTE
    path = Path(target)
    try:
        with path.open("a", encoding="utf-8") as handle:
            handle.write(data)
    except OSError as exc:
        raise PipewatchError(f"{path}: cannot write the GitHub step summary: {exc.strerror or exc}") from None
    return path


@dataclass(slots=True)
class GitHubReport:
    """What `github_report` did: where the summary went (None off GitHub) and the annotations printed."""

    summary: Path | None
    annotations: list[str] = field(default_factory=list)


def github_report(
    outcome: Outcome,
    *,
    project_dir: Path | str | None = None,
    env: Mapping[str, str] | None = None,
    stream: TextIO | None = None,
    markdown: str | None = None,
) -> GitHubReport:
    """`--github` in one call: the Markdown summary to `$GITHUB_STEP_SUMMARY`, annotations to stdout."""
    if markdown is None:
        from pipewatch.outputs.markdown import render_markdown

        markdown = render_markdown(outcome)
    summary = write_step_summary(markdown, env=env)
    lines = annotations(outcome, path_prefix=workspace_prefix(project_dir, env))
    out = stream or sys.stdout
    for line in lines:
        out.write(line + "\n")
    out.flush()
    return GitHubReport(summary, lines)
