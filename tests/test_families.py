"""families.py on synthetic arrays: the likelihood by hand, both sides of every selection
rule, and the GMM baseline against scikit-learn's own BIC."""

import math

import numpy as np
import pytest
from scipy import stats

from darkmodel.stats import bootstrap, gmm, mixture
from darkmodel.stats import families as F


def _line(n=500, seed=0, relative=0.01, contrast=0.0, share=0.4):
    rng = np.random.default_rng(seed)
    t = rng.uniform(-24, -12, n)
    state = (rng.random(n) < share).astype(float) if contrast else np.zeros(n)
    y = math.log(0.33) + math.log(2) / 7.5 * (t + 18) + math.log1p(contrast) * state + relative * rng.standard_normal(n)
    return t, y, state


def test_the_log_likelihood_and_bic_by_hand():
    t, y, _ = _line(n=400, seed=1)
    fit = mixture.fit_mixreg(t, y, 1, df=math.inf)
    mu = fit.mean_log_rate(t)[:, 0]
    sd = np.sqrt(fit.noise.variance(mu, 1.0))
    eps = fit.noise.contamination
    by_hand = np.sum(np.log((1 - eps) * stats.norm.pdf(y, mu, sd) + eps * math.exp(fit.log_background)))
    assert fit.loglik == pytest.approx(by_hand, rel=1e-9)
    n_params = 1 + len(fit.coef) + 2  # intercept, shape, two noise components
    assert fit.bic == pytest.approx(-2 * by_hand + n_params * math.log(len(y)), rel=1e-9)


def test_the_gmm_baseline_bic_is_scikit_learns():
    from sklearn.mixture import GaussianMixture

    t, y, _ = _line(n=300, seed=2, contrast=0.15)
    rate = np.exp(y)
    for k in (1, 2):
        fit = gmm.fit_gmm(t, rate, k, random_state=0)
        data = np.column_stack([t, y])
        centre, scale = data.mean(axis=0), data.std(axis=0)
        sk = GaussianMixture(k, covariance_type="full", random_state=0, n_init=3).fit((data - centre) / scale)
        # the same fit on standardised data; the BIC differs only by the Jacobian of the scaling
        expected = sk.bic((data - centre) / scale) + 2 * len(y) * np.log(scale).sum()
        assert fit.bic == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("contrast,expected_k", [(0.0, 1), (0.15, 2)])
def test_the_bootstrap_test_says_no_on_one_state_and_yes_on_two(contrast, expected_k):
    t, y, state = _line(n=300, seed=3, contrast=contrast)
    sel = F.select_families(t, y, n_boot=59, alpha=0.05, random_state=4)
    assert sel.k == expected_k, sel.reason
    row = sel.table[sel.table["K"] == 2].iloc[0]
    assert (row["p_value"] < 0.05) == (expected_k == 2)


def test_separation_rule_both_sides():
    # two states 3 % apart with 1 % scatter: significant but only 3 sd apart
    t, y, _ = _line(n=600, seed=5, contrast=0.03, relative=0.01)
    strict = F.select_families(t, y, n_boot=59, alpha=0.05, min_separation=4.0, random_state=6)
    loose = F.select_families(t, y, n_boot=59, alpha=0.05, min_separation=1.5, random_state=6)
    assert strict.k == 1 and "apart" in strict.reason
    assert loose.k == 2, loose.reason


def test_smallest_family_rules_both_sides():
    # a second state in 4 % of 300 files (12 files): kept with a 10-file floor, refused with 20 or a 5 % weight
    t, y, state = _line(n=300, seed=7, contrast=0.2, share=0.04)
    kept = F.select_families(t, y, n_boot=59, alpha=0.05, min_files=10, min_weight=0.02, random_state=8)
    few = F.select_families(t, y, n_boot=59, alpha=0.05, min_files=20, min_weight=0.02, random_state=8)
    light = F.select_families(t, y, n_boot=59, alpha=0.05, min_files=10, min_weight=0.05, random_state=8)
    assert kept.k == 2, kept.reason
    assert few.k == 1 and light.k == 1
    assert few.reason != kept.reason


def test_monte_carlo_floor_both_sides():
    with pytest.raises(ValueError, match="cannot reject"):
        bootstrap.check_monte_carlo(19, 0.05)
    bootstrap.check_monte_carlo(39, 0.05)


def test_log_dark_current_removes_the_offset_by_hand():
    # DN/s 2.0 at 4.2 s with an offset of 1.26 DN per read: 2.0 - 1.26 / 4.2 = 1.7
    assert mixture.log_dark_current(2.0, 4200, 1.26) == pytest.approx(math.log(1.7))
