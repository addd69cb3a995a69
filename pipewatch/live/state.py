"""The state of a running dbt build, updated event by event.

`BuildState.apply(event)` folds one `DbtEvent` in and returns what changed (`Change`s) so the
caller can print, alert and re-forecast without diffing. The manifest (dbt writes
`target/manifest.json` before any node runs) gives the graph: with it a failure names the nodes
dbt will skip because of it and the exposures and owners at risk, through the same lineage code
the after-run report uses (`pipewatch.lineage.impact.analyze_failures`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass, field

from pipewatch.artifacts import Manifest, assemble_run
from pipewatch.artifacts.model import FAILED_STATUSES, AdapterResponse, Node, NodeResult, Run
from pipewatch.lineage.graph import Graph
from pipewatch.lineage.impact import CONSUMER_TYPES, analyze_failures
from pipewatch.live.events import DbtEvent

#: Resource types a `dbt run/test/seed/snapshot/build` queues (ephemeral models excepted).
RUNNABLE_TYPES = frozenset({"model", "seed", "snapshot", "test", "unit_test", "function"})
#: Failure statuses for a watcher: dbt's (`error`, `fail`) and a microbatch `partial success`.
FAILURE_STATUSES = FAILED_STATUSES | {"partial success"}


@dataclass(frozen=True, slots=True)
class Failure:
    """A node that failed during the build, with what the failure puts at risk."""

    unique_id: str
    status: str
    message: str | None
    at: float | None  # POSIX seconds of the event
    resource_type: str
    owner: str | None
    will_skip: tuple[str, ...]  # sorted: nodes of this build dbt skips because of this failure
    exposures: tuple[str, ...]  # sorted exposure ids downstream
    owners: tuple[str, ...]  # the failed node's owner first, then downstream owners
    in_manifest: bool = True


@dataclass(frozen=True, slots=True)
class Change:
    """One thing an event changed: `started`, `finished`, `failed`, `message`, `completed`, `invocation`."""

    kind: str
    unique_id: str | None = None
    status: str | None = None
    failure: Failure | None = None


@dataclass(slots=True)
class BuildState:
    """What is known about one dbt invocation so far. Build with `BuildState.from_manifest`."""

    run: Run | None = None  # the manifest as a Run without results (graph, owners)
    graph: Graph | None = None
    selected: set[str] = field(default_factory=set)  # what the build is expected to run
    invocation_id: str | None = None
    dbt_version: str | None = None
    started_at: float | None = None  # first event's time
    last_ts: float | None = None
    threads: int | None = None
    total: int | None = None  # dbt's "N of TOTAL"
    running: dict[str, float] = field(default_factory=dict)  # unique id -> start (POSIX s)
    status: dict[str, str] = field(default_factory=dict)  # finished unique id -> status
    durations: dict[str, float] = field(default_factory=dict)  # finished id -> execution time
    failures: list[Failure] = field(default_factory=list)
    will_skip: set[str] = field(default_factory=set)  # predicted skips not yet reported
    exposures_at_risk: set[str] = field(default_factory=set)
    owners_at_risk: set[str] = field(default_factory=set)
    unknown_nodes: set[str] = field(default_factory=set)  # ids the manifest lacks
    unknown_events: int = 0
    complete: bool = False
    success: bool | None = None
    superseded: list[str] = field(default_factory=list)  # invocations replaced before completing

    @classmethod
    def from_manifest(cls, manifest: Manifest | None, *, selected: Iterable[str] | None = None) -> BuildState:
        """A fresh state for a build of `manifest` (None: events only, no lineage).

        `selected` is what the build will run, when the caller knows (phase 2's `pipewatch run`
        knows the selectors); otherwise it is guessed from the manifest and dbt's "N of TOTAL".
        """
        if manifest is None:
            return cls(selected=set(selected or ()))
        run = assemble_run(manifest, None, None)
        state = cls(run=run, graph=Graph.from_run(run))
        state.selected = set(selected) if selected is not None else _default_selection(run.nodes, None)
        return state

    # ------------------------------------------------------------------ queries

    @property
    def nodes(self) -> dict[str, Node]:
        """Manifest nodes by unique id (empty without a manifest)."""
        return self.run.nodes if self.run is not None else {}

    @property
    def done(self) -> int:
        """How many nodes finished (any status)."""
        return len(self.status)

    def counts(self) -> dict[str, int]:
        """Finished nodes by status, sorted by status."""
        out: dict[str, int] = {}
        for s in self.status.values():
            out[s] = out.get(s, 0) + 1
        return dict(sorted(out.items()))

    def expected_total(self) -> int:
        """dbt's total when it said, else the size of the expected selection."""
        return self.total if self.total is not None else max(len(self.selected), self.done)

    def running_now(self, now: float) -> list[tuple[str, float]]:
        """(unique id, elapsed seconds) of the nodes running at `now`, longest-running first."""
        rows = [(uid, max(now - start, 0.0)) for uid, start in self.running.items()]
        return sorted(rows, key=lambda r: (-r[1], r[0]))

    # ------------------------------------------------------------------ updates

    def apply(self, event: DbtEvent) -> list[Change]:
        """Fold one event in; return what changed. Events of another invocation start over."""
        changes: list[Change] = []
        if event.invocation_id and event.invocation_id != self.invocation_id:
            if self.invocation_id is not None:
                if not self.complete:
                    self.superseded.append(self.invocation_id)
                self._reset()
            self.invocation_id = event.invocation_id
            changes.append(Change("invocation"))
        if event.ts is not None:
            self.started_at = event.ts if self.started_at is None else self.started_at
            self.last_ts = event.ts
        kind = event.kind
        if kind == "node_start" and event.unique_id:
            self._note_total(event)
            uid = event.unique_id
            if uid not in self.running and uid not in self.status and self._known(uid):
                start = event.started_at if event.started_at is not None else event.ts
                self.running[uid] = start if start is not None else 0.0
                changes.append(Change("started", uid))
        elif kind == "node_result" and event.unique_id and event.status:
            self._note_total(event)
            changes.extend(self._finish(event))
        elif kind == "error_message" and event.unique_id and event.message:
            changes.extend(self._attach_message(event.unique_id, event.message))
        elif kind == "concurrency":
            self.threads = event.threads or self.threads
            self._note_total(event)
        elif kind == "invocation_start":
            self.dbt_version = event.msg.rpartition("=")[2] or None
        elif kind == "command_done" and not self.complete:
            self.complete = True
            self.success = not any(f.status in FAILURE_STATUSES for f in self.failures)
            self.running.clear()
            changes.append(Change("completed"))
        return changes

    def _reset(self) -> None:
        fresh = BuildState(run=self.run, graph=self.graph, superseded=self.superseded)
        fresh.selected = _default_selection(self.nodes, None) if self.run is not None else set()
        for f in dataclasses.fields(self):
            setattr(self, f.name, getattr(fresh, f.name))

    def _note_total(self, event: DbtEvent) -> None:
        if event.total is not None and event.total != self.total:
            self.total = event.total
            if self.run is not None:
                self.selected = _default_selection(self.nodes, event.total) | self.selected & set(self.status)

    def _known(self, uid: str) -> bool:
        """Count and remember ids the manifest lacks; ephemeral models never count as run."""
        if self.run is None:
            return True
        node = self.run.nodes.get(uid)
        if node is None:
            self.unknown_nodes.add(uid)
            self.unknown_events += 1
            return True
        return node.materialization != "ephemeral" or node.resource_type != "model"

    def _finish(self, event: DbtEvent) -> list[Change]:
        uid = event.unique_id
        status = event.status
        assert uid is not None and status is not None
        if not self._known(uid):
            return []
        if uid in self.status:
            # The file log repeats a result at debug level (NodeFinished after LogModelResult):
            # keep the first, but take the message it may add.
            return self._attach_message(uid, event.message) if event.message else []
        start = self.running.pop(uid, None)
        self.status[uid] = status
        self.will_skip.discard(uid)
        if self.run is not None and uid in self.nodes:
            self.selected.add(uid)
        if event.execution_time is not None:
            self.durations[uid] = event.execution_time
        elif start is not None and event.ts is not None:
            self.durations[uid] = max(event.ts - start, 0.0)
        elif status == "skipped":
            self.durations[uid] = 0.0  # dbt skips without running anything
        changes = [Change("finished", uid, status)]
        if status in FAILURE_STATUSES:
            failure = self._failure(uid, status, event.message, event.ts)
            self.failures.append(failure)
            self.will_skip.update(u for u in failure.will_skip if u not in self.status)
            self.exposures_at_risk.update(failure.exposures)
            self.owners_at_risk.update(failure.owners)
            changes.append(Change("failed", uid, status, failure))
        return changes

    def _attach_message(self, uid: str, message: str | None) -> list[Change]:
        for k, f in enumerate(self.failures):
            if f.unique_id == uid and not f.message and message:
                self.failures[k] = dataclasses.replace(f, message=message)
                return [Change("message", uid, f.status, self.failures[k])]
        return []

    def _failure(self, uid: str, status: str, message: str | None, at: float | None) -> Failure:
        """Describe a failure with the lineage module's impact analysis (one result, no skips yet)."""
        node = self.nodes.get(uid)
        if self.run is None or self.graph is None or node is None:
            kind = node.resource_type if node else uid.partition(".")[0]
            return Failure(uid, status, message, at, kind, None, (), (), (), in_manifest=node is not None)
        result = NodeResult(uid, status, message, None, 0.0, None, None, None, None, None, AdapterResponse())
        impact = analyze_failures(dataclasses.replace(self.run, results=[result]), self.graph, [])[0]
        # Exposures count only when the build runs them (dbt 1.10+ reports them, and skips them).
        skip = tuple(u for u in impact.downstream if u in self.selected and u not in self.status)
        return Failure(
            uid,
            status,
            message,
            at,
            impact.resource_type,
            impact.owner,
            skip,
            impact.exposures,
            impact.owners,
        )


def _default_selection(nodes: dict[str, Node], total: int | None) -> set[str]:
    """The nodes a build of the whole project runs: runnable, enabled, not ephemeral.

    dbt 1.10+ also reports exposures (as no-ops) in `dbt build`; they are counted in when dbt's
    total says so.
    """
    base = {
        uid
        for uid, n in nodes.items()
        if n.enabled
        and n.resource_type in RUNNABLE_TYPES
        and not (n.resource_type == "model" and n.materialization == "ephemeral")
    }
    if total is not None and total > len(base):
        consumers = {uid for uid, n in nodes.items() if n.resource_type in CONSUMER_TYPES and n.enabled}
        if total >= len(base) + len(consumers):
            base |= consumers
    return base
