"""Prediction intervals: probability-integral-transform (PIT) recalibration and bisection.

The families' noise model describes the scatter of *file medians*.  A single integration
scatters more in ways the medians hide (a particle hit in one frame, a read of a warm
transient), so an interval built from the noise model alone can cover less than it says.
The fix is the recalibration of Kuleshov, Fenner & Ermon (2018, "Accurate uncertainties
for deep learning using calibrated regression"): evaluate the model's predictive CDF at
every fitted integration, ``u_i = F(y_i)``; if the model were right the ``u_i`` would be
uniform.  Their empirical quantile function ``R^{-1}`` maps a requested probability to the
one the model must be asked for, so the interval of level ``L`` is
``[F^{-1}(R^{-1}((1-L)/2)), F^{-1}(R^{-1}((1+L)/2))]``.  The shape of ``F`` (its widening
away from the data, its temperature dependence) is kept; only its probabilities are
corrected.  The map is local in temperature (up to :data:`PIT_BINS` bins, interpolated),
because a misfit of the scatter's shape differs between cold and warm files; below
:data:`MIN_ROWS_RECALIBRATION` integrations there is no map.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["PIT_GRID", "PIT_BINS", "MIN_ROWS_RECALIBRATION", "PitCalibration", "solve_increasing", "interp_pair"]

#: Probabilities at which the empirical quantiles of the PIT values are stored.
PIT_GRID = np.concatenate([[0.0005, 0.001, 0.0025, 0.005], np.linspace(0.01, 0.99, 99),
                           [0.995, 0.9975, 0.999, 0.9995]])
#: Fewest fitted integrations per temperature bin of the recalibration.
MIN_ROWS_RECALIBRATION = 200
#: Most temperature bins: the scatter's misfit may differ between cold and warm.
PIT_BINS = 3
_U_CLIP = 1e-7


@dataclass
class PitCalibration:
    """Recalibration of a predictive distribution, local in temperature.

    The PIT values are split into up to :data:`PIT_BINS` temperature bins of at least
    ``min_rows`` integrations each; each bin keeps its empirical quantiles at
    :data:`PIT_GRID`, and a requested probability is mapped in every bin and interpolated
    linearly in temperature between the bins' median temperatures (constant beyond).

    Attributes
    ----------
    temperatures : numpy.ndarray
        Median temperature (degC) of each bin, increasing.
    quantiles : numpy.ndarray
        Shape ``(n_bins, len(PIT_GRID))``: the bins' non-decreasing PIT quantiles.
    """

    temperatures: np.ndarray
    quantiles: np.ndarray

    @classmethod
    def from_pit(cls, u, temperature, min_rows: int = MIN_ROWS_RECALIBRATION) -> "PitCalibration | None":
        """Build from PIT values ``F(y_i)`` and their temperatures; ``None`` if too few.

        Parameters
        ----------
        u : array_like
            The predictive CDF at every fitted integration (non-finite values are ignored).
        temperature : array_like
            Their detector temperatures (degC).
        min_rows : int, optional
            Fewest integrations per temperature bin.

        Returns
        -------
        PitCalibration or None

        Examples
        --------
        >>> u = np.linspace(0, 1, 1001) ** 2  # a model whose CDF runs ahead of the data
        >>> cal = PitCalibration.from_pit(u, np.zeros(u.size), min_rows=1001)
        >>> round(float(cal.targets([0.25], [0.0])[0, 0]), 3)  # asked 0.25, it must be given 0.0625
        0.062
        """
        u, t = np.asarray(u, float), np.asarray(temperature, float)
        ok = np.isfinite(u) & np.isfinite(t)
        u, t = u[ok], t[ok]
        n_bins = min(PIT_BINS, u.size // max(int(min_rows), 1))
        if n_bins < 1:
            return None
        order = np.argsort(t, kind="stable")
        bins = np.array_split(order, n_bins)
        if len(np.unique([np.median(t[b]) for b in bins])) < n_bins:  # no spread in T to be local in
            bins = [order]
        quantiles = np.array([np.maximum.accumulate(np.quantile(np.clip(u[b], _U_CLIP, 1 - _U_CLIP), PIT_GRID))
                              for b in bins])
        return cls(np.array([np.median(t[b]) for b in bins]), quantiles)

    def targets(self, p, temperature) -> np.ndarray:
        """The probabilities to ask the model for so that ``p`` of new integrations fall below.

        Parameters
        ----------
        p : array_like
            Requested probabilities (0 < p < 1), shape ``(m,)``.
        temperature : array_like
            Temperatures (degC), shape ``(n,)``.

        Returns
        -------
        numpy.ndarray
            Shape ``(m, n)``: ``R^{-1}(p)`` at each temperature.
        """
        p = np.atleast_1d(np.asarray(p, float))
        t = np.atleast_1d(np.asarray(temperature, float))
        grid = np.concatenate([[0.0], PIT_GRID, [1.0]])
        per_bin = np.array([np.interp(p, grid, np.concatenate([[0.0], q, [1.0]])) for q in self.quantiles])
        if len(self.temperatures) == 1:
            out = np.repeat(per_bin[0][:, None], t.size, axis=1)
        else:
            out = np.array([np.interp(t, self.temperatures, per_bin[:, j]) for j in range(p.size)])
        return np.clip(out, _U_CLIP, 1 - _U_CLIP)

    def to_dict(self) -> dict:
        """Plain JSON-able data."""
        return {"temperatures": [float(v) for v in self.temperatures],
                "quantiles": [[float(v) for v in row] for row in self.quantiles]}

    @classmethod
    def from_dict(cls, d: dict | None) -> "PitCalibration | None":
        """Rebuild from :meth:`to_dict` data (``None`` stays ``None``)."""
        if d is None:
            return None
        q = np.asarray(d["quantiles"], float)
        if q.ndim != 2 or q.shape[1] != PIT_GRID.size or len(d["temperatures"]) != q.shape[0]:
            raise ValueError("PIT calibration: quantiles do not match the grid")
        return cls(np.asarray(d["temperatures"], float), q)


def solve_increasing(cdf, lo, hi, target, xatol: float = 1e-11) -> np.ndarray:
    """Where the increasing ``cdf`` crosses ``target`` between ``lo`` and ``hi``, elementwise.

    SciPy's vectorised bracketing root finder (Chandrupatla's method,
    :func:`scipy.optimize.elementwise.find_root`): about a dozen evaluations of ``cdf``
    where bisection to the same tolerance takes forty.

    Parameters
    ----------
    cdf : callable
        ``cdf(v, index)``: increasing in ``v``, elementwise; ``index`` holds the flat
        positions (in an array shaped like ``lo``) of the elements of ``v``, which are those
        still being solved, in any shape.
    lo, hi : numpy.ndarray
        Brackets with ``cdf(lo) <= target <= cdf(hi)``.
    target : float or numpy.ndarray
        Level(s) to solve for.
    xatol : float, optional
        Absolute tolerance on the crossing point.

    Returns
    -------
    numpy.ndarray
        The crossing points.

    Raises
    ------
    ArithmeticError
        If a bracket does not contain its target (a defect of the caller's brackets).

    Examples
    --------
    >>> from scipy import special
    >>> cdf = lambda v, index: special.ndtr(v)
    >>> round(float(solve_increasing(cdf, np.array([-5.0]), np.array([5.0]), 0.975)[0]), 4)
    1.96
    """
    from scipy.optimize import elementwise

    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    shape = np.broadcast_shapes(lo.shape, hi.shape)
    target = np.broadcast_to(np.asarray(target, float), shape)
    index = np.arange(int(np.prod(shape))).reshape(shape)  # find_root passes only the unsolved elements on
    res = elementwise.find_root(lambda v, t, i: cdf(v, i) - t, (lo, hi), args=(target, index),
                                tolerances={"xatol": xatol, "xrtol": 0.0})
    if not np.all(res.success):
        raise ArithmeticError(f"{int(np.sum(~res.success))} interval bound(s) not bracketed (status "
                              f"{sorted(set(np.asarray(res.status)[~res.success].tolist()))})")
    return res.x


def _interp_pair_py(x, x0, step, a, b, out_a, out_b):  # pragma: no cover - compiled by numba
    last = a.shape[0] - 2
    inv = 1.0 / step
    for i in range(x.shape[0]):
        pos = (x[i] - x0) * inv
        j = int(pos)
        if j < 0:
            j = 0
        elif j > last:
            j = last
        w = pos - j
        out_a[i] = a[j] + (a[j + 1] - a[j]) * w
        out_b[i] = b[j] + (b[j + 1] - b[j]) * w


_INTERP_PAIR: Any = None  # the compiled kernel, False without numba, None before the first call


def interp_pair(x, grid, a, b) -> tuple[np.ndarray, np.ndarray]:
    """``np.interp(x, grid, a), np.interp(x, grid, b)`` in one pass, for an evenly spaced grid.

    The index of each point comes from arithmetic instead of a binary search, and both
    tables share it; compiled with numba where it imports (the NumPy expression otherwise).
    Points are expected inside the grid (beyond it the end segments extend linearly).

    Parameters
    ----------
    x : array_like
        Points.
    grid : numpy.ndarray
        Evenly spaced, increasing abscissae (at least two).
    a, b : numpy.ndarray
        Values on the grid.

    Returns
    -------
    tuple of numpy.ndarray
        The two interpolated arrays.

    Examples
    --------
    >>> g = np.linspace(0.0, 1.0, 5)
    >>> lo, hi = interp_pair([0.1, 0.6], g, g**2, 2 * g)
    >>> lo.round(4).tolist(), hi.round(4).tolist()
    ([0.025, 0.375], [0.2, 1.2])
    """
    global _INTERP_PAIR
    x = np.ascontiguousarray(x, float).ravel()
    a, b = np.ascontiguousarray(a, float), np.ascontiguousarray(b, float)
    step = (grid[-1] - grid[0]) / (len(grid) - 1)
    if step <= 0:
        return np.full(x.shape, a[0]), np.full(x.shape, b[0])
    if _INTERP_PAIR is None:
        try:
            from ..compiled import jit

            _INTERP_PAIR = jit(_interp_pair_py, nogil=True)
        except ImportError:  # pragma: no cover - numba is a dependency
            _INTERP_PAIR = False
    if _INTERP_PAIR is False:  # pragma: no cover
        pos = (x - grid[0]) / step
        j = np.clip(pos.astype(np.int64), 0, len(grid) - 2)
        w = pos - j
        return a[j] + (a[j + 1] - a[j]) * w, b[j] + (b[j + 1] - b[j]) * w
    out_a, out_b = np.empty_like(x), np.empty_like(x)
    _INTERP_PAIR(x, float(grid[0]), float(step), a, b, out_a, out_b)
    return out_a, out_b
