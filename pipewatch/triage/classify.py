"""Classifying a dbt failure message: which category of error it is, what to do, and the evidence.

The order of looking, for one message:

1. dbt's own messages (`scope: dbt` signatures: skipped upstream, test failures, missing env var) on
   the whole message;
2. strip dbt's wrapper (`Database Error in model x (path)`, `Encountered an error:`, timestamps);
3. over the adapter's chain of signature sets (the adapter, what it extends, then generic): exact
   codes pulled out of the message (vendor codes before SQLSTATEs), then the adapter's own regexes,
   then SQLSTATE classes, then the generic regexes (and, for an unknown adapter, every adapter's);
4. a bare `Compilation Error` or `Parsing Error` wrapper with nothing recognized beneath is `code`;
5. otherwise `unknown`.

Messages are cut to their first and last `WINDOW` characters before any matching, and every signature
regex is linear (see `regex_safety`), so classification time is bounded whatever the input.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pipewatch.artifacts.model import OK_STATUSES, NodeResult, normalize_status
from pipewatch.triage.codes import Code, extract_codes
from pipewatch.triage.library import GENERIC, Category, Signature, SignatureSet, load_library
from pipewatch.triage.routing import POLICY, Action, Team
from pipewatch.triage.unwrap import unwrap

#: Characters kept from each end of a long message; the diagnosis is at the start, the cause often last.
WINDOW = 8 * 1024
#: Longest matched text kept as evidence.
EVIDENCE_CHARS = 200

EvidenceKind = Literal["code", "sqlstate_class", "pattern", "wrapper", "status", "none"]


@dataclass(frozen=True, slots=True)
class Evidence:
    """Why a message got its category: the signature that matched and what it matched on."""

    signature: str  # "postgres/serialization_failure", "dbt/compilation_error", "none"
    kind: EvidenceKind
    matched: str  # the code, the matched text (at most EVIDENCE_CHARS) or the wrapper/status
    source: str  # where the signature comes from (documentation page, thread, source file)

    def __str__(self) -> str:
        """One line for humans: `postgres/serialization_failure (code 40001)`."""
        if not self.matched:
            return self.signature
        return f"{self.signature} ({self.kind} {self.matched!r})"

    def to_dict(self) -> dict[str, str]:
        """The evidence as plain JSON-ready data."""
        return {
            "signature": self.signature,
            "kind": self.kind,
            "matched": self.matched,
            "source": self.source,
        }


@dataclass(frozen=True, slots=True)
class Classification:
    """The triage verdict for one failure: category, the action it calls for, who acts, and why."""

    category: Category
    action: Action
    escalate_to: Team | None
    evidence: Evidence
    adapter: str  # the adapter whose signature matched, or "generic"
    retryable: bool

    def to_dict(self) -> dict[str, Any]:
        """The classification as plain JSON-ready data (evidence nested)."""
        return {
            "category": self.category,
            "action": self.action,
            "escalate_to": self.escalate_to,
            "retryable": self.retryable,
            "adapter": self.adapter,
            "evidence": self.evidence.to_dict(),
        }


_NO_SOURCE = "pipewatch triage (no signature matched)"
_DBT_SOURCE = (
    "dbt-core exception types (dbt_common.exceptions: CompilationError, dbt.exceptions: ParsingError)"
)
_STATUS_SOURCE = "dbt run_results status (dbt-core core/dbt/artifacts/schemas/results.py)"


def classify(message: str, adapter: str | None = None) -> Classification:
    """Classify one error message, optionally knowing the dbt adapter (`adapter_type`) that produced it.

    Never raises for any text: empty or unrecognized messages are `unknown`; an unknown adapter name
    is treated like no adapter (generic signatures, then every adapter's).
    """
    text = _window(message if isinstance(message, str) else ("" if message is None else str(message)))
    if not text.strip():
        return _verdict("unknown", Evidence("none", "none", "", "empty message"), GENERIC)
    chain = load_library().chain(adapter)

    hit = _first_pattern(chain, text, text.casefold(), dbt_level=True)
    if hit is not None:
        return hit

    unwrapped = unwrap(text)
    body = unwrapped.body if unwrapped.body or unwrapped.wrappers else text
    hit = _match(chain, body)
    if hit is not None:
        return hit
    for kind in ("compilation", "parsing"):
        if kind in unwrapped.wrappers:
            wrapper = f"{kind.capitalize()} Error"
            return _verdict("code", Evidence(f"dbt/{kind}_error", "wrapper", wrapper, _DBT_SOURCE), GENERIC)
    return _verdict("unknown", Evidence("none", "none", "", _NO_SOURCE), GENERIC)


def classify_result(result: NodeResult, adapter: str | None = None) -> Classification | None:
    """Classify one run_results entry; None for a result that needs no triage (success, pass, no-op...).

    A skipped node is `dependency` (no action of its own: its root causes are elsewhere); a failed or
    warned test is `quality` for the owner of the tested model; an error is classified by its message.
    """
    status = normalize_status(result.status)
    if status == "skipped":
        return _verdict("dependency", Evidence("dbt/skipped", "status", status, _STATUS_SOURCE), GENERIC)
    if status in ("fail", "warn"):
        return _verdict("quality", Evidence("dbt/test_failed", "status", status, _STATUS_SOURCE), GENERIC)
    if status in OK_STATUSES:
        return None
    return classify(result.message or "", adapter)


def _window(text: str) -> str:
    if len(text) <= 2 * WINDOW:
        return text
    return text[:WINDOW] + "\n" + text[-WINDOW:]


def _match(chain: tuple[SignatureSet, ...], body: str) -> Classification | None:
    """The first signature that matches `body`, strongest evidence first.

    1. exact codes, vendor codes before SQLSTATEs (Snowflake's 000625 says more than the 57014 beside it);
    2. the patterns of the adapter's own sets (its wording beats a generic class such as JDBC's `[42000]`);
    3. SQLSTATE classes;
    4. the remaining patterns: generic, then (when the adapter is unknown) every adapter's.
    """
    codes = extract_codes(body)
    if codes:
        for kind in ("vendor", "sqlstate"):
            present = {code.value.lower() for code in codes if code.kind == kind}
            if not present:
                continue
            for sset in chain:
                for signature in sset.by_code:
                    shared = signature.codes & present
                    if shared:
                        return _from_signature(signature, "code", _first_code(codes, shared))
    folded = body.casefold()
    own = chain[: _generic_index(chain)]
    hit = _first_pattern(own, body, folded)
    if hit is not None:
        return hit
    states = [code.value.upper() for code in codes if code.kind == "sqlstate"]
    for sset in chain if states else ():
        for signature in sset.by_class:
            for state in states:
                if state.startswith(signature.sqlstate_class or "\0"):
                    return _from_signature(signature, "sqlstate_class", state)
    return _first_pattern(chain[len(own) :], body, folded)


def _generic_index(chain: tuple[SignatureSet, ...]) -> int:
    return next(i for i, sset in enumerate(chain) if sset.adapter == GENERIC)


def _first_pattern(
    sets: tuple[SignatureSet, ...], text: str, folded: str, dbt_level: bool = False
) -> Classification | None:
    """The first pattern signature matching `text`; `folded` is `text.casefold()` for the anchor check."""
    for sset in sets:
        for signature in sset.dbt_level if dbt_level else sset.by_pattern:
            assert signature.pattern is not None
            anchors = signature.anchors
            if anchors is not None and not any(anchor in folded for anchor in anchors):
                continue  # none of the literals the pattern needs is there: skip the regex
            found = signature.pattern.search(text)
            if found:
                return _from_signature(signature, "pattern", found.group(0))
    return None


def _first_code(codes: tuple[Code, ...], shared: frozenset[str]) -> str:
    return next(code.value for code in codes if code.value.lower() in shared)


def _from_signature(signature: Signature, kind: EvidenceKind, matched: str) -> Classification:
    evidence = Evidence(signature.qualified_id, kind, matched[:EVIDENCE_CHARS], signature.source)
    return _verdict(signature.category, evidence, signature.adapter)


def _verdict(category: Category, evidence: Evidence, adapter: str) -> Classification:
    policy = POLICY[category]
    return Classification(
        category=category,
        action=policy.action,
        escalate_to=policy.escalate_to,
        evidence=evidence,
        adapter=adapter,
        retryable=policy.retryable,
    )
