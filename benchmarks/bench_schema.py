"""Schema changes on a 10,000-model project: what snapshots, diff and column lineage add to after-run
(issue 15), whole processes.

The synthetic project of synthetic_project.py gets compiled SQL for every model and test (its refs
resolved as dbt would) and a catalog.json of two columns per model (`id`, `payload`). A history store
holds the previous build's snapshot; each timed process is `pipewatch after-run --format json` of the
next build, on a fresh copy of that store, with:

- no catalog.json (no snapshot: the after-run baseline);
- a catalog with the same columns (snapshot recorded, nothing to diff: sqlglot is not imported);
- a catalog where 5 models changed (a dropped, a retyped and an added column, a possible rename)
  among models whose downstream cone is small, as a change usually is;
- a catalog where a root model dropped `payload`, which every model below it reads: the worst case,
  every descendant's SQL is parsed.

The table shows median wall time, the time on top of the baseline, and the ratio to it; the target is
under 1 s on top for the typical change. Run from the repo root:
`.venv/bin/python benchmarks/bench_schema.py [--runs 5] [--models 10000]`.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from synthetic_project import synthetic_target

PIPEWATCH = str(Path(sys.executable).with_name("pipewatch"))
_REF = re.compile(r"\{\{\s*ref\('([^']+)'\)\s*\}\}")
_ISO = "%Y-%m-%dT%H:%M:%S.%fZ"


def _relation(node: dict[str, Any]) -> str:
    return f'"{node["database"]}"."{node["schema"]}"."{node["alias"]}"'


def compiled_sql(manifest: dict[str, Any]) -> dict[str, str]:
    """Each model's and test's SQL as dbt would compile it (refs resolved to quoted relations)."""
    nodes = manifest["nodes"]
    by_name = {n["name"]: n for n in nodes.values() if n["resource_type"] == "model"}
    out = {}
    for uid, node in nodes.items():
        if node["resource_type"] == "model":
            out[uid] = _REF.sub(lambda m: _relation(by_name[m.group(1)]), node["raw_code"])
        elif node["resource_type"] == "test" and node.get("attached_node"):
            parent = _relation(nodes[node["attached_node"]])
            column = node.get("column_name") or "id"
            if node["test_metadata"]["name"] == "unique":
                out[uid] = (
                    f"select {column} from {parent} where {column} is not null group by {column} having count(*) > 1"
                )
            else:
                out[uid] = f"select {column} from {parent} where {column} is null"
    return out


def catalog(
    manifest: dict[str, Any], generated_at: str, changes: dict[str, list[tuple[str, str]]]
) -> dict[str, Any]:
    """A catalog.json of every model: `id INTEGER, payload VARCHAR`, or the columns `changes` gives."""
    nodes = {}
    for uid, node in manifest["nodes"].items():
        if node["resource_type"] != "model":
            continue
        columns = changes.get(uid, [("id", "INTEGER"), ("payload", "VARCHAR")])
        nodes[uid] = {
            "unique_id": uid,
            "metadata": {
                "type": "BASE TABLE",
                "database": node["database"],
                "schema": node["schema"],
                "name": node["alias"],
            },
            "columns": {n: {"name": n, "type": t, "index": i} for i, (n, t) in enumerate(columns, start=1)},
            "stats": {},
        }
    return {
        "metadata": {
            "dbt_schema_version": "https://schemas.getdbt.com/dbt/catalog/v1.json",
            "generated_at": generated_at,
            "invocation_id": str(uuid.uuid4()),
        },
        "nodes": nodes,
        "sources": {},
        "errors": None,
    }


def _descendants(child_map: dict[str, list[str]], uid: str) -> int:
    seen: set[str] = set()
    stack = [uid]
    while stack:
        for child in child_map.get(stack.pop(), []):
            if child not in seen:
                seen.add(child)
                stack.append(child)
    return sum(1 for s in seen if s.startswith("model."))


def prepare(target: Path, work: Path) -> dict[str, Path]:
    """Target dirs of the previous build and of each contender's build, and the previous build's store."""
    manifest = json.loads((target / "manifest.json").read_bytes())
    results = json.loads((target / "run_results.json").read_bytes())
    code = compiled_sql(manifest)
    for result in results["results"]:
        result["compiled_code"] = code.get(result["unique_id"], "select 1")
    ended = datetime.strptime(results["metadata"]["generated_at"], _ISO)
    child_map = manifest["child_map"]
    models = sorted(u for u in manifest["nodes"] if u.startswith("model."))
    built = {r["unique_id"] for r in results["results"] if r["status"] == "success"}
    small = [u for u in models if u in built and 2 <= _descendants(child_map, u) <= 30][:5]
    typical = {
        small[0]: [("id", "INTEGER")],  # payload dropped
        small[1]: [("id", "VARCHAR"), ("payload", "VARCHAR")],  # id retyped
        small[2]: [("id", "INTEGER"), ("payload", "VARCHAR"), ("extra", "DATE")],  # added
        small[3]: [("id", "INTEGER"), ("body", "VARCHAR")],  # payload possibly renamed
        small[4]: [("id", "BIGINT"), ("payload", "VARCHAR")],  # retyped
    }
    root = next(u for u in models if u in built)
    worst = {root: [("id", "INTEGER")]}
    dirs = {}
    for name, shift, changes in (
        ("previous", 0, None),
        ("no catalog (baseline)", 1, None),
        ("catalog, no change", 1, {}),
        ("catalog, 5 changed columns", 1, typical),
        ("catalog, root column dropped", 1, worst),
    ):
        folder = work / re.sub(r"\W+", "_", name)
        folder.mkdir()
        os.link(target / "manifest.json", folder / "manifest.json")
        run = json.loads(json.dumps(results))
        run["metadata"]["invocation_id"] = str(uuid.uuid4())
        when = ended + timedelta(days=shift)
        run["metadata"]["generated_at"] = when.strftime(_ISO)
        (folder / "run_results.json").write_text(json.dumps(run), encoding="utf-8")
        if name == "previous" or changes is not None:
            document = catalog(manifest, (when + timedelta(minutes=1)).strftime(_ISO), changes or {})
            (folder / "catalog.json").write_text(json.dumps(document), encoding="utf-8")
        dirs[name] = folder
    cone = _descendants(child_map, models[0])
    print(
        f"typical: {len(typical)} models with 2-30 models below each; worst: {models[0]} with {cone} models below"
    )
    return dirs


def _run(argv: list[str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(argv[:3])} exited {done.returncode}: {done.stderr.strip()[:300]}")
    return elapsed


def main() -> int:
    """Build (or reuse) the project, prepare the builds and the store, run interleaved, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--models", type=int, default=10_000)
    args = parser.parse_args()
    target = synthetic_target(args.models)
    project = target.parent
    work = Path(tempfile.mkdtemp(prefix="pipewatch-bench-schema-"))
    try:
        dirs = prepare(target, work)
        base = [PIPEWATCH, "after-run", "--project-dir", str(project), "--no-rules", "--format", "json"]
        seed = work / "seed.duckdb"
        _run(
            [
                *base,
                "--target-path",
                str(dirs.pop("previous")),
                "--history",
                str(seed),
                "--output",
                str(work / "o.json"),
            ]
        )
        times: dict[str, list[float]] = {name: [] for name in dirs}
        for _ in range(args.runs):
            for name, folder in dirs.items():
                store = work / "store.duckdb"
                shutil.copyfile(seed, store)
                argv = [
                    *base,
                    "--target-path",
                    str(folder),
                    "--history",
                    str(store),
                    "--output",
                    str(work / "o.json"),
                ]
                times[name].append(_run(argv))
                if name != "no catalog (baseline)":
                    count = len(json.loads((work / "o.json").read_bytes())["schema_changes"])
                    times.setdefault(f"{name}#changes", []).append(count)
        floor = statistics.median(times["no catalog (baseline)"])
        print(
            f"{args.models} models; median of {args.runs} whole `after-run --format json` processes with history"
        )
        print(
            f"{'contender':32} {'median s':>9} {'on top s':>9} {'ratio':>7} {'changes':>8}  target (< 1 s on top)"
        )
        for name in dirs:
            median = statistics.median(times[name])
            changes = times.get(f"{name}#changes", [0])[0]
            verdict = "" if name.startswith("no catalog") else ("met" if median - floor < 1.0 else "NOT met")
            print(
                f"{name:32} {median:9.3f} {median - floor:9.3f} {median / floor:6.2f}x {int(changes):8d}  {verdict}"
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
