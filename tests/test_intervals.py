"""PIT recalibration of prediction intervals, against hand-computed maps."""

import numpy as np
import pytest
from scipy import special

from darkmodel.stats.intervals import MIN_ROWS_RECALIBRATION, PIT_GRID, PitCalibration, solve_increasing


def test_uniform_pit_values_leave_probabilities_alone():
    u = np.random.default_rng(4).permutation((np.arange(20_000) + 0.5) / 20_000)
    cal = PitCalibration.from_pit(u, np.linspace(-20, -10, u.size))
    assert len(cal.temperatures) == 3
    assert len(PitCalibration.from_pit(u, np.zeros(u.size)).temperatures) == 1  # one temperature: one bin
    p = np.array([0.025, 0.5, 0.975])
    np.testing.assert_allclose(cal.targets(p, [-15.0])[:, 0], p, atol=0.004)


def test_a_model_too_narrow_is_asked_for_wider_quantiles():
    # the data scatter twice as wide as a unit-normal model: u = Phi(2 z), so the model
    # must be asked for Phi(2 * Phi^-1(p)) to put p of the data below
    rng = np.random.default_rng(0)
    u = special.ndtr(2.0 * rng.standard_normal(60_000))
    cal = PitCalibration.from_pit(u, rng.uniform(-20, -10, u.size))
    for p in (0.025, 0.1, 0.9, 0.975):
        want = special.ndtr(2.0 * special.ndtri(p))
        assert cal.targets([p], [-15.0])[0, 0] == pytest.approx(want, abs=0.004)


def test_the_map_is_local_in_temperature_and_interpolated_between_bins():
    n = 3000
    t = np.concatenate([np.full(n, -20.0), np.full(n, -10.0)])
    grid = (np.arange(n) + 0.5) / n
    u = np.concatenate([grid, grid**2])  # cold files are fine, warm ones run ahead of the model
    cal = PitCalibration.from_pit(u, t, min_rows=n)
    assert cal.temperatures.tolist() == [-20.0, -10.0]
    at = cal.targets([0.25], [-25.0, -20.0, -15.0, -10.0, 0.0])[0]
    np.testing.assert_allclose(at, [0.25, 0.25, (0.25 + 0.0625) / 2, 0.0625, 0.0625], atol=2e-3)


def test_too_few_rows_give_no_map_and_the_map_round_trips():
    assert PitCalibration.from_pit(np.full(MIN_ROWS_RECALIBRATION - 1, 0.5), np.zeros(MIN_ROWS_RECALIBRATION - 1)) is None
    u = np.random.default_rng(1).random(900)
    cal = PitCalibration.from_pit(u, np.linspace(-20, -10, 900))
    back = PitCalibration.from_dict(cal.to_dict())
    np.testing.assert_array_equal(back.quantiles, cal.quantiles)
    assert back.quantiles.shape == (3, PIT_GRID.size)
    assert PitCalibration.from_dict(None) is None
    with pytest.raises(ValueError, match="do not match"):
        PitCalibration.from_dict({"temperatures": [0.0], "quantiles": [[0.5]]})


def test_root_finding_gives_the_normal_quantiles_and_refuses_a_bad_bracket():
    target = np.array([0.025, 0.5, 0.975])
    cdf = lambda v, index: special.ndtr(v)  # noqa: E731
    got = solve_increasing(cdf, np.full(3, -10.0), np.full(3, 10.0), target)
    np.testing.assert_allclose(got, special.ndtri(target), atol=1e-9)
    with pytest.raises(ArithmeticError, match="1 interval bound"):
        solve_increasing(cdf, np.full(3, -10.0), np.array([10.0, 10.0, -9.0]), target)


def test_interp_pair_is_numpys_interp_on_both_tables():
    from darkmodel.stats.intervals import interp_pair

    rng = np.random.default_rng(4)
    grid = np.linspace(-30.0, 5.0, 2048)
    a, b = np.exp(0.09 * grid), rng.normal(size=2048).cumsum()
    x = np.concatenate([rng.uniform(-30.0, 5.0, 100_000), [-30.0, 5.0]])  # both ends included
    lo, hi = interp_pair(x, grid, a, b)
    np.testing.assert_allclose(lo, np.interp(x, grid, a), rtol=1e-12)
    np.testing.assert_allclose(hi, np.interp(x, grid, b), rtol=1e-12, atol=1e-12)
    flat_lo, _ = interp_pair(x, np.array([1.0, 1.0]), np.array([2.0, 2.0]), np.array([3.0, 3.0]))
    assert np.all(flat_lo == 2.0)


def test_root_finding_hands_each_element_its_own_function_as_it_converges():
    shift = np.array([[0.0, 3.0, -7.5], [1.0, 2.0, 40.0]])  # elements converge at different steps
    target = np.array([[0.025, 0.5, 0.975], [0.1, 0.9, 0.5]])
    got = solve_increasing(lambda v, index: special.ndtr(v - shift.ravel()[index]), shift - 50, shift + 50, target)
    np.testing.assert_allclose(got, shift + special.ndtri(target), atol=1e-9)
