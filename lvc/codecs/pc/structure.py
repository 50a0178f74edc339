"""Chow-Liu tree over pixels: the structure of a Hidden Chow-Liu Tree (HCLT).

Pairwise mutual information is estimated on pixels truncated to ``levels`` values
(16 by default, as the paper) with a pseudocount; the maximum spanning tree of the
MI graph (Prim's algorithm, O(D^2), numpy) is rooted at its centre, the node whose
farthest node is nearest, so the tree is as shallow as it can be.

A ``Tree`` stores ``parent`` (-1 for the root) and the pre-order (DFS) visiting
order, children in increasing index order: the order the codec codes pixels in.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...errors import BadInputError


@dataclass(frozen=True)
class Tree:
    """A rooted tree over D variables."""

    parent: np.ndarray  # (D,) int64, -1 at the root

    def __post_init__(self):
        p = np.asarray(self.parent)
        d = p.size
        roots = np.flatnonzero(p == -1)
        if p.ndim != 1 or d < 1 or roots.size != 1 or p.min() < -1 or p.max() >= d:
            raise BadInputError("a tree needs exactly one root (-1) and parents in 0..D-1")
        if len(self.order) != d:
            raise BadInputError("the parent array has a cycle: not a tree")

    @property
    def size(self) -> int:
        return int(self.parent.size)

    @property
    def root(self) -> int:
        return int(np.flatnonzero(self.parent == -1)[0])

    @property
    def children(self) -> list:
        out = [[] for _ in range(self.size)]
        for v, p in enumerate(self.parent.tolist()):
            if p >= 0:
                out[p].append(v)
        return out

    @property
    def order(self) -> list:
        """Pre-order (DFS) from the root; children in increasing index order."""
        children, out, stack = self.children, [], [self.root]
        while stack and len(out) <= self.size:
            v = stack.pop()
            out.append(v)
            stack.extend(reversed(children[v]))
        return out


def mutual_information(x: np.ndarray, levels: int = 16, values: int = 256,
                       pseudocount: float = 0.1) -> np.ndarray:
    """(D, D) pairwise mutual information (nats) of integer data ``x`` (N, D) in
    ``0..values-1``, truncated to ``levels`` values per pixel."""
    x = np.asarray(x)
    n, d = x.shape
    t = (x.astype(np.int64) * levels // values).astype(np.int64)  # 0..levels-1
    single = np.stack([np.bincount(t[:, i], minlength=levels) for i in range(d)]) + pseudocount
    single /= single.sum(1, keepdims=True)
    mi = np.zeros((d, d))
    offsets = np.arange(d, dtype=np.int64) * levels * levels
    for i in range(d - 1):
        # joint counts of (x_i, x_j) for every j at once: one bincount over all pairs
        codes = (t[:, i, None] * levels + t[:, i + 1:]) + offsets[None, : d - i - 1]
        joint = np.bincount(codes.ravel(), minlength=(d - i - 1) * levels * levels)
        joint = joint.reshape(d - i - 1, levels, levels) + pseudocount / levels
        joint /= joint.sum((1, 2), keepdims=True)
        outer = single[i][None, :, None] * single[i + 1:][:, None, :]
        mi[i, i + 1:] = (joint * np.log(joint / outer)).sum((1, 2))
    return mi + mi.T


def max_spanning_tree(weights: np.ndarray) -> list:
    """Edges ``(u, v)`` of a maximum spanning tree of a dense symmetric weight matrix
    (Prim's algorithm; ties go to the lowest index, so the result is deterministic)."""
    d = weights.shape[0]
    in_tree = np.zeros(d, bool)
    in_tree[0] = True
    best = weights[0].astype(np.float64).copy()
    link = np.zeros(d, np.int64)
    edges = []
    for _ in range(d - 1):
        v = int(np.argmax(np.where(in_tree, -np.inf, best)))
        edges.append((int(link[v]), v))
        in_tree[v] = True
        better = weights[v] > best
        best = np.where(better, weights[v], best)
        link = np.where(better, v, link)
    return edges


def centre(edges: list, d: int) -> int:
    """The node minimising the distance to the farthest node (the middle of a longest
    path; the lower-indexed of two middles)."""
    adj = [[] for _ in range(d)]
    for u, v in edges:
        adj[u].append(v)
        adj[v].append(u)

    def bfs(s):
        dist, prev, queue = {s: 0}, {s: -1}, [s]
        for u in queue:
            for w in adj[u]:
                if w not in dist:
                    dist[w], prev[w] = dist[u] + 1, u
                    queue.append(w)
        far = max(dist, key=lambda k: (dist[k], -k))
        return far, dist[far], prev

    a, _, _ = bfs(0)
    b, length, prev = bfs(a)
    path = [b]
    while path[-1] != a:
        path.append(prev[path[-1]])
    middle = path[length // 2], path[(length + 1) // 2]
    return min(middle)


def rooted(edges: list, d: int, root: int) -> Tree:
    adj = [[] for _ in range(d)]
    for u, v in edges:
        adj[u].append(v)
        adj[v].append(u)
    parent = np.full(d, -2, np.int64)
    parent[root] = -1
    queue = [root]
    for u in queue:
        for w in adj[u]:
            if parent[w] == -2:
                parent[w] = u
                queue.append(w)
    return Tree(parent)


def chow_liu_tree(x: np.ndarray, values: int = 256, levels: int = 16,
                  pseudocount: float = 0.1) -> Tree:
    """The Chow-Liu tree of data ``x`` (N, D), rooted at its centre."""
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[0] < 1 or x.shape[1] < 1:
        raise BadInputError(f"structure learning needs data of shape (N, D), got {x.shape}")
    d = x.shape[1]
    edges = max_spanning_tree(mutual_information(x, min(levels, values), values, pseudocount))
    return rooted(edges, d, centre(edges, d) if d > 1 else 0)
