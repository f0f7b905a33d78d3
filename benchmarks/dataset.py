"""The benchmark dataset: documents in a folder tree, shared with nested groups.

Pure Python with no Clove import, so the SpiceDB peer script can build the very same data.

- users ``u0..``; groups nested ``depth`` levels (group gK has member group g(K+1)#member);
- a chain of folders ``f0 <- f1 <- ... `` (each folder's parent is the previous one);
- documents in the deepest folders, each with a few direct viewers.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

SCHEMA = """definition user {}

definition group {
    relation member: user | group#member
}

definition folder {
    relation parent: folder
    relation viewer: user | group#member
    permission view = viewer + parent->view
}

definition document {
    relation parent: folder
    relation owner: user
    relation viewer: user | group#member
    permission edit = owner
    permission view = viewer + edit + parent->view
}
"""


@dataclass(frozen=True)
class Dataset:
    relationships: list[str]
    direct: list[tuple[str, str, str]]  # (resource, permission, subject) answered by one relation
    deep: list[tuple[str, str, str]]  # through the folder chain and nested groups
    negative: list[tuple[str, str, str]]  # no permission
    lookup_subjects: list[str]  # users for lookup_resources


def build(
    total: int,
    *,
    questions: int = 1000,
    seed: int = 7,
    group_depth: int = 8,
    folder_depth: int = 8,
) -> Dataset:
    """About ``total`` relationships."""
    rng = random.Random(seed)
    users = max(100, total // 20)
    rels: list[str] = []
    # Nested groups: g0 contains g1 contains ... g(depth-1); users spread over the leaves.
    groups = max(10, total // 200)
    chains = max(1, groups // group_depth)
    for chain in range(chains):
        for level in range(group_depth - 1):
            rels.append(f"group:c{chain}g{level}#member@group:c{chain}g{level + 1}#member")
    # Folder chains: the root folder of each chain is viewable by a top group.
    folder_chains = max(1, total // 2000)
    for chain in range(folder_chains):
        rels.append(f"folder:c{chain}f0#viewer@group:c{chain % chains}g0#member")
        for level in range(1, folder_depth):
            rels.append(f"folder:c{chain}f{level}#parent@folder:c{chain}f{level - 1}")
    leaf_members: dict[int, list[int]] = {}
    remaining = total - len(rels)
    documents = max(10, remaining // 4)
    for d in range(documents):
        chain = d % folder_chains
        rels.append(f"document:d{d}#parent@folder:c{chain}f{folder_depth - 1}")
        rels.append(f"document:d{d}#owner@user:u{rng.randrange(users)}")
        rels.append(f"document:d{d}#viewer@user:u{rng.randrange(users)}")
    while len(rels) < total:
        chain = rng.randrange(chains)
        user = rng.randrange(users)
        leaf_members.setdefault(chain, []).append(user)
        rels.append(f"group:c{chain}g{group_depth - 1}#member@user:u{user}")
    rels = list(dict.fromkeys(rels))

    direct = []
    deep = []
    negative = []
    for _ in range(questions):
        d = rng.randrange(documents)
        direct.append((f"document:d{d}", "view", _viewer_of(rels, d)))
        chain = (d % folder_chains) % chains
        members = leaf_members.get(chain) or [0]
        deep.append((f"document:d{d}", "view", f"user:u{rng.choice(members)}"))
        negative.append((f"document:d{d}", "view", f"user:nobody{rng.randrange(1000)}"))
    lookup = [f"user:u{rng.randrange(users)}" for _ in range(20)]
    return Dataset(rels, direct, deep, negative, lookup)


_viewer_cache: dict[int, dict[int, str]] = {}


def _viewer_of(rels: list[str], d: int) -> str:
    key = id(rels)
    table = _viewer_cache.get(key)
    if table is None:
        table = {}
        for rel in rels:
            if rel.startswith("document:") and "#viewer@user:" in rel:
                doc, _, subject = rel.partition("#viewer@")
                table[int(doc[len("document:d") :])] = subject
        _viewer_cache[key] = table
    return table[d]
