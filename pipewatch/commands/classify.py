"""`pipewatch classify`: triage error messages the way after-run triages failed nodes."""

from __future__ import annotations

import json
import sys

import click

from pipewatch.errors import UsageError


@click.command("classify")
@click.argument("message", required=False)
@click.option(
    "--adapter", default=None, help="The dbt adapter that produced the message (duckdb, postgres, ...)."
)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def classify_command(message: str | None, adapter: str | None, fmt: str) -> None:
    """Classify an error MESSAGE (or one message per line on stdin) the way after-run triages failures."""
    from pipewatch.triage import classify, known_adapters

    if adapter is not None and adapter.lower() not in known_adapters():
        raise UsageError(f"unknown --adapter {adapter!r}; known: {', '.join(known_adapters())}")
    if message is not None:
        messages = [message]
    else:
        # Binary garbage on stdin is still classified (as unknown), never a decode traceback.
        raw = sys.stdin.buffer.read()
        messages = [line for line in raw.decode("utf-8", errors="replace").splitlines() if line.strip()]
    for text in messages:
        verdict = classify(text, adapter)
        if fmt == "json":
            click.echo(json.dumps({"message": text[:500], **verdict.to_dict()}))
        else:
            target = (
                f" to {verdict.escalate_to}" if verdict.escalate_to and verdict.action == "escalate" else ""
            )
            click.echo(f"{verdict.category}\t{verdict.action}{target}\t{verdict.evidence}")
