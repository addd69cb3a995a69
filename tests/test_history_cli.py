"""`pipewatch history ingest|show|prune`: backfill of real saved artifacts (the shared corpus and a
real dbt build of the example project), trend views, retention, and one-line errors."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner, Result

from pipewatch.artifacts import load_run
from pipewatch.commands.history import history
from pipewatch.errors import ArtifactError
from pipewatch.history import HistoryStore
from pipewatch.history.ingest import invocation_key
from pipewatch.history.testing import make_run, node_result
from tests.conftest import BuiltProject

DAY = 86400.0


def run_cli(*args: str | Path) -> Result:
    return CliRunner().invoke(history, [str(a) for a in args], catch_exceptions=False)


def one_line_error(result: Result, code: int, fragment: str) -> None:
    assert result.exit_code == code, result.output
    lines = result.stderr.strip().splitlines()
    errors = [line for line in lines if not line.startswith("pipewatch: warning: ")]
    assert len(errors) == 1 and errors[0].startswith("pipewatch: error: ") and fragment in errors[0], (
        result.stderr
    )
    assert "Traceback" not in result.output


def store_ids(path: Path) -> set[str]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return {r[0] for r in con.execute("SELECT invocation_id FROM invocations").fetchall()}
    finally:
        con.close()


def test_ingest_backfills_saved_artifacts_from_the_corpus(corpus: Path, tmp_path: Path) -> None:
    """Every run_results.json in the corpus as its own saved target/: each loadable run lands once."""
    targets: list[Path] = []
    expected: set[str] = set()
    unreadable = 0
    for i, source in enumerate(sorted((corpus / "run_results").rglob("*.json"))):
        target = tmp_path / "saved" / f"{i:03d}"
        target.mkdir(parents=True)
        shutil.copy(source, target / "run_results.json")
        targets.append(target)
        try:
            run = load_run(target)
        except ArtifactError:
            unreadable += 1
            continue
        if run.generated_at is not None:
            expected.add(invocation_key(run))
    empty = tmp_path / "saved" / "empty"
    empty.mkdir()
    store = tmp_path / "h.duckdb"

    result = run_cli("ingest", *targets, empty, "--history", store)
    assert result.exit_code == (2 if unreadable else 0), result.output
    assert f"{empty}: no run_results.json; skipped" in result.stderr
    assert store_ids(store) == expected
    assert f"{len(expected)} run(s) recorded, 0 already present" in result.stdout

    again = run_cli("ingest", *targets, "--history", store)
    assert f"0 run(s) recorded, {len(expected)} already present" in again.stdout
    assert store_ids(store) == expected


def test_ingest_reports_an_unreadable_dir_but_records_the_rest(tmp_path: Path) -> None:
    good = tmp_path / "good"
    good.mkdir()
    (good / "run_results.json").write_text(
        json.dumps(
            {
                "metadata": {
                    "dbt_schema_version": "https://schemas.getdbt.com/dbt/run-results/v6.json",
                    "dbt_version": "1.11.0",
                    "generated_at": "2026-05-01T03:00:00Z",
                    "invocation_id": "11111111-2222-3333-4444-555555555555",
                },
                "results": [
                    {
                        "status": "success",
                        "unique_id": "model.shop.orders",
                        "execution_time": 2.5,
                        "thread_id": "Thread-1",
                        "timing": [],
                        "adapter_response": {"rows_affected": 42},
                        "message": "OK",
                        "failures": None,
                    }
                ],
                "elapsed_time": 3.0,
                "args": {"which": "build"},
            }
        ),
        encoding="utf-8",
    )
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "run_results.json").write_text("{not json", encoding="utf-8")
    store = tmp_path / "h.duckdb"
    result = run_cli("ingest", broken, good, tmp_path / "missing", "--history", store)
    one_line_error(result, 2, "2 target dir(s) could not be read")
    assert "run_results.json" in result.stderr.split("pipewatch: error:")[0]  # the warning names the file
    assert store_ids(store) == {"11111111-2222-3333-4444-555555555555"}


@pytest.fixture(scope="module")
def history_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Thirty daily runs of two models (40 to 11 days ago); on the last day `orders` takes 4x as long."""
    store = HistoryStore(tmp_path_factory.mktemp("history") / "h.duckdb")
    start = time.time() - 40 * DAY
    for day in range(30):
        slow = day == 29
        results = [
            node_result(
                "model.shop.orders", execution_time=40.0 if slow else 10.0 + day % 3, rows_affected=1000
            ),
            node_result("model.shop.customers", execution_time=2.0, rows_affected=500 + day),
            node_result("source_like.shop.orders", execution_time=1.0),
        ]
        store.ingest(make_run(f"inv-{day:02d}", start + day * DAY, results))
    return store.path


@pytest.fixture
def history_file(history_template: Path, tmp_path: Path) -> Path:
    """A private copy of the template store, free to change."""
    return Path(shutil.copy(history_template, tmp_path / "h.duckdb"))


def test_show_summarizes_slowest_changed_and_anomalies(history_file: Path) -> None:
    result = run_cli("show", "--history", history_file, "--top", "2")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.startswith("history: 30 run(s) from ")
    slowest = out.split("Slowest nodes")[1].split("Most changed")[0]
    assert slowest.index("model.shop.orders") < slowest.index("model.shop.customers")
    assert "+29.0s" in out.split("Most changed")[1]  # 40 s against a median of 11 s over the last 20
    assert "model.shop.orders execution_time 40.0s above its usual" in out
    assert any(ch in out for ch in "▁▂▃▄▅▆▇█")


