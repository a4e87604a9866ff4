"""A group's predictive distribution, against formulas worked by hand with SciPy's normal CDF."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import special

from darkmodel.model.group import GroupFit
from darkmodel.stats.mixture import Covariates, MixtureFit
from darkmodel.stats.noise import NoiseModel

T = np.array([-22.0, -18.0, -12.5])


def _group(intercepts, weights, offset=2.0, int_time=4200):
    # log dark current = a_k + 0.09 (T + 18); scatter 0.004 additive (at one count) and 2 % relative
    mixture = MixtureFit(np.array(intercepts), np.array([0.09]), Covariates(1), NoiseModel(0.004, 0.02),
                         np.array(weights), 0.0, 100, -1.0, offset=offset)
    return GroupFit("MUV", int_time, 400, 100, "fitted", (-24.0, -10.0), mixture)


def test_one_family_interval_is_the_closed_form():
    g = _group([-1.0], [1.0])
    mu = -1.0 + 0.09 * (T + 18.0)
    sd = np.sqrt(0.004**2 * np.exp(-2 * mu) + 0.02**2)   # no covariance stored: no parameter uncertainty
    z = special.ndtri(0.975)
    base = 2.0 / 4.2                                      # the read offset per second
    lo, hi = g.interval(T, 0.95, None, [0], None)
    np.testing.assert_allclose(lo, base + np.exp(mu - z * sd), rtol=1e-12)
    np.testing.assert_allclose(hi, base + np.exp(mu + z * sd), rtol=1e-12)
    got_mu, got_sd = g.log_predictive(T, 0)
    np.testing.assert_allclose(got_mu, mu, rtol=1e-12)
    np.testing.assert_allclose(got_sd, sd, rtol=1e-12)
    assert g.days(None, T.size) is None and g.days("2015-01-01", T.size) is None  # no time trend


def test_mixture_interval_puts_the_level_between_its_bounds():
    g = _group([-1.0, -0.85], [0.7, 0.3])
    lo, hi = g.interval(T, 0.9, None, [0, 1], None)
    base = 2.0 / 4.2

    def cdf(rate):  # the mixture of the two log-normal families, by hand
        v = np.log(rate - base)
        out = 0.0
        for a, w in ((-1.0, 0.7), (-0.85, 0.3)):
            mu = a + 0.09 * (T + 18.0)
            out = out + w * special.ndtr((v - mu) / np.sqrt(0.004**2 * np.exp(-2 * mu) + 0.02**2))
        return out

    np.testing.assert_allclose(cdf(lo), 0.05, atol=1e-9)
    np.testing.assert_allclose(cdf(hi), 0.95, atol=1e-9)
    one_lo, one_hi = g.interval(T, 0.9, None, [1], None)   # the upper family alone sits higher
    assert np.all(one_lo > lo) and np.all(one_hi > hi)


def test_a_group_round_trips_through_its_dict():
    g = _group([-1.0], [1.0])
    g.selection = pd.DataFrame({"K": [1], "p_value": [math.nan]})
    back = GroupFit.from_dict(g.to_dict())
    np.testing.assert_allclose(back.interval(T, 0.95, None, [0], None), g.interval(T, 0.95, None, [0], None),
                               rtol=1e-12)
    assert back.fitted and back.int_time == 4200


@pytest.mark.parametrize("level", [0.5, 0.99])
def test_wider_level_wider_interval(level):
    g = _group([-1.0, -0.85], [0.5, 0.5])
    lo, hi = g.interval(T, level, None, [0, 1], None)
    lo95, hi95 = g.interval(T, 0.95, None, [0, 1], None)
    assert np.all((lo < lo95) == (level > 0.95)) and np.all((hi > hi95) == (level > 0.95))


def test_the_period_at_each_temperature_by_hand():
    from darkmodel.model.group import GroupFit

    g = GroupFit("MUV", 4200, 100, 100, "fitted", (-20.0, -15.0))
    temps = np.repeat([-20.0, -19.0, -18.0, -17.0, -16.0], 20)  # five bins of 20 files each
    days = np.repeat([100.0, 110.0, 120.0, 130.0, 140.0], 20) + np.tile(np.arange(20.0), 5) / 10
    g.record_period(days, temps)
    assert g.time_range == (100.0, 141.9)
    grids, weights = g.period_grid(np.array([-100.0, -19.0, -18.5, 30.0]))
    assert len(grids) == 5 and np.allclose(weights.sum(axis=0), 1.0)
    centres = 0.5 * (np.asarray(g.period_by_temperature["edges"])[:-1] + np.asarray(g.period_by_temperature["edges"])[1:])
    _, at_centre = g.period_grid(centres)
    assert np.allclose(at_centre, np.eye(5))  # at a bin's centre: that bin's times only
    assert weights[0, 0] == 1.0 and weights[4, 3] == 1.0  # beyond the ends: the end bins
    assert grids[1].min() >= 110.0 and grids[1].max() <= 112.0  # the times of the files near -19 degC
