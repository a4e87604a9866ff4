import numpy as np
import pytest

from darkmodel.instrument import (
    case_celsius_to_dn,
    case_dn_to_celsius,
    det_celsius_to_dn,
    det_dn_to_celsius,
    mcp_gain_to_volt,
)


def test_detector_conversion_matches_reference_values():
    # -0.0749 * DN + 174.08, written out by hand
    assert det_dn_to_celsius(2622) == pytest.approx(-22.3078, abs=1e-9)
    assert det_dn_to_celsius(2576) == pytest.approx(174.08 - 0.0749 * 2576, abs=1e-12)
    assert det_dn_to_celsius(2351) == pytest.approx(-2.0099, abs=1e-4)
    np.testing.assert_allclose(det_celsius_to_dn([-22.3078, -19.911, -19.4616]), [2622, 2590, 2584], atol=1e-9)


def test_case_polynomial_matches_hand_evaluation():
    def poly(c, x):
        return c[0] + c[1] * x + c[2] * x**2 + c[3] * x**3 + c[4] * x**4

    low = (1.8195, -6.221e-3, 1.6259e-7, -7.3832e-11, -2.9933e-16)
    high = (450.47, -6.5734e-2, 3.3093e-6, -5.4216e-11, -2.933e-16)
    assert case_dn_to_celsius(15954) == pytest.approx(4.905771793660, abs=1e-9)
    assert case_dn_to_celsius(15947) == pytest.approx(4.949911262170, abs=1e-9)
    for dn in (0, 1185, 2053, 8191):
        assert case_dn_to_celsius(dn) == pytest.approx(poly(low, dn), rel=1e-12)
    for dn in (8192, 14456, 16382):
        assert case_dn_to_celsius(dn) == pytest.approx(poly(high, dn), rel=1e-12)


def test_case_inverse_is_exact_on_both_branches():
    rng = np.random.default_rng(1)
    dn = np.concatenate([rng.uniform(0, 8191, 500), rng.uniform(8192, 16383, 500)])
    back = case_celsius_to_dn(case_dn_to_celsius(dn))
    np.testing.assert_allclose(back, dn, atol=1e-6)
    assert case_celsius_to_dn(case_dn_to_celsius(1185.0)) == pytest.approx(1185.0, abs=1e-6)
    assert np.isnan(case_celsius_to_dn(np.nan))


def test_case_inverse_recovers_the_integer_dn_of_real_values():
    # the v13 L1B CASE_TEMP_C values are exact images of integer DN
    dn = case_celsius_to_dn([4.905771793660, 4.949911262170, 4.899468290736])
    np.testing.assert_allclose(dn, [15954, 15947, 15955], atol=1e-6)


def test_case_inverse_rejects_unreachable_temperatures():
    with pytest.raises(ValueError, match="outside the thermistor range"):
        case_celsius_to_dn(150.0)
    with pytest.raises(ValueError, match="outside the thermistor range"):
        case_celsius_to_dn(2.0)  # in the gap between the branches


def test_mcp_voltage_table():
    np.testing.assert_allclose(mcp_gain_to_volt([0, 2047, 3477, 3016]), [-1.83, 497.638, 846.558, 734.074], atol=1e-9)
