"""What each error category asks for (retry, escalate, nothing) and who must act on it.

The table is the contract in docs/contracts.md: transient errors are retried with backoff (and go to the platform
team once retries run out); resource, permission and unknown errors go to the platform team; data, code
and quality failures go to the owner of the model; a dependency (a skip) needs no action of its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Literal, NamedTuple, Protocol

from pipewatch.triage.library import Category

Action = Literal["retry", "escalate", "none"]
Team = Literal["platform", "owner"]


class Policy(NamedTuple):
    """The response to one category of error."""

    action: Action
    escalate_to: Team | None  # for `retry`, who gets it when the retries are exhausted
    retryable: bool


POLICY: Mapping[Category, Policy] = MappingProxyType(
    {
        "transient": Policy("retry", "platform", True),
        "resource": Policy("escalate", "platform", False),
        "permission": Policy("escalate", "platform", False),
        "data": Policy("escalate", "owner", False),
        "code": Policy("escalate", "owner", False),
        "dependency": Policy("none", None, False),
        "quality": Policy("escalate", "owner", False),
        "unknown": Policy("escalate", "platform", False),
    }
)

#: Who to ask when the preferred party is not known: nobody is left without someone to act.
_FALLBACK: Mapping[Team, tuple[Team, ...]] = MappingProxyType(
    {"owner": ("owner", "platform"), "platform": ("platform", "owner")}
)


class _Escalatable(Protocol):
    @property
    def escalate_to(self) -> Team | None: ...


def escalation_target(
    classification: _Escalatable, node_owner: str | None, platform_owner: str | None
) -> str | None:
    """Who must act on a classified failure: the model's owner or the platform team, whichever is known.

    Owner categories (data, code, quality) go to `node_owner`, falling back to `platform_owner` when the
    model has none; platform categories (resource, permission, unknown, transient once retries are spent)
    go to `platform_owner`, falling back to `node_owner`. A dependency needs nobody: None.
    """
    preferred = classification.escalate_to
    if preferred is None:
        return None
    people: Mapping[Team, str | None] = {"owner": node_owner or None, "platform": platform_owner or None}
    for team in _FALLBACK[preferred]:
        who = people[team]
        if who:
            return who
    return None
