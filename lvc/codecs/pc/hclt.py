"""Hidden Chow-Liu Tree (HCLT): a tree-shaped probabilistic circuit over pixels.

Each pixel ``v`` of a Chow-Liu tree (``structure.py``) gets a hidden variable ``z_v``
with ``H`` states; the circuit is

    p(x) = sum_z prior(z_root) * prod_{v != root} T_v[z_parent(v), z_v] * prod_v L_v[z_v, x_v]

(a sum node over ``H`` per edge, ``H`` categorical leaves over ``K`` values per pixel).
It is smooth and structured-decomposable, so every marginal is one upward pass with
the leaves of unobserved pixels replaced by 1 (their distributions sum to 1).

Everything here is float64 numpy. Training (EM) uses BLAS matrix products; the coder's
conditionals (``conditionals.py``) do not, see there.

Messages are kept normalised per row to avoid underflow; the log scales are summed
to give log-likelihoods.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...errors import BadInputError
from .structure import Tree


@dataclass
class HCLT:
    """Parameters: ``prior`` (H,), ``transition`` (D, H, H) with
    ``transition[v][a, b] = p(z_v = b | z_parent = a)`` (the root's slice is unused and
    kept uniform), ``leaves`` (D, H, K) with ``leaves[v][h, k] = p(x_v = k | z_v = h)``."""

    tree: Tree
    prior: np.ndarray
    transition: np.ndarray
    leaves: np.ndarray

    def __post_init__(self):
        d, h, k = self.leaves.shape if self.leaves.ndim == 3 else (-1, -1, -1)
        if (d != self.tree.size or self.prior.shape != (h,)
                or self.transition.shape != (d, h, h) or h < 1 or k < 2):
            raise BadInputError("HCLT parameters do not fit the tree (expected prior (H,), "
                                "transition (D, H, H), leaves (D, H, K))")
        self.leaves_by_value = np.ascontiguousarray(self.leaves.transpose(0, 2, 1))  # (D, K, H)

    @property
    def variables(self) -> int:
        return self.tree.size

    @property
    def hidden(self) -> int:
        return self.prior.size

    @property
    def values(self) -> int:
        return self.leaves.shape[2]

    @classmethod
    def random(cls, tree: Tree, hidden: int, values: int, seed: int = 0,
               data: np.ndarray | None = None) -> "HCLT":
        """Random parameters, or with ``data`` (N, D) a clustered start: k-means splits
        the images into ``hidden`` groups, hidden state h of every pixel starts as the
        pixel's histogram in group h and the transitions favour keeping the state, so
        EM starts from a mixture of product distributions instead of a symmetric point
        it escapes only slowly."""
        rng = np.random.default_rng(seed)
        d = tree.size
        transition = _normalise(rng.uniform(0.5, 1.5, (d, hidden, hidden)))
        if data is None:
            return cls(tree, _normalise(rng.uniform(0.5, 1.5, hidden)), transition,
                       _normalise(rng.uniform(0.1, 1.0, (d, hidden, values))))
        data = np.asarray(data)
        groups = _kmeans(data.astype(np.float64), hidden, rng)
        cell = (np.arange(d)[None, :] * values + data) * hidden + groups[:, None]
        counts = np.bincount(cell.ravel(), minlength=d * values * hidden)
        leaves = counts.reshape(d, values, hidden).transpose(0, 2, 1) + 0.5
        prior = np.bincount(groups, minlength=hidden) + 1.0
        transition = 0.2 * transition + 0.8 * np.eye(hidden)
        return cls(tree, _normalise(prior), _normalise(transition), _normalise(leaves))

    # ------------------------------------------------------------ passes
    def _leaf(self, v: int, xv: np.ndarray, seen: np.ndarray | None) -> np.ndarray:
        """(N, H) leaf factors of pixel ``v``: ``L_v[:, x_v]``, 1 where unobserved."""
        lam = self.leaves_by_value[v][xv]
        if seen is not None:
            lam = np.where(seen[:, None], lam, 1.0)
        return lam

    def upward(self, x: np.ndarray, seen: np.ndarray | None = None):
        """Upward pass on integer data ``x`` (N, D); ``seen`` (N, D) bool marks observed
        pixels (default all). Returns (lam, mu, log p) with lam[v] the normalised upward
        message of v's subtree at z_v, mu[v] = lam[v] @ T_v^T (unnormalised, at z_parent)
        and log p (N,) the natural log of the marginal probability."""
        x = np.asarray(x)
        n = x.shape[0]
        tree = self.tree
        lam = np.empty((tree.size, n, self.hidden))
        mu = np.empty_like(lam)
        acc = np.ones_like(lam)  # product of the children's normalised messages
        logp = np.zeros(n)
        for v in reversed(tree.order):
            m = self._leaf(v, x[:, v], None if seen is None else seen[:, v]) * acc[v]
            s = m.sum(1, keepdims=True)
            lam[v] = m / s
            logp += np.log(s[:, 0])
            p = tree.parent[v]
            if p >= 0:
                mu[v] = lam[v] @ self.transition[v].T
                t = mu[v].sum(1, keepdims=True)
                acc[p] *= mu[v] / t
                logp += np.log(t[:, 0])
        top = lam[tree.root] @ self.prior
        return lam, mu, logp + np.log(top)

    def log_likelihood(self, x: np.ndarray, seen: np.ndarray | None = None) -> np.ndarray:
        """Natural log of p(x) (or of the marginal of the ``seen`` pixels), (N,)."""
        return self.upward(x, seen)[2]

    def bits_per_dimension(self, x: np.ndarray, batch: int = 1000) -> float:
        x = np.asarray(x)
        total = sum(float(self.log_likelihood(x[i: i + batch]).sum())
                    for i in range(0, x.shape[0], batch))
        return -total / np.log(2) / x.size

    def expected_counts(self, x: np.ndarray) -> tuple:
        """E-step on a batch: expected sufficient statistics (prior (H,), transition
        (D, H, H), leaves (D, H, K)) and the batch's total log-likelihood."""
        x = np.asarray(x)
        lam, mu, logp = self.upward(x)
        tree, h, k = self.tree, self.hidden, self.values
        gamma = np.empty_like(lam)
        r = tree.root
        g = self.prior * lam[r]
        gamma[r] = g / g.sum(1, keepdims=True)
        trans = np.zeros_like(self.transition)
        for v in tree.order[1:]:
            ratio = gamma[tree.parent[v]] / mu[v]  # (N, H) at z_parent
            g = lam[v] * (ratio @ self.transition[v])
            gamma[v] = g
            trans[v] = self.transition[v] * (ratio.T @ lam[v])
        d = tree.size
        # one bincount over (pixel, value, state) cells, gamma in its own (D, N, H) order
        cell = ((np.arange(d)[:, None] * k + x.T) * h)[:, :, None] + np.arange(h)
        leaves = np.bincount(cell.ravel(), gamma.ravel(), minlength=d * k * h)
        leaves = leaves.reshape(d, k, h).transpose(0, 2, 1)
        return (gamma[r].sum(0), trans, leaves), float(logp.sum())

    def maximise(self, counts: tuple, pseudocount: float = 0.1,
                 smooth: tuple | None = None) -> "HCLT":
        """M-step: new parameters from expected counts plus a pseudocount; ``smooth`` =
        ``(lo, hi, sigma, weight)`` first mixes the leaf counts of values ``lo..hi-1``
        with a Gaussian blur of them (``smooth_values``)."""
        prior, trans, leaves = counts
        if smooth is not None:
            leaves = smooth_values(leaves, *smooth)
        trans = trans.copy()
        trans[self.tree.root] = 1.0
        return HCLT(self.tree, _normalise(prior + pseudocount),
                    _normalise(trans + pseudocount), _normalise(leaves + pseudocount))

    def blend(self, other: "HCLT", step: float) -> "HCLT":
        """``(1 - step) * self + step * other`` (mini-batch EM with inertia)."""
        mix = (lambda a, b: (1.0 - step) * a + step * b)
        return HCLT(self.tree, mix(self.prior, other.prior),
                    mix(self.transition, other.transition), mix(self.leaves, other.leaves))

    # ------------------------------------------------------------ storage
    def to_arrays(self, dtype=np.float32) -> dict:
        """C-contiguous arrays (safetensors writes the raw buffer, so a transposed view
        would be stored scrambled)."""
        return {"parent": np.ascontiguousarray(self.tree.parent, np.int32),
                "prior": np.ascontiguousarray(self.prior, dtype),
                "transition": np.ascontiguousarray(self.transition, dtype),
                "leaves": np.ascontiguousarray(self.leaves, dtype)}

    @classmethod
    def from_arrays(cls, arrays: dict) -> "HCLT":
        """Parameters as stored (float32 or float64) widened to float64, not renormalised:
        the coder must see exactly the stored numbers on every machine."""
        try:
            tree = Tree(np.asarray(arrays["parent"], np.int64))
            params = [np.asarray(arrays[n], np.float64) for n in ("prior", "transition", "leaves")]
        except KeyError as e:
            raise BadInputError(f"HCLT arrays lack {e}") from None
        if not all(np.isfinite(p).all() and p.min() >= 0 for p in params):
            raise BadInputError("HCLT parameters must be finite and non-negative")
        return cls(tree, *params)


