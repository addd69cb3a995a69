"""Benchmark live monitoring on a replayed 10,000-model `dbt build` (30,000 nodes with the tests).

    .venv/bin/python benchmarks/bench_live.py [MODELS]

The manifest is the real `dbt parse` of `synthetic_project.py`'s project; the build's log is
synthesized (`pipewatch.live.synthetic`) from its synthetic run_results: the same durations,
errors and skips, scheduled on 4 threads the way dbt's list scheduler would. History is those
durations with noise (each node's median off by a log-normal factor, some nodes with no history),
so the ETA is measured against what really happened, not against itself. Prints two tables:
watch's CPU time per 1,000 events, and the ETA's error at 25/50/75% progress.

    .venv/bin/python benchmarks/bench_live.py --latency [MODELS]   # alert latency (3,400 models: ~10,000 nodes)
    .venv/bin/python benchmarks/bench_live.py --overhead [RUNS]    # dbt build with/without `pipewatch run`

`--latency`: the same replayed build with FAILING tests spread through it, written line by line
into a real `pipewatch watch --slack -` process; a real HTTP server on 127.0.0.1 plays Slack.
Latency = the failing node's line written -> the POST naming it received (p50/p95), with history
off (direct POST) and on (through the DuckDB outbox). `--overhead`: the example project's `dbt
build`, alternately plain and under `pipewatch run --no-live --no-history`, RUNS times each:
the time until dbt's closing "Done." line reaches the person, and the whole process.
"""

from __future__ import annotations

import io
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from synthetic_project import synthetic_target

from pipewatch.artifacts import load_manifest, load_run_results
from pipewatch.live.eta import eta_errors
from pipewatch.live.events import line_head
from pipewatch.live.state import BuildState
from pipewatch.live.synthetic import synthesize_log
from pipewatch.live.watch import LiveUpdate, watch

NOISE_SIGMA = 0.3  # history median vs this run: typically 30% off either way
NO_HISTORY = 0.1  # share of nodes history does not know (new models)
SEEDS = (1, 2, 3)
SLOWER = 1.3  # "all pass, slow": the warehouse takes 30% longer than history says, for every node


def noisy_history(durations: dict[str, float], seed: int) -> dict[str, float]:
    """Per-node medians as a history store would give them: off by noise, some nodes unknown."""
    rng = random.Random(seed)
    return {
        u: s * rng.lognormvariate(0.0, NOISE_SIGMA)
        for u, s in durations.items()
        if rng.random() >= NO_HISTORY
    }


def scenarios(models: int) -> tuple[Path, list[tuple[str, dict[str, float], list[bytes]]]]:
    """The manifest path and two builds to replay: every node passing, and the synthetic run as recorded.

    The recorded synthetic run has one early error whose skips cover most of the DAG, so the clean
    build (skipped nodes given durations drawn like the others) is the one that measures the ETA.
    """
    target = synthetic_target(models)
    manifest_path = target / "manifest.json"
    results = load_run_results(target / "run_results.json").results
    state = BuildState.from_manifest(load_manifest(manifest_path))
    assert state.graph is not None
    rng = random.Random(5)
    recorded = {r.unique_id: r.execution_time for r in results if r.unique_id in state.selected}
    clean = {u: s if s > 0 else rng.lognormvariate(-1.0, 0.8) for u, s in recorded.items()}
    statuses = {r.unique_id: r.status for r in results if r.status in ("error", "fail")}
    skipped = {r.unique_id for r in results if r.status == "skipped"}
    slow = {u: s * SLOWER for u, s in clean.items()}
    return manifest_path, [
        ("all pass", clean, synthesize_log(state.graph, clean, threads=4)),
        ("all pass, slow", clean, synthesize_log(state.graph, slow, threads=4)),
        (
            "1 error, skips",
            clean,
            synthesize_log(state.graph, recorded, threads=4, statuses=statuses, skipped=skipped),
        ),
    ]


