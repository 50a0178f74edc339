"""Conditionals ``p(x_v | pixels coded before v)`` of an HCLT, for coding.

**Incremental (what the codec runs).** Pixels are coded in the tree's pre-order. When
pixel ``v`` (parent ``p``) is next, the coded pixels are ``p``'s ancestors, ``p``
itself and the whole subtrees of ``v``'s earlier siblings (and of the ancestors'
earlier siblings). So with, per node on the current root path,

- ``alpha[u]`` ~ p(z_u, pixels coded before u), set when u is reached, and
- ``lam[u]``   ~ p(x_u, completed child subtrees of u | z_u), grown as children finish,

the next pixel's hidden state is ``alpha[v] ~ (alpha[p] * lam[p]) @ T_v`` and its
conditional is the mixture ``alpha[v] @ L_v``: all K values in one pass, an H x K
product. A finished subtree ``w`` folds into its parent as ``lam[p] *= T_w @ lam[w]``.
Each node is reached once and folded once, so a whole image costs O(|p|), one
upward pass, where the naive way below costs one pass per pixel, O(D * |p|).

**Determinism.** Encoder and decoder must produce bit-identical probabilities on any
machine and thread count. The products here are written as a fixed sequence of
elementwise numpy multiplies and adds over the hidden states (IEEE-754 exactly
rounded, no BLAS, no reduction whose order depends on the CPU), and the mixtures are
handed to constriction unnormalised (it normalises them itself, deterministically).

**Naive (reference and benchmark).** ``naive_conditionals`` asks the circuit for the
marginal ``p(x_<v, x_v = k)`` of every value k with a full upward pass per pixel.
"""

from __future__ import annotations

import numpy as np

from .hclt import HCLT


def _combine(a: np.ndarray, m: np.ndarray) -> np.ndarray:
    """``a @ m`` for ``a`` (N, H), ``m`` (H, M) as a fixed-order sum over H."""
    out = a[:, :1] * m[0]
    tmp = np.empty_like(out)
    for h in range(1, m.shape[0]):
        np.multiply(a[:, h: h + 1], m[h], out=tmp)
        out += tmp
    return out


def _normalise(a: np.ndarray) -> np.ndarray:
    """Rows of ``a`` divided by their sum, summed in a fixed order."""
    s = a[:, 0].copy()
    for h in range(1, a.shape[1]):
        s += a[:, h]
    return a / s[:, None]


class Conditionals:
    """Step through the pixels of a batch of ``n`` images in coding order:
    ``v, mixture = next()`` gives the next pixel and its (N, K) unnormalised
    conditional; ``observe(values)`` records that pixel's values (N,)."""

    def __init__(self, model: HCLT, n: int):
        self.model = model
        self.order = model.tree.order
        self.parent = model.tree.parent.tolist()
        self.n = n
        self.alpha: dict = {}
        self.lam: dict = {}
        self.path: list = []  # nodes reached whose subtree is not finished, root first
        self.step = 0

    def _fold(self, w: int) -> None:
        """Node ``w``'s subtree is complete: multiply its message into its parent."""
        m = self.model
        p = self.parent[w]
        up = _combine(self.lam.pop(w), m.transition[w].T)  # at z_p
        self.alpha.pop(w)
        self.lam[p] = _normalise(self.lam[p] * up)

    def hidden(self) -> tuple:
        """``(v, alpha_v)``: the next pixel and its hidden-state weights (N, H)."""
        v = self.order[self.step]
        p = self.parent[v]
        while self.path and self.path[-1] != p:
            self._fold(self.path.pop())
        m = self.model
        if p < 0:
            a = np.broadcast_to(m.prior, (self.n, m.hidden)).copy()
        else:
            a = _normalise(_combine(self.alpha[p] * self.lam[p], m.transition[v]))
        self.alpha[v] = a
        return v, a

    def next(self) -> tuple:
        v, a = self.hidden()
        return v, mixture(self.model, v, a)

    def observe(self, values: np.ndarray) -> None:
        v = self.order[self.step]
        self.lam[v] = _normalise(self.model.leaves_by_value[v][np.asarray(values)])
        self.path.append(v)
        self.step += 1


def mixture(model: HCLT, v: int, alpha: np.ndarray) -> np.ndarray:
    """Unnormalised conditional (N, K) of pixel ``v`` given its hidden weights."""
    return _combine(alpha, model.leaves[v])


def incremental_conditionals(model: HCLT, x: np.ndarray) -> np.ndarray:
    """Normalised conditionals (N, D, K) of data ``x`` (N, D), in coding order."""
    x = np.asarray(x)
    steps = Conditionals(model, x.shape[0])
    out = np.empty((x.shape[0], model.variables, model.values))
    for i in range(model.variables):
        v, mix = steps.next()
        out[:, i] = mix / mix.sum(1, keepdims=True)
        steps.observe(x[:, v])
    return out


def naive_conditionals(model: HCLT, x: np.ndarray, count: int | None = None) -> np.ndarray:
    """Conditionals (D, K) of one image ``x`` (D,) from full marginal queries:
    for the i-th pixel v in coding order, ``p(x_<v, x_v = k)`` for all k by one
    upward pass over a batch of K copies that differ in ``x_v``. ``count`` limits it
    to the first pixels (for timing)."""
    x = np.asarray(x)
    d, k = model.variables, model.values
    order = model.tree.order[: count or d]
    seen = np.zeros((k, d), bool)
    batch = np.broadcast_to(x, (k, d)).copy()
    out = np.empty((len(order), k))
    for i, v in enumerate(order):
        batch[:, v] = np.arange(k)
        seen[:, v] = True
        logp = model.log_likelihood(batch, seen)
        p = np.exp(logp - logp.max())
        out[i] = p / p.sum()
        batch[:, v] = x[v]
    return out