def smooth_values(counts: np.ndarray, lo: int, hi: int, sigma: float,
                  weight: float) -> np.ndarray:
    """Counts over values (last axis) whose range ``lo..hi-1`` is replaced by
    ``(1 - weight) * counts + weight * blur(counts)``, a Gaussian blur of width ``sigma``
    inside that range only (renormalised at its edges). Why: MNIST's mid-gray pixels are
    anti-aliasing whose exact value is close to noise, and 8,000 images are too few to
    estimate 256 probabilities per hidden state; the spikes outside the range (0, and
    the 250-255 of the strokes) are kept exact. On a validation split of MNIST's training
    images it takes H = 16 from 1.401 to 1.336 bits per pixel (benchmarks/pc_smoothing.py)."""
    if weight <= 0 or hi - lo < 2:
        return counts
    r = max(int(3 * sigma), 1)
    kernel = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    mid = counts[..., lo:hi]
    padded = np.concatenate([np.zeros(mid.shape[:-1] + (r,)), mid,
                             np.zeros(mid.shape[:-1] + (r,))], -1)
    blurred = sum(w * padded[..., j: j + hi - lo] for j, w in enumerate(kernel))
    blurred /= np.convolve(np.ones(hi - lo), kernel, mode="same")
    out = counts.copy()
    out[..., lo:hi] = (1 - weight) * mid + weight * blurred
    return out


def _kmeans(x: np.ndarray, k: int, rng, iterations: int = 10) -> np.ndarray:
    """Group index (N,) of each row of ``x`` after a few Lloyd iterations from rows
    picked at random (empty groups restart on a random row)."""
    centres = x[rng.choice(len(x), size=k, replace=len(x) < k)]
    for _ in range(iterations):
        dist = (x * x).sum(1)[:, None] - 2 * x @ centres.T + (centres * centres).sum(1)
        groups = dist.argmin(1)
        for j in range(k):
            members = x[groups == j]
            centres[j] = members.mean(0) if len(members) else x[rng.integers(len(x))]
    return groups


def _normalise(a: np.ndarray) -> np.ndarray:
    return a / a.sum(-1, keepdims=True)
