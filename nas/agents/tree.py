"""The modification tree: root = base design, node = a design with its metrics, edge = the
suggestion applied to the parent.

Candidate selection mixes depth-first and breadth-first with probability ``dfs_ratio`` of
DFS per pick. DFS is the NADER authors' (``BlockGraphManagement.search``): from the root,
follow the *improving* edges (children trained to a higher accuracy than their parent),
best child first, down to a node that has no trained child yet, and pick it; a node whose
trained children are all worse is a dead end (backtrack); when every path ends so, pick the
root. BFS covers under-explored nodes (fewest children, shallowest).

Storage: one ``events`` row per node change, ``kind="tree_node"``, payload
``{candidate_id, parent_id, suggestion, val_acc, state, depth, agent, used, how, ranking}``
(canonical JSON; ``used``: the inspiration ids tried on the node so far; ``how``: ``dfs`` or
``bfs``, the pick of the parent that produced this node; ``ranking``: ``llm`` when the
Proposer's ranking parsed, else what was done instead, e.g. ``random (rank failed: ...)``);
:func:`load_tree` folds them (last payload per node wins) back into a tree for the report,
and :meth:`ModificationTree.render` draws it as text.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from nas.records import canonical_json

__all__ = ["TREE_EVENT", "ModificationTree", "TreeNode", "load_tree"]

TREE_EVENT = "tree_node"


@dataclass
class TreeNode:
    id: str  # candidate id (content hash of the design)
    parent_id: str | None
    suggestion: str = ""  # inspiration applied to the parent ("" for the root)
    state: str = "PENDING"  # PENDING until told; then a TrialState value
    val_acc: float | None = None
    depth: int = 0
    agent: str = ""
    blocks_text: str = ""  # the block file (not stored in the event payload)
    children: list[str] = field(default_factory=list)
    used: set[str] = field(default_factory=set)  # inspiration ids tried on this node
    how: str = ""  # how the parent was picked for the step that made this node: dfs | bfs
    ranking: str = ""  # the Proposer's ranking outcome of that step (llm | random ...)

    def payload(self) -> dict[str, Any]:
        return {
            "how": self.how,
            "ranking": self.ranking,
            "candidate_id": self.id,
            "parent_id": self.parent_id,
            "suggestion": self.suggestion,
            "val_acc": self.val_acc,
            "state": self.state,
            "depth": self.depth,
            "agent": self.agent,
            "used": sorted(self.used),
        }


class ModificationTree:
    def __init__(self) -> None:
        self.nodes: dict[str, TreeNode] = {}
        self.root_id: str | None = None

    def __len__(self) -> int:
        return len(self.nodes)

    def add(self, node: TreeNode) -> TreeNode:
        if node.parent_id is None:
            if self.root_id is not None and self.root_id != node.id:
                raise ValueError("the tree already has a root")
            self.root_id = node.id
        else:
            parent = self.nodes[node.parent_id]
            node.depth = parent.depth + 1
            if node.id not in parent.children:
                parent.children.append(node.id)
        self.nodes[node.id] = node
        return node

    @property
    def root(self) -> TreeNode:
        if self.root_id is None:
            raise LookupError("the tree is empty")
        return self.nodes[self.root_id]

    def update(self, node_id: str, state: str, val_acc: float | None) -> TreeNode:
        n = self.nodes[node_id]
        n.state, n.val_acc = state, val_acc
        return n

    def _expandable(self) -> list[TreeNode]:
        out = [n for n in self.nodes.values() if n.state == "COMPLETE"]
        if not out and self.root_id is not None:
            out = [self.root]  # before the baseline is known, expand the root
        return out

    def select(self, rng: random.Random, dfs_ratio: float = 0.5) -> tuple[TreeNode, str]:
        """A node to modify next and how it was picked (``"dfs"`` or ``"bfs"``)."""
        pool = self._expandable()
        if not pool:
            raise LookupError("the tree is empty")
        if rng.random() < dfs_ratio:
            return self.dfs_pick(), "dfs"
        least = min(len(n.children) for n in pool)
        cands = [n for n in pool if len(n.children) == least]
        shallow = min(n.depth for n in cands)
        cands = [n for n in cands if n.depth == shallow]
        return cands[rng.randrange(len(cands))], "bfs"

    def _trained(self, n: TreeNode) -> list[TreeNode]:
        kids = (self.nodes[c] for c in n.children)
        return [c for c in kids if c.state == "COMPLETE" and c.val_acc is not None]

    def dfs_pick(self) -> TreeNode:
        """The authors' DFS: walk improving edges (best first) to a node without a trained
        child; the root when every path dead-ends (or nothing is trained yet)."""
        root = self.root

        def walk(n: TreeNode) -> TreeNode | None:
            trained = self._trained(n)
            better = sorted(
                (c for c in trained if n.val_acc is not None and (c.val_acc or 0.0) > n.val_acc),
                key=lambda c: -(c.val_acc or 0.0),
            )
            if better:
                for c in better:
                    got = walk(c)
                    if got is not None:
                        return got
                return None
            return None if trained else n

        return walk(root) or root

    def best(self) -> TreeNode | None:
        done = [n for n in self.nodes.values() if n.state == "COMPLETE" and n.val_acc is not None]
        return max(done, key=lambda n: n.val_acc or 0.0) if done else None

    def event_row(self, node: TreeNode) -> dict[str, Any]:
        return {
            "event_id": f"ev-{uuid.uuid4().hex[:20]}",
            "kind": TREE_EVENT,
            "payload": canonical_json(node.payload()),
            "created_at": time.time(),
        }

    def render(self, width: int = 60) -> str:
        """The tree as indented text: ``id [state acc] <- suggestion``."""
        if self.root_id is None:
            return "(empty tree)"
        lines: list[str] = []

        def walk(nid: str, prefix: str, last: bool, top: bool) -> None:
            n = self.nodes[nid]
            acc = f" {n.val_acc:.4f}" if n.val_acc is not None else ""
            sug = n.suggestion if len(n.suggestion) <= width else n.suggestion[: width - 3] + "..."
            label = f"{n.id[:10]} [{n.state}{acc}]" + (f" <- {sug}" if sug else " (root)")
            branch = "" if top else ("`-- " if last else "|-- ")
            lines.append(prefix + branch + label)
            kids = n.children
            for i, c in enumerate(kids):
                ext = "" if top else ("    " if last else "|   ")
                walk(c, prefix + ext, i == len(kids) - 1, False)

        walk(self.root_id, "", True, True)
        return "\n".join(lines)


def tree_from_payloads(payloads: list[dict[str, Any]]) -> ModificationTree:
    """Fold payloads in order (later ones update earlier ones) into a tree."""
    latest: dict[str, dict[str, Any]] = {}
    order: list[str] = []
    for p in payloads:
        cid = str(p["candidate_id"])
        if cid not in latest:
            order.append(cid)
        latest[cid] = p
    tree = ModificationTree()
    pending = list(order)
    while pending:
        progressed = False
        for cid in list(pending):
            p = latest[cid]
            parent = p.get("parent_id")
            if parent is None or parent in tree.nodes:
                tree.add(
                    TreeNode(
                        cid,
                        parent,
                        str(p.get("suggestion") or ""),
                        str(p.get("state") or "PENDING"),
                        p.get("val_acc"),
                        int(p.get("depth") or 0),
                        str(p.get("agent") or ""),
                        used={str(u) for u in p.get("used") or ()},
                        how=str(p.get("how") or ""),
                        ranking=str(p.get("ranking") or ""),
                    )
                )
                pending.remove(cid)
                progressed = True
        if not progressed:  # orphans (parent never stored): attach nothing, stop
            break
    return tree


def load_tree(store: Any, run_id: str) -> ModificationTree:
    """The modification tree of ``run_id`` from the store's ``events`` table."""
    table = store.read("events", run_id)
    rows = [r for r in table.to_pylist() if r.get("kind") == TREE_EVENT]
    rows.sort(key=lambda r: r.get("created_at") or 0.0)
    return tree_from_payloads([json.loads(r["payload"]) for r in rows])
