"""The joint physical law of one channel across integration times.

``DN_per_s = offset / t + exp(p + q (T - T0))``: the per-read offset ``offset`` (DN/pixel)
is why DN/s differs between INT_TIMEs at the same temperature (reference section 5.6).
Fitted by robust non-linear least squares (``scipy.optimize.least_squares``, soft-L1 loss).
It is *identified* only with at least two INT_TIMEs :data:`MIN_INT_TIME_RATIO` apart over
a temperature span of at least :data:`MIN_TEMPERATURE_SPAN`; otherwise it says why.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import optimize, special

from .mixture import REFERENCE_TEMPERATURE
from .noise import robust_scale

__all__ = ["JointModel", "fit_joint", "MIN_TEMPERATURE_SPAN", "MIN_INT_TIME_RATIO"]

#: Smallest temperature span (degC) over which a slope of the dark rate is identified.
MIN_TEMPERATURE_SPAN = 2.0
#: Smallest ratio of the longest to the shortest INT_TIME for the read offset to be identified.
MIN_INT_TIME_RATIO = 1.5
#: Probabilities at which the law's residual quantiles are kept (:attr:`JointModel.residual_quantiles`).
QUANTILE_LEVELS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.975, 0.99, 0.995)
_LN2 = math.log(2.0)


@dataclass
class JointModel:
    """``DN_per_s = offset / t + exp(p + q (T - T0))`` for one channel.

    Attributes
    ----------
    offset, p, q : float
        Read offset (DN/pixel per read), log dark current at ``T0`` and its slope (1/degC).
    cov : numpy.ndarray
        Covariance of ``(offset, p, q)``.
    scale : float
        Robust scale of the relative residuals.
    n_rows : int
        Rows fitted.
    int_times : list of int
        INT_TIMEs that entered the fit (ms).
    spread_explained : float
        Share of the between-INT_TIME spread of the no-offset model's residuals that the
        offset term removes (1 = all of it).
    identified : bool
        Whether the data identify the model (see the module docstring).
    reason : str
        Why not, in words (empty when identified).
    temp_range : tuple of float
        Fitted temperature range (degC).
    scatter_additive : float
        Additive scatter of an integration about the law, in DN/pixel per read (its share of
        DN/s falls as ``1/t``: read noise); NaN until :meth:`with_scatter`.
    scatter_relative : float
        Relative scatter of an integration about the law (fraction of the rate).
    group_bias : float
        Spread of the fitted INT_TIMEs' own levels about the law (relative, rms): what an
        INT_TIME that was never fitted may be off by.
    residual_quantiles : dict
        ``int_times`` (ms) and ``q``: for each fitted INT_TIME, the quantiles at
        :data:`QUANTILE_LEVELS` of its rows' residuals about the law, in units of the
        scatter :meth:`predictive_sd` gives them: the shape of the scatter (heavy tails, the
        one-sided excess of particle hits, which grows with the exposure, an INT_TIME's own
        offset from the law) that a Gaussian would miss.  Empty until
        :meth:`with_scatter` (then Gaussian).
    """

    offset: float
    p: float
    q: float
    cov: np.ndarray
    scale: float
    n_rows: int
    int_times: list
    spread_explained: float
    identified: bool = True
    reason: str = ""
    temp_range: tuple = (float("nan"), float("nan"))
    scatter_additive: float = float("nan")
    scatter_relative: float = float("nan")
    group_bias: float = float("nan")
    residual_quantiles: dict = field(default_factory=dict)

    def standard_quantile(self, p, int_time_ms: float) -> np.ndarray:
        """Quantile ``p`` of a new integration's residual about the law, in units of :meth:`predictive_sd`.

        The fitted INT_TIMEs' own residual quantiles, interpolated in ``log t`` to
        ``int_time_ms`` (the nearest fitted INT_TIME's beyond them), between the first and
        the last of :data:`QUANTILE_LEVELS` (beyond them the Gaussian's, scaled to meet
        them); the Gaussian's where none were measured.

        Parameters
        ----------
        p : array_like
            Probabilities in (0, 1).
        int_time_ms : float
            Integration time (ms).

        Returns
        -------
        numpy.ndarray
        """
        p = np.asarray(p, float)
        gauss = special.ndtri(p)
        if not self.residual_quantiles:
            return gauss
        times = np.log(np.asarray(self.residual_quantiles["int_times"], float))
        table = np.asarray(self.residual_quantiles["q"], float)
        where = np.log(float(int_time_ms))
        q = np.array([np.interp(where, times, table[:, j]) for j in range(table.shape[1])])
        inside = np.interp(p, QUANTILE_LEVELS, q)
        low = gauss * q[0] / special.ndtri(QUANTILE_LEVELS[0])
        high = gauss * q[-1] / special.ndtri(QUANTILE_LEVELS[-1])
        return np.where(p < QUANTILE_LEVELS[0], low, np.where(p > QUANTILE_LEVELS[-1], high, inside))

    @property
    def offset_err(self) -> float:
        """Standard error of the offset."""
        return float(np.sqrt(self.cov[0, 0]))

    @property
    def doubling_temperature(self) -> float:
        """Temperature rise (degC) that doubles the dark current, ``ln 2 / q``."""
        return float(_LN2 / self.q) if self.q else float("inf")

    def predict(self, temperature, int_time_ms) -> np.ndarray:
        """Dark rate (DN/s/pixel) of the nominal state.

        Parameters
        ----------
        temperature : array_like
            Detector temperature (degC).
        int_time_ms : array_like or float
            Integration time (ms).

        Returns
        -------
        numpy.ndarray
            ``offset / t + exp(p + q (T - T0))``.
        """
        d = np.asarray(temperature, float) - REFERENCE_TEMPERATURE
        return self.offset / (np.asarray(int_time_ms, float) / 1000.0) + np.exp(self.p + self.q * d)

    def predictive_sd(self, temperature, int_time_ms) -> np.ndarray:
        """Standard deviation of a new integration's rate about the law (DN/s/pixel).

        The measured scatter of the fitted INT_TIMEs about the law (:meth:`with_scatter`:
        additive in DN per read, so growing as ``1/t`` in DN/s, plus relative, plus the
        spread of the fitted INT_TIMEs' own levels about the law) and the uncertainty of
        the law's parameters; for a model saved before that scatter was measured, the
        robust relative scale of the fit's residuals.

        Parameters
        ----------
        temperature : array_like
            Detector temperature (degC).
        int_time_ms : array_like or float
            Integration time (ms).

        Returns
        -------
        numpy.ndarray
        """
        d = np.asarray(temperature, float) - REFERENCE_TEMPERATURE
        e = np.exp(self.p + self.q * d)
        secs = np.asarray(int_time_ms, float) / 1000.0
        grad = np.stack([np.broadcast_to(1.0 / secs, d.shape), e, e * d], axis=-1)
        var = np.maximum(np.einsum("...i,ij,...j->...", grad, np.nan_to_num(self.cov), grad), 0.0)
        rate = self.predict(temperature, int_time_ms)
        if not np.isfinite(self.scatter_additive):
            return np.sqrt((self.scale * rate) ** 2 + var)
        scatter = (self.scatter_additive / secs) ** 2 + (self.scatter_relative**2 + self.group_bias**2) * rate**2
        return np.sqrt(scatter + var)

    def with_scatter(self, temperature, dn_per_s, int_time_ms) -> "JointModel":
        """The model with its scatter about the law measured on rows of the nominal state.

        Per fitted INT_TIME ``t``: the robust variance of the residuals (DN/s) and their
        median relative bias.  The variances are fitted by non-negative least squares as
        ``A / t**2 + B * rate**2`` (read noise is additive in DN, so its share of DN/s
        falls as ``1/t``; gain and temperature scatter are proportional), and the biases
        give the rms spread of the INT_TIMEs' own levels about the law.

        Parameters
        ----------
        temperature, dn_per_s, int_time_ms : array_like
            Rows of the nominal state (degC, DN/s/pixel, ms).

        Returns
        -------
        JointModel
            A copy with ``scatter_additive``, ``scatter_relative`` and ``group_bias``.
        """
        from dataclasses import replace

        t = np.asarray(temperature, float)
        y = np.asarray(dn_per_s, float)
        ms = np.asarray(int_time_ms, float)
        pred = self.predict(t, ms)
        frame = pd.DataFrame({"ms": ms, "r": y - pred, "rel": y / pred - 1.0, "pred2": pred**2})
        per = frame.groupby("ms").agg(var=("r", lambda r: robust_scale(r) ** 2), bias=("rel", "median"),
                                      pred2=("pred2", "mean"), n=("r", "size"))
        per = per[per["n"] >= 5]
        if per.empty:
            return self
        design = np.column_stack([1.0 / (per.index.to_numpy(float) / 1000.0) ** 2, per["pred2"].to_numpy()])
        scale = per["var"].to_numpy()  # relative least squares: every INT_TIME counts alike
        coef, _ = optimize.nnls(design / scale[:, None], np.ones(len(per)))
        bias2 = float(np.mean(per["bias"].to_numpy() ** 2)) if len(per) > 1 else 0.0
        out = replace(self, scatter_additive=float(np.sqrt(coef[0])), scatter_relative=float(np.sqrt(coef[1])),
                      group_bias=float(np.sqrt(bias2)))
        # the shape per INT_TIME: each row's residual about the law in units of the scatter that
        # predictive_sd gives it (its INT_TIME's own offset from the law included)
        scatter = np.sqrt((out.scatter_additive / (ms / 1000.0)) ** 2
                          + (out.scatter_relative**2 + out.group_bias**2) * pred**2)
        z = pd.Series(frame["r"].to_numpy() / np.where(scatter > 0, scatter, np.nan), index=ms).dropna()
        shapes = {int(round(t)): np.quantile(zt.to_numpy(), QUANTILE_LEVELS) for t, zt in z.groupby(level=0)
                  if len(zt) >= 50}
        if shapes:
            out = replace(out, residual_quantiles={"int_times": sorted(shapes),
                                                   "q": [[float(v) for v in shapes[t]] for t in sorted(shapes)]})
        return out

    def to_dict(self) -> dict:
        """Plain JSON-able data."""
        return {"offset": self.offset, "p": self.p, "q": self.q, "cov": np.asarray(self.cov).tolist(),
                "scale": self.scale, "n_rows": self.n_rows, "int_times": [int(i) for i in self.int_times],
                "spread_explained": self.spread_explained, "identified": self.identified, "reason": self.reason,
                "temp_range": [float(v) for v in self.temp_range], "scatter_additive": self.scatter_additive,
                "scatter_relative": self.scatter_relative, "group_bias": self.group_bias,
                "residual_quantiles": self.residual_quantiles}

    @classmethod
    def from_dict(cls, d: dict) -> "JointModel":
        """Rebuild from :meth:`to_dict` data."""
        return cls(d["offset"], d["p"], d["q"], np.asarray(d["cov"], float), d["scale"], d["n_rows"],
                   list(d["int_times"]), d["spread_explained"], bool(d["identified"]), d["reason"],
                   tuple(d["temp_range"]), float(d.get("scatter_additive", float("nan"))),
                   float(d.get("scatter_relative", float("nan"))), float(d.get("group_bias", float("nan"))),
                   dict(d.get("residual_quantiles") or {}))


def fit_joint(temperature, dn_per_s, int_time_ms, *, min_temperature_span: float = MIN_TEMPERATURE_SPAN) -> JointModel:
    """Fit the joint offset model of one channel by robust non-linear least squares.

    Parameters
    ----------
    temperature : array_like
        Detector temperature (degC).
    dn_per_s : array_like
        Dark rate (DN/s/pixel), nominal state.
    int_time_ms : array_like
        Integration time of each row (ms).
    min_temperature_span : float, optional
        Smallest temperature span (degC) for the slope to be identified.

    Returns
    -------
    JointModel
        Parameters, covariance (from the Jacobian and the robust residual scale), the share
        of the INT_TIME spread explained by the offset and whether the data identify it.
    """
    t = np.asarray(temperature, float)
    y = np.asarray(dn_per_s, float)
    secs = np.asarray(int_time_ms, float) / 1000.0
    d = t - REFERENCE_TEMPERATURE
    int_times = sorted({int(round(s * 1000)) for s in secs})
    problems = []
    if len(int_times) < 2 or max(int_times) / min(int_times) < MIN_INT_TIME_RATIO:
        problems.append(f"INT_TIME {', '.join(map(str, int_times))} ms only: the read offset is not separable "
                        f"from the dark current (needs two INT_TIMEs a factor {MIN_INT_TIME_RATIO:g} apart)")
    span = float(np.ptp(t)) if len(t) else 0.0
    if span < min_temperature_span:
        problems.append(f"temperature span {span:.2f} degC < {min_temperature_span:g} degC: the slope is not identified")
    if len(y) < 10:
        problems.append(f"{len(y)} rows (needs 10)")

    def model(theta):
        return theta[0] / secs + np.exp(theta[1] + theta[2] * d)

    def resid(theta):
        return (y - model(theta)) / model(theta)

    low = np.quantile(y, 0.2)
    start = np.array([0.5 * low * np.median(secs), np.log(max(0.5 * low, 1e-3)), 0.09])
    bounds = ([0.0, -20.0, -1.0], [np.inf, 20.0, 1.0])
    if len(y) >= 3:
        first = optimize.least_squares(resid, start, loss="soft_l1", f_scale=0.05, bounds=bounds)
        scale = max(robust_scale(first.fun), 1e-4)
        sol = optimize.least_squares(resid, first.x, loss="soft_l1", f_scale=scale, bounds=bounds)
        theta, jac, fun = sol.x, sol.jac, sol.fun
    else:
        theta, jac, fun = start, np.zeros((max(len(y), 1), 3)), np.zeros(max(len(y), 1))
    scale = max(robust_scale(fun), 1e-6)
    try:
        cov = np.linalg.inv(jac.T @ jac) * scale**2
    except np.linalg.LinAlgError:
        cov = np.full((3, 3), np.nan)

    def spread(res):
        frame = pd.DataFrame({"r": res, "t": secs})
        return float(frame.groupby("t")["r"].median().var(ddof=0)) if frame["t"].nunique() > 1 else float("nan")

    explained = float("nan")
    if len(int_times) > 1 and len(y) >= 3:
        no_offset = optimize.least_squares(lambda th: (y - np.exp(th[0] + th[1] * d)) / np.exp(th[0] + th[1] * d),
                                           theta[1:], loss="soft_l1", f_scale=scale)
        before, after = spread(no_offset.fun), spread(fun)
        explained = float(1.0 - after / before) if before and np.isfinite(before) and before > 0 else float("nan")
    return JointModel(float(theta[0]), float(theta[1]), float(theta[2]), cov, float(scale), int(len(y)), int_times,
                      explained, not problems, "; ".join(problems),
                      (float(t.min()), float(t.max())) if len(t) else (float("nan"), float("nan")))
