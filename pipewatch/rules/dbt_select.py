"""`--select`/`--exclude` for `pipewatch check --dbt-tests`, resolved by dbt's own selector code.

dbt's `dbt test` builds the project graph from its manifest, parses the selection with
`dbt.graph.cli.parse_difference` and resolves it with a `ResourceTypeSelector` over test and unit test nodes (direct
and indirect selection, graph operators, `tag:`, `path:`, `package:`, `test_type:`...). pipewatch does
the same on the manifest dbt wrote, so the tests it runs are the ones `dbt test --select` runs, node for
node. Only `state:` and `result:` selectors need a previous run's artifacts; they are refused.
"""

from __future__ import annotations

import contextlib
import json
import os
from argparse import Namespace
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from pipewatch.errors import ConfigError, UsageError


def selected_tests(
    manifest_path: Path, project_dir: Path, select: Sequence[str], exclude: Sequence[str]
) -> set[str]:
    """The unique ids of the tests (data tests and unit tests) `dbt test --select ... --exclude ...` would
    run on this manifest."""
    refuse_unsupported(select, exclude)
    from dbt.artifacts.resources.types import NodeType
    from dbt.artifacts.schemas.manifest import WritableManifest
    from dbt.compilation import Linker
    from dbt.contracts.graph.manifest import Manifest
    from dbt.flags import set_from_args
    from dbt.graph.cli import parse_difference
    from dbt.graph.graph import Graph
    from dbt.graph.selector import ResourceTypeSelector
    from dbt_common.context import set_invocation_context

    set_invocation_context(os.environ)
    args = Namespace(project_dir=str(project_dir), indirect_selection="eager", select=select, exclude=exclude)
    set_from_args(args, None)
    try:
        writable = WritableManifest.read_and_check_versions(str(manifest_path))
        manifest = Manifest.from_writable_manifest(writable)
        _generic_tests_as_generic(manifest, manifest_path)
    except Exception as exc:  # dbt's IncompatibleSchemaError and its validation errors
        raise ConfigError(f"{manifest_path}: dbt cannot read this manifest for --select: {exc}") from None
    linker = Linker()
    linker.link_graph(manifest)
    selector = ResourceTypeSelector(
        graph=Graph(linker.graph),
        manifest=manifest,
        previous_state=None,
        resource_types=[NodeType.Test, NodeType.Unit],
    )
    try:
        spec = parse_difference(list(select) or None, list(exclude) or None)
        # dbt resolves `path:` selectors against the working directory, which is the project's for dbt.
        with _cwd(project_dir):
            chosen: Any = selector.get_selected(spec, warn_on_no_nodes=False)
    except Exception as exc:  # dbt's DbtRuntimeError for an unknown method or a bad selector
        raise UsageError(f"--select/--exclude: {' '.join(str(exc).split())}") from None
    return {str(uid) for uid in chosen}


def _generic_tests_as_generic(manifest: Any, manifest_path: Path) -> None:
    """dbt reads every test of a manifest.json back as a singular test (its node union decodes to the
    first class that fits), which `test_type:` then misjudges: rebuild the generic ones as dbt's parser
    made them, from their entries that carry `test_metadata`."""
    from dbt.contracts.graph.nodes import GenericTestNode

    raw = json.loads(manifest_path.read_bytes()).get("nodes") or {}
    for uid, entry in raw.items():
        if entry.get("resource_type") == "test" and entry.get("test_metadata") and uid in manifest.nodes:
            manifest.nodes[uid] = GenericTestNode.from_dict(entry)


def refuse_unsupported(select: Sequence[str], exclude: Sequence[str]) -> None:
    """UsageError for selectors that need a previous run's artifacts (`state:`, `result:`)."""
    for word in (*select, *exclude):
        for part in word.split():
            if any(
                piece.lstrip("+@0123456789").startswith(("state:", "result:")) for piece in part.split(",")
            ):
                raise UsageError(
                    f"--select/--exclude `{part}`: state: and result: selectors are not supported"
                )


@contextlib.contextmanager
def _cwd(path: Path) -> Iterator[None]:
    before = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)
