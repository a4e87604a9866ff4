"""Family labels in time: the hidden Markov smoothing against a simulated state history."""

import numpy as np
import pytest
from scipy import stats

from darkmodel.stats.states import fit_dwell, smooth_posterior


def _history(memory: bool, n=400, seed=0):
    rng = np.random.default_rng(seed)
    hours = np.cumsum(rng.exponential(6.0, n))  # a file every 6 h on average
    state = np.empty(n, int)
    state[0] = 0
    for i in range(1, n):
        if memory:  # dwell 40 h
            flip = rng.random() < 0.5 * (1 - np.exp(-(hours[i] - hours[i - 1]) / 40.0)) * 2
            state[i] = rng.integers(0, 2) if flip else state[i - 1]
        else:
            state[i] = rng.integers(0, 2)
    y = 0.12 * state + 0.05 * rng.standard_normal(n)  # families 2.4 sd apart: they overlap
    emission = np.column_stack([stats.norm.logpdf(y, 0.0, 0.05), stats.norm.logpdf(y, 0.12, 0.05)])
    return hours, state, emission


def test_persistent_states_are_recovered_better_with_their_neighbours():
    hours, state, emission = _history(memory=True)
    tau, gain = fit_dwell(emission, hours, [0.5, 0.5])
    assert 10.0 <= tau <= 300.0 and gain > 20
    raw = (emission.argmax(axis=1) == state).mean()
    smooth = (smooth_posterior(emission, hours, [0.5, 0.5], tau).argmax(axis=1) == state).mean()
    assert raw < 0.95 and smooth > raw + 0.04  # 2.4 sd apart: about one file in ten is misread alone


def test_states_without_memory_are_left_alone():
    hours, state, emission = _history(memory=False, seed=1)
    tau, gain = fit_dwell(emission, hours, [0.5, 0.5])
    assert tau == 0.0 or gain < 5.0
    post = smooth_posterior(emission, hours, [0.5, 0.5], 0.0)
    raw = np.exp(emission - np.logaddexp.reduce(emission, axis=1)[:, None])
    np.testing.assert_allclose(post, raw, rtol=1e-10)


def test_forward_backward_equals_enumerating_every_state_sequence():
    """Posterior and marginal likelihood by brute force over all 2**5 sequences."""
    import itertools

    from darkmodel.stats.states import forward_backward

    rng = np.random.default_rng(3)
    emis = np.log(rng.uniform(0.05, 1.0, (5, 2)))
    stay = rng.uniform(0.5, 0.95, 4)
    trans = np.log(np.stack([np.stack([stay, 1 - stay], -1), np.stack([1 - stay, stay], -1)], 1))
    start = np.log([0.3, 0.7])
    joint = {}
    for seq in itertools.product((0, 1), repeat=5):
        lp = start[seq[0]] + emis[0, seq[0]] + sum(trans[i, seq[i], seq[i + 1]] + emis[i + 1, seq[i + 1]]
                                                    for i in range(4))
        joint[seq] = np.exp(lp)
    total = sum(joint.values())
    expect = np.array([[sum(p for s, p in joint.items() if s[i] == k) / total for k in (0, 1)] for i in range(5)])
    post, loglik = forward_backward(emis, trans, start)
    np.testing.assert_allclose(post, expect, rtol=1e-10)
    assert loglik == pytest.approx(np.log(total), rel=1e-12)
