"""Probabilistic circuits (HCLT): structure learning, EM, and the incremental
conditionals the codec runs, checked against full marginal queries and brute force."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from lvc.codecs.pc.conditionals import incremental_conditionals, naive_conditionals
from lvc.codecs.pc.hclt import HCLT
from lvc.codecs.pc.structure import Tree, centre, chow_liu_tree, max_spanning_tree
from lvc.errors import BadInputError


def random_tree(d: int, rng) -> Tree:
    parent = np.array([-1] + [int(rng.integers(0, v)) for v in range(1, d)])
    perm = rng.permutation(d)  # relabel so the root and the order are not trivial
    inverse = np.argsort(perm)
    return Tree(np.array([-1 if parent[perm[v]] < 0 else inverse[parent[perm[v]]]
                          for v in range(d)]))


@pytest.mark.parametrize("seed", range(8))
def test_incremental_conditionals_match_marginal_queries(seed):
    """Acceptance 1: on small random PCs the O(|p|) conditionals agree with the
    naive ones from full marginal queries to 1e-12, and sum to 1."""
    rng = np.random.default_rng(seed)
    d, k, h = int(rng.integers(2, 9)), int(rng.integers(2, 5)), int(rng.integers(1, 4))
    model = HCLT.random(random_tree(d, rng), h, k, seed=seed)
    x = rng.integers(0, k, (6, d))
    inc = incremental_conditionals(model, x)
    assert np.abs(inc.sum(-1) - 1).max() < 1e-12
    for n in range(len(x)):
        naive = naive_conditionals(model, x[n])
        assert np.abs(naive - inc[n]).max() < 1e-12
        assert np.abs(naive.sum(-1) - 1).max() < 1e-12


def test_conditionals_match_brute_force_joint():
    rng = np.random.default_rng(42)
    d, k = 5, 3
    model = HCLT.random(random_tree(d, rng), 3, k, seed=1)
    joint = np.array(list(itertools.product(range(k), repeat=d)))
    p = np.exp(model.log_likelihood(joint))
    assert abs(p.sum() - 1) < 1e-12
    x = joint[rng.integers(len(joint), size=4)]
    inc = incremental_conditionals(model, x)
    order = model.tree.order
    for n in range(len(x)):
        for i, v in enumerate(order):
            agree = np.all(joint[:, order[:i]] == x[n, order[:i]], 1)
            exact = np.array([p[agree & (joint[:, v] == value)].sum() for value in range(k)])
            assert np.abs(exact / exact.sum() - inc[n, i]).max() < 1e-12


def test_marginal_of_unobserved_pixels_sums_out():
    rng = np.random.default_rng(3)
    model = HCLT.random(random_tree(6, rng), 2, 3, seed=3)
    joint = np.array(list(itertools.product(range(3), repeat=6)))
    seen = np.zeros(6, bool)
    seen[[1, 4]] = True
    lp = model.log_likelihood(joint, np.broadcast_to(seen, joint.shape))
    full = np.exp(model.log_likelihood(joint))
    for a, b in [(0, 0), (2, 1)]:
        sel = (joint[:, 1] == a) & (joint[:, 4] == b)
        assert np.allclose(np.exp(lp[sel]), full[sel].sum())


def test_chow_liu_recovers_a_chain_and_roots_it_at_the_centre():
    rng = np.random.default_rng(0)
    n, d = 4000, 7
    x = np.zeros((n, d), np.int64)
    x[:, 0] = rng.integers(0, 4, n)
    for v in range(1, d):  # a noisy copy of the previous variable
        x[:, v] = np.where(rng.random(n) < 0.8, x[:, v - 1], rng.integers(0, 4, n))
    perm = rng.permutation(d)
    tree = chow_liu_tree(x[:, perm], values=4, levels=4)
    edges = {tuple(sorted((int(perm[v]), int(perm[p])))) for v, p in enumerate(tree.parent) if p >= 0}
    assert edges == {(v - 1, v) for v in range(1, d)}
    assert perm[tree.root] == 3  # the middle of the chain
    assert sorted(tree.order) == list(range(d))


def test_spanning_tree_and_centre_helpers():
    w = np.array([[0, 5, 1, 0], [5, 0, 4, 0], [1, 4, 0, 3], [0, 0, 3, 0]], float)
    assert sorted(tuple(sorted(e)) for e in max_spanning_tree(w)) == [(0, 1), (1, 2), (2, 3)]
    assert centre([(0, 1), (1, 2), (2, 3)], 4) == 1
    with pytest.raises(BadInputError):
        Tree(np.array([-1, -1, 0]))
    with pytest.raises(BadInputError):
        Tree(np.array([1, 0, -1]))  # a cycle beside the root


def test_em_never_decreases_the_likelihood():
    rng = np.random.default_rng(5)
    x = rng.integers(0, 3, (300, 6))
    x[:, 1] = x[:, 0]
    model = HCLT.random(chow_liu_tree(x, values=3, levels=3), 3, 3, seed=0, data=x)
    last = -np.inf
    for _ in range(8):
        counts, ll = model.expected_counts(x)
        assert ll >= last - 1e-9
        last = ll
        model = model.maximise(counts, pseudocount=0.0)


def test_arrays_round_trip_and_validation():
    rng = np.random.default_rng(1)
    model = HCLT.random(random_tree(5, rng), 2, 4, seed=1)
    again = HCLT.from_arrays(model.to_arrays(np.float64))
    x = rng.integers(0, 4, (10, 5))
    assert np.array_equal(again.log_likelihood(x), model.log_likelihood(x))
    arrays = model.to_arrays()
    assert all(a.flags.c_contiguous for a in arrays.values())
    with pytest.raises(BadInputError):
        HCLT.from_arrays({k: v for k, v in arrays.items() if k != "leaves"})
    bad = dict(arrays, leaves=-arrays["leaves"])
    with pytest.raises(BadInputError):
        HCLT.from_arrays(bad)