def main(models: int = 10_000) -> None:
    """Run the benchmark and print its tables."""
    manifest_path, builds = scenarios(models)
    rows = []
    errors: dict[str, dict[float, list[float]]] = {}
    for name, durations, log in builds:
        data = b"".join(log)
        for seed in SEEDS:
            history = noisy_history(durations, seed)
            marks: list[float] = []

            def on_event(update: LiveUpdate, marks: list[float] = marks) -> None:
                # CPU time between the first and the last node event: the streaming cost,
                # without the one-off manifest load and the final what-if.
                if update.event.kind in ("node_start", "node_result"):
                    marks.append(time.process_time())

            t0 = time.process_time()
            result = watch(io.BytesIO(data), manifest_path, history=history, on_event=on_event)
            cpu = time.process_time() - t0
            assert result.complete, result.notes
            events = result.reader.events
            streaming = marks[-1] - marks[0]
            rows.append((name, seed, events, cpu, cpu - streaming, streaming / len(marks) * 1e6))
            if name.startswith("all pass"):
                table = errors.setdefault(name, {0.25: [], 0.5: [], 0.75: []})
                for fraction, err in eta_errors(result.eta_history, result.state.last_ts or 0.0).items():
                    if err is not None:
                        table[fraction].append(err)

    print(f"\nwatch on a replayed {models:,}-model build ({len(builds[0][1]):,} nodes, 4 threads)\n")
    print(
        f"{'build':<16} {'seed':>4} {'events':>8} {'CPU s':>7} {'one-off s':>10} {'CPU ms / 1,000 events':>22}"
    )
    for name, seed, events, cpu, fixed, per in rows:
        print(f"{name:<16} {seed:>4} {events:>8,} {cpu:>7.2f} {fixed:>10.2f} {per:>22.1f}")
    print("(one-off: manifest load, graph, simulator set-up and the final what-if; the last column is")
    print(" the CPU between the first and the last node event, per 1,000 events)")
    print("\nETA error: |predicted - actual remaining| / actual remaining, median (max) over the seeds")
    print(f"(history = true durations x lognormal noise sigma={NOISE_SIGMA}, {NO_HISTORY:.0%} nodes unknown;")
    print(f" slow: every node {SLOWER:.0%} of its history)")
    print(f"{'build':<16} {'25%':>14} {'50%':>14} {'75%':>14}")
    for name, table in errors.items():
        cells = [f"{statistics.median(e):.1%} ({max(e):.1%})" if e else "-" for e in table.values()]
        print(f"{name:<16} " + " ".join(f"{c:>14}" for c in cells))


FAILING = 40  # failing tests spread through the latency build
REPLAY_S = 60.0  # the latency build lasts about this many seconds


