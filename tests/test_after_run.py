"""End to end: real `dbt build` of the example project, then `pipewatch after-run`, checked against the
truth read independently (plain json) from the artifacts dbt wrote."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import BuiltProject, run_pipewatch

pytestmark = pytest.mark.dbt

FAILED = {"error", "fail"}


def _status(raw: str) -> str:
    status = raw.lower()
    return "error" if status == "runtime error" else status


def _descendants(child_map: dict[str, list[str]], start: str) -> set[str]:
    seen: set[str] = set()
    stack = list(child_map.get(start, []))
    while stack:
        uid = stack.pop()
        if uid not in seen:
            seen.add(uid)
            stack.extend(child_map.get(uid, []))
    return seen


def _ancestors(parent_map: dict[str, list[str]], start: str) -> set[str]:
    return _descendants(parent_map, start)


@pytest.fixture(scope="module")
def outcome(faulty_build: BuiltProject) -> dict[str, Any]:
    done = run_pipewatch("after-run", "--project-dir", str(faulty_build.project_dir), "--format", "json")
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    data: dict[str, Any] = json.loads(done.stdout)
    return data


def test_contract_keys(outcome: dict[str, Any]) -> None:
    assert list(outcome) == [
        "pipewatch_version",
        "invocation",
        "summary",
        "failures",
        "skipped",
        "critical_path",
        "bottlenecks",
        "quality",
        "anomalies",
        "gate",
        "schema_changes",
    ]
    assert {"invocation_id", "dbt_version", "command", "generated_at", "elapsed_s"} <= set(
        outcome["invocation"]
    )
    for failure in outcome["failures"]:
        assert {
            "unique_id", "resource_type", "status", "message", "category", "action", "evidence", "owner",
            "downstream", "skipped_downstream", "exposures", "schema_changes",
        } <= set(failure)  # fmt: skip
        assert failure["action"] in ("retry", "escalate", "none")
    assert outcome["gate"]["passed"] is False and outcome["gate"]["reasons"]


def test_statuses_match_run_results(faulty_build: BuiltProject, outcome: dict[str, Any]) -> None:
    raw = faulty_build.artifact("run_results.json")
    truth = Counter(_status(r["status"]) for r in raw["results"])
    assert outcome["summary"]["by_status"] == dict(truth)
    assert outcome["summary"]["total"] == len(raw["results"])
    assert outcome["invocation"]["invocation_id"] == raw["metadata"]["invocation_id"]
    assert outcome["invocation"]["command"] == "build"
    # The example project plants every kind of outcome a dbt user meets.
    assert {"error", "fail", "warn", "skipped", "success", "pass"} <= set(truth)


def test_failures_and_their_downstream(faulty_build: BuiltProject, outcome: dict[str, Any]) -> None:
    results = {
        r["unique_id"]: _status(r["status"]) for r in faulty_build.artifact("run_results.json")["results"]
    }
    manifest = faulty_build.artifact("manifest.json")
    child_map, parent_map = manifest["child_map"], manifest["parent_map"]
    failed = {uid for uid, status in results.items() if status in FAILED}
    assert {f["unique_id"] for f in outcome["failures"]} == failed
    skipped = {uid for uid, status in results.items() if status == "skipped"}
    explained: set[str] = set()
    for failure in outcome["failures"]:
        uid = failure["unique_id"]
        down = _descendants(child_map, uid)
        if failure["resource_type"] == "test":
            # dbt build skips the children of a model whose error-severity test failed.
            for tested in parent_map[uid]:
                down |= {d for d in _descendants(child_map, tested) if d != uid}
        assert set(failure["downstream"]) <= down | {uid}
        assert set(failure["downstream"]) >= _descendants(child_map, uid)
        assert set(failure["skipped_downstream"]) <= skipped & set(failure["downstream"])
        assert failure["exposures"] == sorted(d for d in failure["downstream"] if d.startswith("exposure."))
        explained |= set(failure["skipped_downstream"])
        category = "quality" if failure["resource_type"] == "test" else failure["category"]
        assert failure["category"] == category
    assert explained == skipped, "every skip of the planted faults is explained by a failure"
    for skip in outcome["skipped"]:
        assert skip["root_causes"], skip
        ancestors = _ancestors(parent_map, skip["unique_id"])
        for cause in skip["root_causes"]:
            assert results[cause] in FAILED
            tested = set(parent_map.get(cause, [])) if cause.startswith("test.") else set()
            assert cause in ancestors or tested & ancestors, (skip, cause)


def test_exposure_and_owner_reported(outcome: dict[str, Any]) -> None:
    errored = [f for f in outcome["failures"] if f["status"] == "error"]
    assert errored and all(f["owner"] for f in errored)
    assert any(f["exposures"] for f in outcome["failures"]), "a planted failure reaches the dashboard"
    assert any(f["category"] == "data" for f in errored), "the planted cast failure is a data error"


def test_critical_path_is_a_real_chain(faulty_build: BuiltProject, outcome: dict[str, Any]) -> None:
    manifest = faulty_build.artifact("manifest.json")
    times = {
        r["unique_id"]: r["execution_time"] for r in faulty_build.artifact("run_results.json")["results"]
    }
    path = outcome["critical_path"]
    assert path["nodes"], "a build has a critical path"
    assert path["total_s"] == pytest.approx(sum(times[n] for n in path["nodes"]), rel=1e-6, abs=1e-6)
    assert path["total_s"] >= max(times.values()) - 1e-9
    parent_map = manifest["parent_map"]
    for upstream, downstream in zip(path["nodes"], path["nodes"][1:], strict=False):
        ancestors = _ancestors(parent_map, downstream)
        # In `dbt build` a model's tests gate its children, so a test may precede its model's child.
        gated = upstream.startswith("test.") and set(parent_map[upstream]) & (ancestors | {downstream})
        assert upstream in ancestors or gated, (upstream, downstream)


def test_text_view_names_the_failures(faulty_build: BuiltProject, outcome: dict[str, Any]) -> None:
    done = run_pipewatch("after-run", "--project-dir", str(faulty_build.project_dir))
    assert done.returncode == 1
    for failure in outcome["failures"]:
        assert failure["unique_id"] in done.stdout
    assert "CRITICAL PATH" in done.stdout and "GATE failed" in done.stdout


def test_markdown_and_output_file(faulty_build: BuiltProject, tmp_path: Path) -> None:
    out = tmp_path / "nested" / "summary.md"
    done = run_pipewatch(
        "after-run",
        "--project-dir",
        str(faulty_build.project_dir),
        "--format",
        "markdown",
        "--output",
        str(out),
    )
    assert done.returncode == 1 and done.stdout == ""
    text = out.read_text(encoding="utf-8")
    assert text.startswith("## ❌ pipewatch") and "### Failures" in text


def test_clean_run_passes_the_gate(clean_build: BuiltProject) -> None:
    assert clean_build.build_exit == 0
    args = ("after-run", "--project-dir", str(clean_build.project_dir), "--format", "json")
    done = run_pipewatch(*args, "--no-rules")
    assert done.returncode == 0, done.stdout + done.stderr
    data = json.loads(done.stdout)
    assert data["gate"] == {"passed": True, "reasons": []}
    assert data["failures"] == [] and data["skipped"] == [] and data["quality"] is None
    # The example's rules (pipewatch.yml) still find the seeds' planted data problems on a clean build.
    checked = run_pipewatch(*args)
    assert checked.returncode == 1, checked.stderr
    data = json.loads(checked.stdout)
    assert data["failures"] == [] and data["quality"]["score"] < 1
    assert data["gate"]["reasons"] and all("check" in reason for reason in data["gate"]["reasons"])


def test_lineage_command(faulty_build: BuiltProject, outcome: dict[str, Any]) -> None:
    failed = next(f for f in outcome["failures"] if f["status"] == "error")
    done = run_pipewatch(
        "lineage", failed["unique_id"].split(".")[-1], "--project-dir", str(faulty_build.project_dir),
        "--format", "json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    view = json.loads(done.stdout)
    assert view["unique_id"] == failed["unique_id"] and view["status"] == "error"
    assert {d["unique_id"] for d in view["downstream"]} >= set(failed["skipped_downstream"])


@pytest.mark.parametrize(
    ("breakage", "needle"),
    [
        ("missing_dir", "target"),
        ("truncated_manifest", "manifest.json"),
        ("not_json_results", "run_results.json"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    faulty_build: BuiltProject, tmp_path: Path, breakage: str, needle: str
) -> None:
    project = tmp_path / "p"
    shutil.copytree(faulty_build.project_dir, project, ignore=shutil.ignore_patterns("*.duckdb", "logs"))
    target = project / "target"
    if breakage == "missing_dir":
        shutil.rmtree(target)
    elif breakage == "truncated_manifest":
        data = (target / "manifest.json").read_bytes()
        (target / "manifest.json").write_bytes(data[: len(data) // 2])
    else:
        (target / "run_results.json").write_text("<html>not json</html>", encoding="utf-8")
    done = run_pipewatch("after-run", "--project-dir", str(project))
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0] and lines[0].startswith("pipewatch: error:")


def test_unknown_node_in_lineage_is_a_usage_error(faulty_build: BuiltProject) -> None:
    done = run_pipewatch("lineage", "no_such_model", "--project-dir", str(faulty_build.project_dir))
    assert done.returncode == 2 and "no_such_model" in done.stderr and "Traceback" not in done.stderr
