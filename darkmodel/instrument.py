"""The instrument: IUVS temperature conversions (telemetry DN to degrees Celsius) and binning names.

Two sensors matter for darks:

* the detector (chip) temperature ``DET_TEMP`` of the science telemetry, linear:
  ``T = -0.0749 * DN + 174.08`` (IUVS L1B pipeline, ``iuvs_dn_to_temp.pro``);
* the case thermistor ``CASE_TEMP`` (and all analog housekeeping temperatures), a split
  fourth-order polynomial ``T = sum(c_i * DN**i)`` with one coefficient set for
  ``DN < 8192`` and one for ``8192 <= DN <= 16383``.

Both run backwards too.  The thermistor inverse is solved numerically on the branch that
contains the temperature (each branch is monotonically decreasing); the public IDL and
Python implementations of that inverse are broken (they evaluate the chip formula, or
return nothing), so this one is tested against the forward polynomial on both branches.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "det_dn_to_celsius",
    "det_celsius_to_dn",
    "case_dn_to_celsius",
    "case_celsius_to_dn",
    "mcp_gain_to_volt",
    "recording_step",
    "CASE_LOW_COEFFS",
    "CASE_HIGH_COEFFS",
    "binning_key",
]

DET_SLOPE = -0.0749
DET_INTERCEPT = 174.08

#: Thermistor polynomial coefficients c0..c4 for 0 <= DN <= 8191.
CASE_LOW_COEFFS = (1.8195, -6.221e-3, 1.6259e-7, -7.3832e-11, -2.9933e-16)
#: Thermistor polynomial coefficients c0..c4 for 8192 <= DN <= 16383.
CASE_HIGH_COEFFS = (450.47, -6.5734e-2, 3.3093e-6, -5.4216e-11, -2.933e-16)
_SPLIT = 8192
_TOP = 16383


def det_dn_to_celsius(dn):
    """Convert detector-temperature DN to degrees Celsius.

    Parameters
    ----------
    dn : array_like
        Raw ``DET_TEMP`` telemetry values (DN).  NaN passes through.

    Returns
    -------
    numpy.ndarray or float
        Temperature in degrees Celsius, ``-0.0749 * dn + 174.08``.

    Examples
    --------
    >>> round(float(det_dn_to_celsius(2622)), 4)
    -22.3078
    """
    return DET_SLOPE * np.asarray(dn, dtype=float) + DET_INTERCEPT


def det_celsius_to_dn(celsius):
    """Convert a detector temperature in degrees Celsius to DN (exact inverse, not rounded).

    Parameters
    ----------
    celsius : array_like
        Temperature in degrees Celsius.

    Returns
    -------
    numpy.ndarray or float
        ``(celsius - 174.08) / -0.0749``; round it to get the integer telemetry value.
    """
    return (np.asarray(celsius, dtype=float) - DET_INTERCEPT) / DET_SLOPE


def _poly(coeffs, x):
    return np.polynomial.polynomial.polyval(x, coeffs)


def case_dn_to_celsius(dn):
    """Convert case-thermistor DN to degrees Celsius with the split polynomial.

    Parameters
    ----------
    dn : array_like
        Raw ``CASE_TEMP`` telemetry values (DN, 0 to 16383).  NaN passes through.

    Returns
    -------
    numpy.ndarray or float
        Temperature in degrees Celsius.  Values below 8192 use the low branch, the rest
        the high branch.

    Examples
    --------
    >>> round(float(case_dn_to_celsius(15954)), 9)
    4.905771794
    """
    x = np.asarray(dn, dtype=float)
    out = np.where(x < _SPLIT, _poly(CASE_LOW_COEFFS, x), _poly(CASE_HIGH_COEFFS, x))
    return out if out.ndim else float(out)


def case_celsius_to_dn(celsius, *, iterations: int = 64):
    """Convert a case temperature in degrees Celsius back to thermistor DN.

    The branch is chosen by the temperature: temperatures above the high branch's value at
    DN 16383 (about +2.25 degC) map into 8192..16383, the rest into 0..8191.  Each branch is
    monotonically decreasing, so the root is bracketed and found by vectorised bisection to
    floating-point precision.

    Parameters
    ----------
    celsius : array_like
        Temperature in degrees Celsius.  NaN passes through.
    iterations : int, optional
        Bisection steps; 64 reaches the resolution of a double over a 8192-DN bracket.

    Returns
    -------
    numpy.ndarray or float
        The (non-integer) DN whose forward conversion gives ``celsius``.

    Raises
    ------
    ValueError
        If a temperature lies outside the range the thermistor can report.
    """
    t = np.asarray(celsius, dtype=float)
    high = t > _poly(CASE_HIGH_COEFFS, _TOP)
    lo = np.where(high, float(_SPLIT), 0.0)
    hi = np.where(high, float(_TOP), float(_SPLIT - 1))
    t_at_lo = np.where(high, _poly(CASE_HIGH_COEFFS, lo), _poly(CASE_LOW_COEFFS, lo))
    t_at_hi = np.where(high, _poly(CASE_HIGH_COEFFS, hi), _poly(CASE_LOW_COEFFS, hi))
    finite = np.isfinite(t)
    bad = finite & ((t > t_at_lo) | (t < t_at_hi))
    if np.any(bad):
        raise ValueError(
            f"case temperature(s) {np.atleast_1d(t[bad])[:5]} degC outside the thermistor range "
            f"[{_poly(CASE_LOW_COEFFS, _SPLIT - 1):.2f}, {_poly(CASE_HIGH_COEFFS, _SPLIT):.2f}] degC"
        )
    for _ in range(iterations):
        mid = 0.5 * (lo + hi)
        t_mid = np.where(high, _poly(CASE_HIGH_COEFFS, mid), _poly(CASE_LOW_COEFFS, mid))
        above = t_mid > t  # decreasing: the root lies at larger DN
        lo = np.where(above, mid, lo)
        hi = np.where(above, hi, mid)
    out = np.where(finite, 0.5 * (lo + hi), np.nan)
    return out if out.ndim else float(out)


def mcp_gain_to_volt(gain_dn):
    """Convert the commanded MCP high voltage from DN to volts.

    Parameters
    ----------
    gain_dn : array_like
        ``MCP_GAIN`` from the Engineering table (DN); 0 for MCP-off darks.

    Returns
    -------
    numpy.ndarray or float
        ``0.244 * gain_dn - 1.83`` volts (``-1.83`` V for MCP-off darks).
    """
    return 0.244 * np.asarray(gain_dn, dtype=float) - 1.83


def recording_step(celsius) -> float:
    """The grid on which detector temperatures were recorded (degC), or 0 where there is none.

    The telemetry records ``DET_TEMP`` in whole DN (0.0749 degC; MUV files often in even DN
    only, 0.15 degC), so a file's true temperature lies anywhere within half a step of the
    recorded one.  The step is the smallest gap between distinct recorded values, accepted
    only if every value lies on its grid (to 0.1 % of a step); temperatures that are not
    on a grid (averaged or already smoothed) give 0.

    Parameters
    ----------
    celsius : array_like
        Recorded detector temperatures (degC).

    Returns
    -------
    float

    Examples
    --------
    >>> recording_step(det_dn_to_celsius(np.array([2590, 2592, 2598, 2610])))
    0.1498
    >>> recording_step([-18.0, -17.93, -17.5123])
    0.0
    """
    values = np.unique(np.round(np.asarray(celsius, float)[np.isfinite(np.asarray(celsius, float))], 6))
    if values.size < 3:
        return 0.0
    gaps = np.diff(values)
    step = float(gaps.min())
    position = (values - values[0]) / step if step > 0 else values
    if step <= 0 or np.any(np.abs(position - np.round(position)) > 1e-3):
        return 0.0
    return round(step, 6)


def binning_key(channel: str, spe_ofs, spe_size, spa_ofs, spa_size, n_spa, n_spe) -> str:
    """The name of a channel x binning set, e.g. ``MUV_2_34_101_80_10x30``.

    Parameters
    ----------
    channel : str
        ``FUV`` or ``MUV``.
    spe_ofs, spe_size, spa_ofs, spa_size : int
        Spectral and spatial offsets and bin sizes (pixels).
    n_spa, n_spe : int
        Spatial and spectral bins.

    Returns
    -------
    str

    Examples
    --------
    >>> binning_key("MUV", 2, 34, 101, 80, 10, 30)
    'MUV_2_34_101_80_10x30'
    """
    return f"{channel}_{int(spe_ofs)}_{int(spe_size)}_{int(spa_ofs)}_{int(spa_size)}_{int(n_spa)}x{int(n_spe)}"
