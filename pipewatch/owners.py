"""Who owns a node: `meta.owner`, its group's owner, an exposure's owner, or a pipewatch.yml routing rule."""

from __future__ import annotations

from fnmatch import fnmatch

from pipewatch.artifacts.model import Node
from pipewatch.config import OwnerRule


def owner_of(node: Node | None, rules: list[OwnerRule] | tuple[OwnerRule, ...] = ()) -> str | None:
    """The owner of a node: what the manifest says first, else the first pipewatch.yml rule that matches.

    Rules match on the node's path (a glob such as `models/finance/*`) or on one of its tags; the
    manifest wins because it is the owner the team wrote next to the code.
    """
    if node is None:
        return None
    if node.owner:
        return node.owner
    for rule in rules:
        if rule.path and node.path and fnmatch(node.path, rule.path):
            return rule.owner
        if rule.tag and rule.tag in node.tags:
            return rule.owner
    return None
