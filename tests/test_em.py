"""The compiled EM is the NumPy reference, step for step."""

import numpy as np
import pytest

from darkmodel.stats import em_compiled, mixture
from darkmodel.stats.noise import NoiseModel


@pytest.mark.skipif(not em_compiled.AVAILABLE, reason="numba is not installed")
@pytest.mark.parametrize("k,df,seed,excess", [(1, np.inf, 0, 0.0), (2, np.inf, 1, 0.0), (2, 5.0, 2, 0.0), (3, 3.0, 3, 0.0),
                                              (2, 10.0, 4, 0.0), (2, 7.3, 5, 0.0), (1, np.inf, 6, 0.1), (2, 5.0, 7, 0.1)])
def test_compiled_em_matches_the_numpy_reference(k, df, seed, excess):
    """Gaussian and every Student-t kernel: (df+1)/2 whole (3, 5), a half (10) and neither (7.3); with and
    without the particle excess (files with a one-sided exponential excess, as the simulator's particles)."""
    rng = np.random.default_rng(seed)
    n = 300
    t = rng.uniform(-24, -12, n)
    days = np.sort(rng.uniform(16000, 16120, n))
    counts = rng.choice([1.0, 2.0, 13.4], n)
    state = rng.random(n) < 0.3
    y = np.log(0.33 * 2 ** ((t + 18) / 7.5) * (1 + 0.12 * state)) + 0.01 * rng.standard_t(4, n)
    hit = rng.random(n) < excess
    y[hit] += rng.exponential(0.05, hit.sum())
    cov = mixture.Covariates.for_data(t, days)
    x = cov.matrix(t, days)
    alpha0 = np.linspace(-1.15, -1.0, k)
    coef0 = np.zeros(x.shape[1])
    noise0 = NoiseModel(0.002, 0.02, df, 0.01, excess, 0.03 if excess else 0.0)
    ref = mixture.em_numpy(x, y, counts, alpha0, coef0, noise0, None, -0.5, max_iter=60, tol=-1.0)
    got = mixture.run_em(x, y, counts, alpha0, coef0, noise0, None, -0.5, max_iter=60, tol=-1.0)
    assert got.n_iter == ref.n_iter == 60
    np.testing.assert_allclose(got.alpha, ref.alpha, rtol=1e-9)
    np.testing.assert_allclose(got.coef, ref.coef, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(got.weights, ref.weights, rtol=1e-9)
    np.testing.assert_allclose([got.noise.additive, got.noise.relative], [ref.noise.additive, ref.noise.relative],
                               rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose([got.noise.excess, got.noise.excess_scale], [ref.noise.excess, ref.noise.excess_scale],
                               rtol=1e-9)
    if excess:
        assert em_compiled.EXCESS_COMPILED  # else both sides above were the NumPy reference
        assert got.noise.excess > 0.05  # the excess was fitted, not switched off
    assert got.loglik == pytest.approx(ref.loglik, rel=1e-12)
    np.testing.assert_allclose(got.normal, ref.normal, rtol=1e-9)


def test_the_reference_backend_can_be_chosen(monkeypatch):
    monkeypatch.setattr(mixture, "EM_BACKEND", "numpy")
    rng = np.random.default_rng(0)
    t = rng.uniform(-24, -12, 100)
    y = np.log(0.33 * 2 ** ((t + 18) / 7.5)) + 0.01 * rng.standard_normal(100)
    fit = mixture.fit_mixreg(t, y, 1)
    assert fit.noise.relative == pytest.approx(0.01, rel=0.2)