def test_show_node_trend_table_and_json(history_file: Path) -> None:
    text = run_cli("show", "orders", "--history", history_file, "--last", "5")
    assert text.exit_code == 0, text.output
    lines = text.stdout.splitlines()
    assert lines[0] == "model.shop.orders — last 5 of 30 run(s) in history"
    assert lines[1].startswith("  duration  ▁▁▁▁█  latest 40.0s") or "latest 40.0s" in lines[1]
    assert "anomaly: execution_time 40.0s above its usual" in text.stdout
    rows = [line for line in lines if "inv-" in line]
    assert len(rows) == 5 and "inv-29" in rows[0] and "40.0s" in rows[0] and "1,000" in rows[0]

    data = json.loads(
        run_cli("show", "model.shop.customers", "--history", history_file, "--format", "json").stdout
    )
    assert data["unique_id"] == "model.shop.customers" and data["runs"] == 30 and len(data["points"]) == 20
    assert data["points"][-1]["rows_affected"] == 529 and data["anomalies"] == []


def test_show_refuses_unknown_and_ambiguous_nodes(history_file: Path) -> None:
    one_line_error(run_cli("show", "nope", "--history", history_file), 2, "no node or source 'nope'")
    one_line_error(run_cli("show", "hop.orders", "--history", history_file), 2, "no node or source")
    qualified = run_cli("show", "shop.orders", "--history", history_file)  # package.name: models win
    assert qualified.stdout.startswith("model.shop.orders — ")
    store = HistoryStore(history_file)
    store.ingest(make_run("inv-x", time.time(), [node_result("model.other.customers")]))
    one_line_error(run_cli("show", "customers", "--history", history_file), 2, "matches 2 nodes")


def test_show_without_a_store_says_how_to_make_one(tmp_path: Path) -> None:
    one_line_error(run_cli("show", "--history", tmp_path / "nothing.duckdb"), 2, "no history store here yet")
    assert not (tmp_path / "nothing.duckdb").exists()


def test_prune_keeps_recent_runs(history_file: Path) -> None:
    result = run_cli("prune", "--keep", "25.5d", "--history", history_file)  # runs are 40 to 11 days old
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("pruned 15 run(s) generated before ")
    assert len(store_ids(history_file)) == 15
    one_line_error(run_cli("prune", "--keep", "soon", "--history", history_file), 2, "--keep: bad duration")
    assert run_cli("prune", "--history", history_file.with_name("absent.duckdb")).stdout.startswith(
        "no history store at"
    )


def test_a_corrupt_store_is_a_one_line_error_and_left_intact(tmp_path: Path) -> None:
    path = tmp_path / "h.duckdb"
    path.write_bytes(b"\x00garbage" * 500)
    for args in (("show",), ("prune", "--keep", "1d"), ("ingest", tmp_path)):
        one_line_error(run_cli(*args, "--history", path), 2, "not a DuckDB database")
    assert path.read_bytes() == b"\x00garbage" * 500


def test_history_turned_off_in_pipewatch_yml_needs_an_explicit_path(tmp_path: Path) -> None:
    (tmp_path / "pipewatch.yml").write_text("history: false\n", encoding="utf-8")
    one_line_error(run_cli("show", "--project-dir", tmp_path), 2, "history is turned off")
    one_line_error(run_cli("show", "--lock-timeout", "forever", "--history", "x.duckdb"), 2, "--lock-timeout")


def test_a_bad_anomalies_section_in_pipewatch_yml_is_a_config_error(
    history_file: Path, tmp_path: Path
) -> None:
    (tmp_path / "pipewatch.yml").write_text("anomalies:\n  window: zero\n", encoding="utf-8")
    one_line_error(
        run_cli("show", "--history", history_file, "--project-dir", tmp_path),
        2,
        "`anomalies`: expected a whole",
    )


@pytest.mark.dbt
def test_backfill_and_show_a_real_dbt_build(clean_build: BuiltProject, tmp_path: Path) -> None:
    """A real `dbt build` of the example project, recorded into the default store of its project."""
    project = tmp_path / "project"
    shutil.copytree(clean_build.project_dir, project, ignore=shutil.ignore_patterns("*.duckdb", ".pipewatch"))
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "from pipewatch.commands.history import history; history()",
            "ingest",
            str(project / "target"),
            "--project-dir",
            str(project),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    default_store = project / ".pipewatch" / "history.duckdb"
    run = load_run(project / "target")
    assert store_ids(default_store) == {run.invocation_id}
    con = duckdb.connect(str(default_store), read_only=True)
    recorded = dict(con.execute("SELECT unique_id, status FROM node_results").fetchall())
    con.close()
    assert recorded == {r.unique_id: r.status for r in run.results}
    model = next(r.unique_id for r in run.results if r.unique_id.startswith("model."))
    shown = run_cli("show", model, "--project-dir", project)
    assert shown.exit_code == 0 and shown.stdout.startswith(f"{model} — last 1 of 1 run(s)")