def _slack_server() -> tuple[str, list[tuple[float, str]], Callable[[], None]]:
    """A 127.0.0.1 webhook recording (arrival monotonic time, body); its URL and a stop function."""
    posts: list[tuple[float, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
            posts.append((time.monotonic(), body))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}/services/T/B/x", posts, server.shutdown


def latency(models: int = 3_400) -> None:
    """Alert latency of `pipewatch watch --slack -` on a replayed build (see the module doc)."""
    target = synthetic_target(models)
    state = BuildState.from_manifest(load_manifest(target / "manifest.json"))
    assert state.graph is not None
    rng = random.Random(7)
    results = load_run_results(target / "run_results.json").results
    durations = {r.unique_id: max(r.execution_time, 0.05) for r in results if r.unique_id in state.selected}
    graph = state.graph
    kinds, index = graph.kinds, graph.index

    def leaf_test(uid: str) -> bool:
        # A failing test makes dbt build skip its model's children: tests of leaf models skip
        # nothing, so the replayed log (which skips nothing) stays what dbt would do.
        parents = graph.parent_idx[index[uid]]
        return all(kinds[c] == "test" for p in parents for c in graph.child_idx[p])

    tests = sorted(u for u in durations if u.startswith("test.") and leaf_test(u))
    failing = {u: "fail" for u in rng.sample(tests, FAILING)}
    log = synthesize_log(state.graph, durations, threads=4, statuses=failing)
    times = [t for t in (line_head(line)[1] for line in log) if t is not None]
    # Shrink every node's duration so the build lasts ~REPLAY_S and replay it in real time: the
    # alert windows (1 s, one message a second) then mean what they mean in a real build.
    shrink = REPLAY_S / (max(times) - min(times))
    shrunk = {u: d * shrink for u, d in durations.items()}
    log = synthesize_log(state.graph, shrunk, threads=4, statuses=failing)
    stamps = [line_head(line)[1] for line in log]
    first = next(t for t in stamps if t is not None)
    speed = 1.0
    print(f"\nalert latency: {models:,}-model build ({len(durations):,} nodes), {FAILING} failing tests,")
    print(f"durations shrunk {1 / shrink:.0f}x so it lasts ~{REPLAY_S:.0f}s, replayed in real time into")
    print("a real `pipewatch watch --slack -` process (busy machine)")
    print(
        f"{'history':<22} {'alerted':>8} {'p50 s':>7} {'p95 s':>7} {'max s':>7} {'posts':>6} {'watch CPU s':>12} {'load':>5}"
    )
    for mode in ("off (direct POST)", "on (DuckDB outbox)"):
        url, posts, stop = _slack_server()
        tmp = Path(tempfile.mkdtemp())
        history = ["--no-history"] if mode.startswith("off") else ["--history", str(tmp / "h.duckdb")]
        proc = subprocess.Popen(
            [str(Path(sys.executable).with_name("pipewatch")), "watch", "--project-dir", str(target.parent),
             *history, "--slack", "--format", "json", "-"],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            env={**os.environ, "PIPEWATCH_SLACK_WEBHOOK": url},
        )  # fmt: skip
        assert proc.stdin is not None
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        written: dict[str, float] = {}
        t0 = time.monotonic()
        for line, ts in zip(log, stamps, strict=True):
            if ts is not None:
                due = t0 + (ts - first) / speed
                if due > time.monotonic():
                    time.sleep(due - time.monotonic())
            proc.stdin.write(line)
            proc.stdin.flush()
            if b'"fail"' in line:
                for uid in failing:
                    if uid.encode() in line and uid not in written:
                        written[uid] = time.monotonic()
        proc.stdin.close()
        proc.wait(timeout=600)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
        stop()
        waits = []
        for uid, at in written.items():
            got = next(
                (t for t, body in posts if uid.split(".")[2] in body and "still running" in body), None
            )
            if got is not None:
                waits.append(got - at)
        waits.sort()
        sys.stdout.flush()
        print(
            f"{mode:<22} {len(waits):>5}/{len(written):<2} {_pct(waits, 0.5):>7.2f} {_pct(waits, 0.95):>7.2f} {max(waits or [0]):>7.2f} {len(posts):>6} {cpu:>12.1f} {os.getloadavg()[0]:>5.1f}"
        )
    print("(failures within 1 s of each other share one message; at most one message a second;")
    print(" load: the 1-minute load average of the 2-core machine when the replay ended)")


def _pct(values: list[float], q: float) -> float:
    """The q-quantile of sorted `values` (nearest rank); NaN when empty."""
    return values[min(int(q * len(values)), len(values) - 1)] if values else float("nan")


def _timed(cmd: list[str], cwd: Path) -> tuple[float, float, int]:
    """(seconds until a line holding `Done. PASS=` arrived, whole process seconds, exit code)."""
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert proc.stdout is not None
    done_at = float("nan")
    for line in proc.stdout:
        if b"Done. PASS=" in line and done_at != done_at:
            done_at = time.monotonic() - t0
    code = proc.wait()
    return done_at, time.monotonic() - t0, code


def overhead(runs: int = 3) -> None:
    """`dbt build` of the example project with and without `pipewatch run`, alternating."""
    repo = Path(__file__).resolve().parents[1]
    tmp = Path(tempfile.mkdtemp()) / "shop"
    shutil.copytree(
        repo / "dbt_example_project", tmp, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages")
    )
    (tmp / "packages.yml").write_text(
        (tmp / "packages.yml").read_text().replace("../macros", str(repo / "macros"))
    )
    bin_dir = Path(sys.executable).parent
    dbt = [str(bin_dir / "dbt"), "--no-use-colors"]
    args = ["--project-dir", str(tmp), "--profiles-dir", str(tmp)]
    for prep in (["deps"], ["seed"]):
        subprocess.run([*dbt, *prep, *args], cwd=tmp, capture_output=True, check=False)
    plain = [*dbt, "build", *args]
    wrapped = [
        str(bin_dir / "pipewatch"),
        "run",
        "--no-live",
        "--no-history",
        "--max-retries",
        "0",
        "--",
        *plain,
    ]
    rows: dict[str, list[tuple[float, float]]] = {"dbt build": [], "pipewatch run -- dbt build": []}
    _timed(plain, tmp)  # warm the file cache and dbt's partial parse once, for both
    for _ in range(runs):
        for name, cmd in (("dbt build", plain), ("pipewatch run -- dbt build", wrapped)):
            done, whole, _code = _timed(cmd, tmp)
            rows[name].append((done, whole))
    print(f"\n`dbt build` of the example project, {runs} runs each, alternating (busy 2-core machine)")
    print(f"{'command':<28} {'until dbt Done. (median)':>25} {'whole process (median)':>24}")
    med = {
        n: (statistics.median(d for d, _ in r), statistics.median(w for _, w in r)) for n, r in rows.items()
    }
    for name, (done, whole) in med.items():
        print(f"{name:<28} {done:>24.2f}s {whole:>23.2f}s")
    (d0, w0), (d1, w1) = med.values()
    budget = 0.01 * d0 + 0.1
    print(f"{'overhead':<28} {d1 - d0:>+24.2f}s {w1 - w0:>+23.2f}s   (target: at most {budget:.2f}s)")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--latency":
        latency(int(sys.argv[2]) if len(sys.argv) > 2 else 3_400)
    elif len(sys.argv) > 1 and sys.argv[1] == "--overhead":
        overhead(int(sys.argv[2]) if len(sys.argv) > 2 else 3)
    else:
        main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000)
