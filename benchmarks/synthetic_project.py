"""Generate a synthetic dbt project of N models and 2N tests, parse it once with real dbt, and cache it.

Shared by the benchmarks: the manifest comes from a real `dbt parse` (so it has dbt's real shape and size),
the run_results are synthesized for it (a `dbt build` of 10,000 models would take an hour here) with
planted errors, their skipped descendants and realistic per-thread timings.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

CACHE_ROOT = Path(os.environ.get("PIPEWATCH_BENCH_CACHE", Path(tempfile.gettempdir()) / "pipewatch-bench"))


def _dbt() -> str:
    """The dbt executable next to this interpreter (the project's venv), else the one on PATH."""
    candidate = Path(sys.executable).with_name("dbt")
    return str(candidate) if candidate.exists() else "dbt"


def write_project(root: Path, models: int, seed: int = 7) -> None:
    """Write a dbt project of `models` models (a random DAG, 1-3 parents each) with 2 tests per model."""
    rng = random.Random(seed)
    (root / "models").mkdir(parents=True, exist_ok=True)
    (root / "dbt_project.yml").write_text(
        "name: synth\nversion: '1.0'\nconfig-version: 2\nprofile: synth\n"
        "models:\n  synth:\n    +materialized: table\n",
        encoding="utf-8",
    )
    (root / "profiles.yml").write_text(
        "synth:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n      path: ':memory:'\n      threads: 4\n",
        encoding="utf-8",
    )
    owners = ["analytics@synth.example", "finance@synth.example", "growth@synth.example", None]
    schema_lines = ["version: 2", "models:"]
    for i in range(models):
        name = f"m_{i:05d}"
        folder = root / "models" / f"layer_{i // 1000:02d}"
        folder.mkdir(exist_ok=True)
        if i < 20:
            body = f"select {i} as id, 'x' as payload"
        else:
            # Mostly recent parents, so the DAG is deep like a real warehouse's, not a flat fan-in.
            k = rng.randint(1, 3)
            parents = sorted({rng.randint(max(0, i - 200), i - 1) for _ in range(k)})
            refs = [f"select id, payload from {{{{ ref('m_{p:05d}') }}}}" for p in parents]
            body = "\nunion all\n".join(refs)
        (folder / f"{name}.sql").write_text(body + "\n", encoding="utf-8")
        owner = owners[i % len(owners)]
        schema_lines.append(f"  - name: {name}")
        if owner:
            schema_lines.append(f"    config:\n      meta:\n        owner: {owner}")
        schema_lines.append("    columns:\n      - name: id\n        data_tests: [not_null, unique]")
    (root / "models" / "schema.yml").write_text("\n".join(schema_lines) + "\n", encoding="utf-8")


def synth_run_results(
    manifest: dict[str, object], seed: int = 11, error_rate: float = 0.002
) -> dict[str, object]:
    """run_results (schema v6) for a `dbt build` of the manifest: errors, skipped descendants, 4 threads."""
    rng = random.Random(seed)
    nodes: dict[str, dict[str, object]] = manifest["nodes"]  # type: ignore[assignment]
    child_map: dict[str, list[str]] = manifest["child_map"]  # type: ignore[assignment]
    order = sorted(nodes, key=lambda uid: (0 if uid.startswith("model.") else 1, uid))
    failed: set[str] = set()
    skipped: set[str] = set()
    for uid in order:
        if uid in skipped:
            continue
        if uid.startswith("model.") and rng.random() < error_rate:
            failed.add(uid)
            stack = list(child_map.get(uid, []))
            while stack:
                child = stack.pop()
                if child not in skipped:
                    skipped.add(child)
                    stack.extend(child_map.get(child, []))
    clock = datetime(2026, 11, 1, 3, 0, tzinfo=timezone.utc)
    threads = [clock] * 4
    results = []
    for uid in order:
        t = min(range(4), key=lambda k: threads[k])
        duration = 0.0 if uid in skipped else rng.lognormvariate(-1.0, 0.8)
        start = threads[t]
        end = start + timedelta(seconds=duration)
        threads[t] = end
        if uid in failed:
            status, message = "error", f"Runtime Error in model {uid.split('.')[-1]}: Conversion Error"
        elif uid in skipped:
            status, message = "skipped", None
        else:
            status = "pass" if uid.startswith("test.") else "success"
            message = None if uid.startswith("test.") else "OK"
        iso = "%Y-%m-%dT%H:%M:%S.%fZ"
        results.append(
            {
                "status": status,
                "timing": []
                if status == "skipped"
                else [
                    {
                        "name": "compile",
                        "started_at": start.strftime(iso),
                        "completed_at": start.strftime(iso),
                    },
                    {"name": "execute", "started_at": start.strftime(iso), "completed_at": end.strftime(iso)},
                ],
                "thread_id": f"Thread-{t + 1}",
                "execution_time": duration,
                "adapter_response": {} if status == "skipped" else {"_message": "OK", "rows_affected": 100},
                "message": message,
                "failures": 0 if uid.startswith("test.") and status == "pass" else None,
                "unique_id": uid,
                "compiled": True,
                "compiled_code": "select 1",
                "relation_name": None,
                "batch_results": None,
            }
        )
    meta = manifest["metadata"]
    return {
        "metadata": {
            "dbt_schema_version": "https://schemas.getdbt.com/dbt/run-results/v6.json",
            "dbt_version": meta["dbt_version"],  # type: ignore[index]
            "generated_at": max(threads).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "invocation_id": meta["invocation_id"],  # type: ignore[index]
            "invocation_started_at": clock.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "env": {},
        },
        "results": results,
        "elapsed_time": (max(threads) - clock).total_seconds(),
        "args": {"which": "build", "select": [], "target": "dev"},
    }


def synthetic_target(models: int = 10_000) -> Path:
    """The target dir of a parsed synthetic project of `models` models (built once, then cached)."""
    root = CACHE_ROOT / f"synth_{models}"
    target = root / "target"
    if (target / "manifest.json").exists() and (target / "run_results.json").exists():
        return target
    if root.exists():
        shutil.rmtree(root)
    write_project(root, models)
    env = dict(os.environ, DBT_SEND_ANONYMOUS_USAGE_STATS="false", DO_NOT_TRACK="1")
    print(
        f"parsing a {models}-model synthetic project with dbt (once; cached in {root}) ...", file=sys.stderr
    )
    subprocess.run(
        [_dbt(), "--quiet", "parse", "--project-dir", str(root), "--profiles-dir", str(root)],
        check=True,
        env=env,
    )
    manifest = json.loads((target / "manifest.json").read_bytes())
    if not manifest["metadata"].get("invocation_id"):
        manifest["metadata"]["invocation_id"] = str(uuid.uuid4())
    (target / "run_results.json").write_text(json.dumps(synth_run_results(manifest)), encoding="utf-8")
    return target


if __name__ == "__main__":
    print(synthetic_target(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000))
