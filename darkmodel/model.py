"""``DarkRateModel``: dark-rate families per channel and INT_TIME, fitted, saved, predicted.

The model has three layers, fitted in this order by :meth:`DarkRateModel.fit`:

1. **The joint physical model per channel**, across integration times:
   ``DN_per_s = offset / t + exp(p + q (T - T0))`` -- the per-read offset ``offset``
   (DN/pixel) is why DN/s differs between INT_TIMEs at the same temperature (reference
   section 5.6).  Fitted by robust non-linear least squares (``scipy.optimize.least_squares``,
   soft-L1 loss) on the lowest family of every group.
2. **The families per group** (``XUV``, ``INT_TIME``): a mixture of parallel regressions of
   the log dark current (see :mod:`darkmodel.families`), K chosen by BIC.
3. **A robust regression per family** (statsmodels ``RLM``, Huber's T): three forms --
   ``exponential`` (``log DN/s = a + b T``), ``offset-exponential``
   (``log(DN/s - offset/t) = a + b T``) and ``linear`` (``DN/s = a + b T``) -- and the one
   with the smallest robust scale (1.4826 MAD) of relative residuals is kept (the physical
   offset-exponential form whenever it is within 5 % of the smallest).

Predictions come from the family regressions; an INT_TIME that was never fitted is predicted
from the joint model and flagged.  Models are saved as JSON with a schema version, a
checksum and provenance -- never as pickles.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import optimize, special, stats

from .storage import atomic_write
from .families import REFERENCE_TEMPERATURE, MixtureFit, log_dark_current, select_families

__all__ = ["DarkRateModel", "fit", "ModelFileError", "UnfittedIntTimeWarning", "SCHEMA_VERSION", "FORMS"]

SCHEMA_VERSION = 1
FORMS = ("exponential", "offset-exponential", "linear")
#: Relative margin within which the physical offset-exponential form is preferred.
FORM_TOLERANCE = 0.05
_LN2 = np.log(2.0)
_GRID_ABOVE, _GRID_POINTS = 4096, 2048


class ModelFileError(ValueError):
    """A model file that cannot be loaded: malformed, truncated, tampered or of a wrong schema."""


class UnfittedIntTimeWarning(UserWarning):
    """A prediction for an INT_TIME that was never fitted, taken from the joint model."""


# --------------------------------------------------------------------------------------
# the joint offset model
# --------------------------------------------------------------------------------------
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
    """

    offset: float
    p: float
    q: float
    cov: np.ndarray
    scale: float
    n_rows: int
    int_times: list
    spread_explained: float

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

    def to_dict(self) -> dict:
        return {"offset": self.offset, "p": self.p, "q": self.q, "cov": np.asarray(self.cov).tolist(),
                "scale": self.scale, "n_rows": self.n_rows, "int_times": [int(i) for i in self.int_times],
                "spread_explained": self.spread_explained}

    @classmethod
    def from_dict(cls, d: dict) -> "JointModel":
        return cls(d["offset"], d["p"], d["q"], np.asarray(d["cov"], float), d["scale"], d["n_rows"],
                   list(d["int_times"]), d["spread_explained"])


def _mad(x) -> float:
    x = np.asarray(x, float)
    return float(1.4826 * np.median(np.abs(x - np.median(x)))) if len(x) else float("nan")


def fit_joint(temperature, dn_per_s, int_time_ms) -> JointModel:
    """Fit the joint offset model of one channel by robust non-linear least squares.

    Parameters
    ----------
    temperature : array_like
        Detector temperature (degC).
    dn_per_s : array_like
        Dark rate (DN/s/pixel), nominal state.
    int_time_ms : array_like
        Integration time of each row (ms).

    Returns
    -------
    JointModel
        Parameters, covariance (from the Jacobian and the robust residual scale) and the share
        of the INT_TIME spread explained by the offset.
    """
    t = np.asarray(temperature, float)
    y = np.asarray(dn_per_s, float)
    secs = np.asarray(int_time_ms, float) / 1000.0
    d = t - REFERENCE_TEMPERATURE

    def model(theta):
        return theta[0] / secs + np.exp(theta[1] + theta[2] * d)

    def resid(theta):
        return (y - model(theta)) / model(theta)

    low = np.quantile(y, 0.2)
    start = np.array([0.5 * low * np.median(secs), np.log(max(0.5 * low, 1e-3)), 0.09])
    first = optimize.least_squares(resid, start, loss="soft_l1", f_scale=0.05,
                                   bounds=([0.0, -20.0, -1.0], [np.inf, 20.0, 1.0]))
    scale = max(_mad(first.fun), 1e-4)
    sol = optimize.least_squares(resid, first.x, loss="soft_l1", f_scale=scale,
                                 bounds=([0.0, -20.0, -1.0], [np.inf, 20.0, 1.0]))
    jac = sol.jac
    scale = max(_mad(sol.fun), 1e-6)
    try:
        cov = np.linalg.inv(jac.T @ jac) * scale**2
    except np.linalg.LinAlgError:
        cov = np.full((3, 3), np.nan)

    # how much of the INT_TIME spread the offset explains
    def spread(res):
        frame = pd.DataFrame({"r": res, "t": secs})
        return float(frame.groupby("t")["r"].median().var(ddof=0)) if frame["t"].nunique() > 1 else float("nan")

    no_offset = optimize.least_squares(lambda th: (y - np.exp(th[0] + th[1] * d)) / np.exp(th[0] + th[1] * d),
                                       sol.x[1:], loss="soft_l1", f_scale=scale)
    before, after = spread(no_offset.fun), spread(sol.fun)
    explained = float(1.0 - after / before) if before and np.isfinite(before) and before > 0 else float("nan")
    return JointModel(float(sol.x[0]), float(sol.x[1]), float(sol.x[2]), cov, float(scale), int(len(y)),
                      sorted({int(round(s * 1000)) for s in secs}), explained)


# --------------------------------------------------------------------------------------
# one family's robust regression
# --------------------------------------------------------------------------------------
@dataclass
class FamilyCurve:
    """A robust regression of one family's dark rate on temperature.

    Attributes
    ----------
    form : str
        One of :data:`FORMS`.
    params : numpy.ndarray
        ``(a, b)`` of the chosen form.
    cov : numpy.ndarray
        Their covariance (statsmodels ``bcov_scaled``).
    scale : float
        Robust residual scale in the fitted space.
    offset_rate : float
        ``offset / t`` (DN/s) subtracted for the offset-exponential form (else 0).
    n_rows : int
        Rows fitted.
    weight : float
        The family's mixture weight.
    criterion : dict
        Robust relative-residual scale of every form tried.
    """

    form: str
    params: np.ndarray
    cov: np.ndarray
    scale: float
    offset_rate: float
    n_rows: int
    weight: float
    criterion: dict

    @property
    def doubling_temperature(self) -> float:
        """``ln 2 / b`` for the exponential forms (NaN for the linear form)."""
        return float(_LN2 / self.params[1]) if self.form != "linear" and self.params[1] else float("nan")

    def _fit_space(self, temperature, *, with_se: bool = True):
        d = np.asarray(temperature, float).ravel() - REFERENCE_TEMPERATURE
        mean = self.params[0] + self.params[1] * d
        if not with_se:
            return mean, None
        c = self.cov  # x' C x for x = (1, d)
        se = np.sqrt(np.maximum(c[0, 0] + 2.0 * c[0, 1] * d + c[1, 1] * d * d, 0.0))
        return mean, se

    def _back(self, v):
        if self.form == "linear":
            return v
        return np.exp(v) + (self.offset_rate if self.form == "offset-exponential" else 0.0)

    def predict(self, temperature) -> np.ndarray:
        """Expected dark rate (DN/s/pixel) at each temperature.

        For the log forms this is the mean of the log-normal predictive, ``exp(m + s**2/2)``.

        Parameters
        ----------
        temperature : array_like
            Detector temperature (degC).

        Returns
        -------
        numpy.ndarray
            Expected DN/s.
        """
        mean, _ = self._fit_space(temperature, with_se=False)
        if self.form == "linear":
            return mean
        return self._back(mean + 0.5 * self.scale**2)

    def predictive_sd(self, temperature) -> tuple[np.ndarray, np.ndarray]:
        """Centre and standard deviation of the predictive in the fitted space."""
        mean, se = self._fit_space(temperature)
        return mean, np.sqrt(self.scale**2 + se**2)

    def cdf(self, value, temperature) -> np.ndarray:
        """Predictive probability that the dark rate is below ``value`` (DN/s)."""
        mean, sd = self.predictive_sd(temperature)
        v = np.asarray(value, float)
        if self.form == "exponential":
            v = np.log(np.maximum(v, 1e-300))
        elif self.form == "offset-exponential":
            v = np.log(np.maximum(v - self.offset_rate, 1e-300))
        return special.ndtr((v - mean) / sd)

    def interval(self, temperature, level: float) -> tuple[np.ndarray, np.ndarray]:
        """Central prediction interval (DN/s) at ``level``."""
        mean, sd = self.predictive_sd(temperature)
        z = special.ndtri(0.5 + level / 2.0)
        return self._back(mean - z * sd), self._back(mean + z * sd)

    def to_dict(self) -> dict:
        return {"form": self.form, "params": np.asarray(self.params).tolist(), "cov": np.asarray(self.cov).tolist(),
                "scale": self.scale, "offset_rate": self.offset_rate, "n_rows": self.n_rows, "weight": self.weight,
                "criterion": self.criterion, "doubling_temperature": _finite_or_none(self.doubling_temperature)}

    @classmethod
    def from_dict(cls, d: dict) -> "FamilyCurve":
        return cls(d["form"], np.asarray(d["params"], float), np.asarray(d["cov"], float), d["scale"],
                   d["offset_rate"], d["n_rows"], d["weight"], d["criterion"])


def _finite_or_none(x):
    return None if x is None or not np.isfinite(x) else float(x)


def fit_family_curve(temperature, dn_per_s, *, offset_rate: float, weight: float) -> FamilyCurve:
    """Fit the three forms with statsmodels RLM and keep the best.

    Parameters
    ----------
    temperature, dn_per_s : array_like
        Detector temperature (degC) and dark rate (DN/s/pixel) of one family.
    offset_rate : float
        ``offset / t`` from the joint model (DN/s), for the offset-exponential form.
    weight : float
        The family's mixture weight (stored with the curve).

    Returns
    -------
    FamilyCurve
        The form with the smallest robust scale (1.4826 MAD) of the relative residuals
        ``(DN/s - fit) / fit``; the physical offset-exponential form wins whenever its scale
        is within :data:`FORM_TOLERANCE` (5 %) of the smallest.
    """
    t = np.asarray(temperature, float)
    y = np.asarray(dn_per_s, float)
    x = sm.add_constant(t - REFERENCE_TEMPERATURE, has_constant="add")
    candidates = {}
    spaces = {"exponential": (np.log(np.maximum(y, 1e-300)), y > 0),
              "offset-exponential": (np.log(np.maximum(y - offset_rate, 1e-300)), y > offset_rate),
              "linear": (y, np.ones_like(y, bool))}
    for form, (target, usable) in spaces.items():
        if usable.sum() < 3 or (form == "offset-exponential" and offset_rate <= 0):
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = sm.RLM(target[usable], x[usable], M=sm.robust.norms.HuberT()).fit()
        curve = FamilyCurve(form, np.asarray(res.params), np.asarray(res.bcov_scaled), float(res.scale),
                            float(offset_rate if form == "offset-exponential" else 0.0), int(usable.sum()),
                            float(weight), {})
        fitted = curve._back(x @ curve.params)
        candidates[form] = (curve, _mad((y - fitted) / fitted))
    if not candidates:
        raise ValueError("a family needs at least 3 rows with positive dark rate")
    criterion = {form: float(c[1]) for form, c in candidates.items()}
    best = min(candidates, key=lambda f: candidates[f][1])
    physical = "offset-exponential"
    if physical in candidates and candidates[physical][1] <= (1.0 + FORM_TOLERANCE) * candidates[best][1]:
        best = physical  # within tolerance of the best: keep the physical form
    curve = candidates[best][0]
    curve.criterion = criterion
    return curve


# --------------------------------------------------------------------------------------
# the model
# --------------------------------------------------------------------------------------
@dataclass
class GroupFit:
    """Everything fitted for one (XUV, INT_TIME) group."""

    xuv: str
    int_time: int
    n_rows: int
    n_files: int
    status: str
    criteria: pd.DataFrame | None = None
    mixture: MixtureFit | None = None
    curves: list | None = None

    @property
    def fitted(self) -> bool:
        return self.status == "fitted"


class DarkRateModel:
    """Dark-rate families per channel and integration time, in scikit-learn style.

    Parameters
    ----------
    method : {'mixreg', 'gmm'}, optional
        Family finder: the mixture of parallel regressions (default) or the 2-D Gaussian
        mixture baseline.
    k_max : int, optional
        Largest number of families tried per group.
    min_files : int, optional
        Groups with fewer dark files are reported as too small instead of fitted.
    min_weight : float, optional
        Smallest admissible family weight.
    n_init : int, optional
        EM starts per number of families.
    seed : int, optional
        Random seed.

    Attributes
    ----------
    joint_ : dict of str to JointModel
        The joint offset model per channel.
    groups_ : dict of (str, int) to GroupFit
        The fitted groups.
    provenance : dict
        Package version, input, time and row counts (filled by :meth:`fit` and :func:`fit`).
    """

    def __init__(self, method: str = "mixreg", k_max: int = 3, min_files: int = 8, min_weight: float = 0.05,
                 n_init: int = 6, seed: int = 0):
        if method not in ("mixreg", "gmm"):
            raise ValueError(f"method must be 'mixreg' or 'gmm', not {method!r}")
        self.method = method
        self.k_max = k_max
        self.min_files = min_files
        self.min_weight = min_weight
        self.n_init = n_init
        self.seed = seed
        self.joint_: dict = {}
        self.groups_: dict = {}
        self.provenance: dict = {}
        self.flipflop: pd.DataFrame | None = None

    # ---------------------------------------------------------------- fitting
    def fit(self, calibrated: pd.DataFrame) -> "DarkRateModel":
        """Fit the joint models, the families and the family curves.

        Parameters
        ----------
        calibrated : pandas.DataFrame
            Output of :func:`darkmodel.calibrate` (rows with an ``exclusion`` are ignored):
            ``XUV``, ``INT_TIME`` (ms), ``DET_TEMP`` (degC), ``DN_per_s`` and, if present,
            ``FILENAME`` (integrations of one file share their family).

        Returns
        -------
        DarkRateModel
            ``self``.
        """
        data = _usable(calibrated)
        self.joint_, self.groups_ = {}, {}
        for channel, rows in data.groupby("XUV", sort=True):
            joint = fit_joint(rows["DET_TEMP"], rows["DN_per_s"], rows["INT_TIME"])
            groups = self._fit_groups(channel, rows, joint.offset, n_init=2)  # a first look
            nominal = _nominal_rows(rows, groups)
            if len(nominal) >= 10:  # refit on the lowest family only, then the families again
                joint = fit_joint(nominal["DET_TEMP"], nominal["DN_per_s"], nominal["INT_TIME"])
            groups = self._fit_groups(channel, rows, joint.offset, n_init=self.n_init)
            self.joint_[str(channel)] = joint
            for g in groups:
                self.groups_[(g.xuv, g.int_time)] = g
        self.provenance.update({
            "package_version": _version(), "fitted_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "n_rows_input": int(len(calibrated)), "n_rows_used": int(len(data)),
        })
        return self

    def _fit_groups(self, channel, rows: pd.DataFrame, offset: float, n_init: int) -> list:
        out = []
        for int_time, g in rows.groupby("INT_TIME", sort=True):
            files = g["FILENAME"].to_numpy() if "FILENAME" in g.columns else None
            n_files = int(pd.unique(files).size) if files is not None else len(g)
            group = GroupFit(str(channel), int(int_time), int(len(g)), n_files, "fitted")
            if n_files < self.min_files or len(g) < 10:
                group.status = f"too small to fit ({n_files} files, {len(g)} rows; need {self.min_files} files)"
                out.append(group)
                continue
            mixture, criteria = select_families(
                g["DET_TEMP"], g["DN_per_s"], int_time=g["INT_TIME"], offset=offset,
                files=files if self.method == "mixreg" else None, method=self.method, k_max=self.k_max,
                min_weight=self.min_weight, n_init=n_init, seed=self.seed)
            group.mixture, group.criteria = mixture, criteria
            labels = self._labels(mixture, g)
            offset_rate = offset / (int_time / 1000.0)
            curves = []
            for k in range(mixture.k):
                member = labels == k
                curves.append(fit_family_curve(g.loc[member, "DET_TEMP"], g.loc[member, "DN_per_s"],
                                               offset_rate=offset_rate, weight=float(mixture.weights[k])))
            group.curves = curves
            out.append(group)
        return out

    def _labels(self, mixture: MixtureFit, rows: pd.DataFrame) -> np.ndarray:
        return _family_labels(mixture, rows)

    # ---------------------------------------------------------------- inspection
    def _check_fitted(self):
        if not self.groups_:
            raise RuntimeError("this DarkRateModel is not fitted yet; call fit() or DarkRateModel.load()")

    @property
    def groups(self) -> pd.DataFrame:
        """One row per (XUV, INT_TIME) group: sizes, number of families, criteria, parameters."""
        self._check_fitted()
        rows = []
        for (xuv, it), g in sorted(self.groups_.items()):
            row = {"XUV": xuv, "INT_TIME": it, "n_rows": g.n_rows, "n_files": g.n_files,
                   "n_families": g.mixture.k if g.fitted else pd.NA, "status": g.status, "method": self.method,
                   "criterion": "BIC, lower by > 6 per added family; every family >= min_weight and >= 5 files"}
            if g.fitted:
                row.update({f"bic_K{int(k)}": float(b) for k, b in zip(g.criteria["K"], g.criteria["bic"])})
                row["weights"] = tuple(round(float(w), 4) for w in g.mixture.weights)
                row["form"] = tuple(c.form for c in g.curves)
                row["rate_at_ref"] = tuple(float(c.predict([REFERENCE_TEMPERATURE])[0]) for c in g.curves)
                row["doubling_temperature"] = tuple(c.doubling_temperature for c in g.curves)
                rates = row["rate_at_ref"]
                row["family_ratio"] = tuple(r / rates[0] for r in rates)
            rows.append(row)
        return pd.DataFrame(rows)

    @property
    def families(self) -> pd.DataFrame:
        """One row per family: form, parameters with standard errors, scale, weight."""
        self._check_fitted()
        rows = []
        for (xuv, it), g in sorted(self.groups_.items()):
            for k, c in enumerate(g.curves or []):
                err = np.sqrt(np.diag(c.cov))
                rows.append({"XUV": xuv, "INT_TIME": it, "family": k, "form": c.form, "weight": c.weight,
                             "a": c.params[0], "a_err": err[0], "b": c.params[1], "b_err": err[1],
                             "scale": c.scale, "doubling_temperature": c.doubling_temperature,
                             "rate_at_ref": float(c.predict([REFERENCE_TEMPERATURE])[0]), "n_rows": c.n_rows})
        return pd.DataFrame(rows)

    @property
    def joint(self) -> pd.DataFrame:
        """The joint offset model per channel: offset with its error, doubling temperature, spread explained."""
        self._check_fitted()
        return pd.DataFrame([{"XUV": ch, "offset": j.offset, "offset_err": j.offset_err, "p": j.p, "q": j.q,
                              "doubling_temperature": j.doubling_temperature, "scale": j.scale,
                              "int_time_spread_explained": j.spread_explained, "n_rows": j.n_rows,
                              "int_times": tuple(j.int_times)} for ch, j in sorted(self.joint_.items())])

    def assign(self, calibrated: pd.DataFrame) -> pd.Series:
        """The family label of every row (-1 where a row's group was not fitted or the row is unusable).

        Parameters
        ----------
        calibrated : pandas.DataFrame
            A calibrated table.

        Returns
        -------
        pandas.Series
            Integer labels aligned with ``calibrated``'s rows (0 = lowest family).
        """
        self._check_fitted()
        labels = np.full(len(calibrated), -1, dtype=np.int64)
        frame = calibrated.reset_index(drop=True)
        ok = _usable_mask(frame)
        for (xuv, it), idx in frame[ok].groupby(["XUV", "INT_TIME"]).groups.items():
            g = self.groups_.get((str(xuv), int(it)))
            if g is None or not g.fitted:
                continue
            labels[np.asarray(idx)] = self._labels(g.mixture, frame.loc[idx])
        return pd.Series(labels, index=calibrated.index, name="family")

    # ---------------------------------------------------------------- prediction
    def _group(self, channel: str, int_time) -> GroupFit | None:
        self._check_fitted()
        channel = str(channel).upper()
        if channel not in self.joint_:
            raise ValueError(f"channel {channel!r} was not fitted; fitted channels: {sorted(self.joint_)}")
        g = self.groups_.get((channel, int(int_time)))
        return g if g is not None and g.fitted else None

    def prediction_source(self, channel: str, int_time) -> str:
        """Where predictions for a channel and INT_TIME come from.

        Parameters
        ----------
        channel : str
            ``'FUV'`` or ``'MUV'``.
        int_time : int
            Integration time (ms).

        Returns
        -------
        str
            ``'families'`` for a fitted group, else ``'joint model (INT_TIME not fitted)'``.
        """
        return "families" if self._group(channel, int_time) is not None else "joint model (INT_TIME not fitted)"

    def predict(self, temperature, *, channel: str, int_time, family: int | None = None) -> np.ndarray:
        """Expected dark rate (DN/s/pixel) at each temperature.

        Parameters
        ----------
        temperature : array_like
            Detector temperature(s) (degC).
        channel : {'FUV', 'MUV'}
            Channel.
        int_time : int
            Integration time (ms).
        family : int, optional
            A single family (0 = lowest); ``None`` gives the mixture expectation
            ``sum_k w_k E[DN/s | family k]``.

        Returns
        -------
        numpy.ndarray
            Expected DN/s/pixel, one per temperature.

        Warns
        -----
        UnfittedIntTimeWarning
            When the INT_TIME was never fitted and the joint model (nominal state) answers.
        """
        temps = np.atleast_1d(np.asarray(temperature, float))
        g = self._group(channel, int_time)
        if g is None:
            return self._joint_fallback(temps, channel, int_time, family)
        curves = self._curves(g, family)
        if len(curves) == 1:
            return curves[0].predict(temps)
        return sum(c.weight * c.predict(temps) for c in curves)

    def predict_interval(self, temperature, *, channel: str, int_time, level: float = 0.95,
                         family: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Central prediction interval for a new dark integration.

        Parameters
        ----------
        temperature : array_like
            Detector temperature(s) (degC).
        channel : {'FUV', 'MUV'}
            Channel.
        int_time : int
            Integration time (ms).
        level : float, optional
            Coverage probability.
        family : int, optional
            A single family; ``None`` gives the quantiles of the mixture predictive (solved
            by bisection; for more than 4096 temperatures on 2048 grid points across their
            range and interpolated, which changes the bounds by less than 1e-6 relative).

        Returns
        -------
        lower, upper : numpy.ndarray
            Interval bounds (DN/s/pixel).
        """
        if not 0 < level < 1:
            raise ValueError("level must lie between 0 and 1")
        temps = np.atleast_1d(np.asarray(temperature, float))
        g = self._group(channel, int_time)
        if g is None:
            centre = self._joint_fallback(temps, channel, int_time, family)
            z = stats.norm.ppf(0.5 + level / 2.0) * self.joint_[str(channel).upper()].scale
            return centre * (1 - z), centre * (1 + z)
        curves = self._curves(g, family)
        if len(curves) == 1:
            return curves[0].interval(temps, level)
        if temps.size > _GRID_ABOVE:  # quantiles vary smoothly with T: solve on a grid, interpolate
            grid = np.linspace(temps.min(), temps.max(), _GRID_POINTS)
            lo, hi = self._mixture_interval(curves, grid, level)
            return (np.exp(np.interp(temps, grid, np.log(lo))), np.exp(np.interp(temps, grid, np.log(hi))))
        return self._mixture_interval(curves, temps, level)

    @staticmethod
    def _mixture_interval(curves, temps, level):
        bounds = [c.interval(temps, min(level + (1 - level) * 0.9, 0.9999)) for c in curves]
        lo = np.min([b[0] for b in bounds], axis=0)
        hi = np.max([b[1] for b in bounds], axis=0)
        total = sum(c.weight for c in curves)

        def cdf(v):
            return sum(c.weight * c.cdf(v, temps) for c in curves) / total

        return _bisect(cdf, lo, hi, (1 - level) / 2), _bisect(cdf, lo, hi, (1 + level) / 2)

    def _curves(self, g: GroupFit, family):
        if family is None:
            return g.curves
        if not 0 <= int(family) < len(g.curves):
            raise ValueError(f"{g.xuv} INT_TIME {g.int_time} has {len(g.curves)} families; no family {family}")
        return [g.curves[int(family)]]

    def _joint_fallback(self, temps, channel, int_time, family):
        if family not in (None, 0):
            raise ValueError(f"{channel} INT_TIME {int_time} was not fitted: only the nominal family (0) "
                             "can be predicted, from the joint model")
        warnings.warn(f"{channel} INT_TIME {int_time} ms was not fitted; predicting the nominal state from the "
                      "joint offset model", UnfittedIntTimeWarning, stacklevel=3)
        return self.joint_[str(channel).upper()].predict(temps, int_time)

    # ---------------------------------------------------------------- persistence
    def to_dict(self) -> dict:
        """The model as plain JSON-able data (see :meth:`save`)."""
        self._check_fitted()
        groups = []
        for (xuv, it), g in sorted(self.groups_.items()):
            entry = {"XUV": xuv, "INT_TIME": it, "n_rows": g.n_rows, "n_files": g.n_files, "status": g.status}
            if g.fitted:
                m = g.mixture
                entry["criteria"] = g.criteria.to_dict(orient="records")
                entry["mixture"] = {"method": m.method, "intercepts": m.intercepts.tolist(),
                                    "slopes": np.asarray(m.slopes).tolist(), "noise": m.noise,
                                    "weights": m.weights.tolist(), "loglik": m.loglik, "n_obs": m.n_obs,
                                    "log_background": m.log_background, "offset": m.offset,
                                    "extra": {k: np.asarray(v).tolist() if isinstance(v, np.ndarray) else v
                                              for k, v in m.extra.items()}}
                entry["families"] = [c.to_dict() for c in g.curves]
            groups.append(entry)
        flip = None
        if self.flipflop is not None:
            flip = json.loads(self.flipflop.to_json(orient="records", default_handler=str))
        return {
            "schema": "darkmodel.DarkRateModel", "schema_version": SCHEMA_VERSION,
            "provenance": _jsonable(self.provenance),
            "settings": {"method": self.method, "k_max": self.k_max, "min_files": self.min_files,
                         "min_weight": self.min_weight, "n_init": self.n_init, "seed": self.seed,
                         "reference_temperature": REFERENCE_TEMPERATURE},
            "units": {"DN_per_s": "DN/s/pixel", "temperature": "degC", "INT_TIME": "ms",
                      "offset": "DN/pixel per read"},
            "joint": {ch: j.to_dict() for ch, j in sorted(self.joint_.items())},
            "groups": groups,
            "flipflop": flip,
        }

    @classmethod
    def from_dict(cls, doc: dict) -> "DarkRateModel":
        """Rebuild a model from :meth:`to_dict` data (validated against the schema first)."""
        _validate(doc)
        s = doc["settings"]
        model = cls(s["method"], s["k_max"], s["min_files"], s["min_weight"], s["n_init"], s["seed"])
        model.provenance = doc["provenance"]
        model.joint_ = {ch: JointModel.from_dict(j) for ch, j in doc["joint"].items()}
        for entry in doc["groups"]:
            g = GroupFit(entry["XUV"], int(entry["INT_TIME"]), entry["n_rows"], entry["n_files"], entry["status"])
            if g.fitted:
                m = entry["mixture"]
                extra = {k: np.asarray(v) if isinstance(v, list) else v for k, v in m["extra"].items()}
                g.mixture = MixtureFit(np.asarray(m["intercepts"], float), np.asarray(m["slopes"], float),
                                       float(m["noise"]), np.asarray(m["weights"], float), m["loglik"], m["n_obs"],
                                       m["log_background"], method=m["method"], offset=m["offset"], extra=extra)
                g.criteria = pd.DataFrame(entry["criteria"])
                g.curves = [FamilyCurve.from_dict(c) for c in entry["families"]]
            model.groups_[(g.xuv, g.int_time)] = g
        if doc.get("flipflop") is not None:
            model.flipflop = pd.DataFrame(doc["flipflop"])
        return model

    def save(self, path) -> Path:
        """Save the model as JSON (schema version, checksum, provenance), atomically.

        Parameters
        ----------
        path : path-like
            Target file, e.g. ``models/darkrate.json``.

        Returns
        -------
        pathlib.Path
            The written file.
        """
        doc = self.to_dict()
        doc["checksum"] = _checksum(doc)
        path = Path(path)
        with atomic_write(path) as tmp:
            tmp.write_text(json.dumps(doc, indent=1, allow_nan=True) + "\n")
        return path

    @classmethod
    def load(cls, path) -> "DarkRateModel":
        """Load a model saved by :meth:`save`, validating it.

        Parameters
        ----------
        path : path-like
            A model file.

        Returns
        -------
        DarkRateModel
            The model, ready to predict.

        Raises
        ------
        ModelFileError
            If the file is not valid JSON (malformed or truncated), fails the schema, or its
            checksum does not match its content (edited or corrupted).
        """
        path = Path(path)
        try:
            doc = json.loads(path.read_text())
        except FileNotFoundError:
            raise ModelFileError(f"{path}: no such model file") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ModelFileError(f"{path}: not a valid model file (malformed or truncated JSON: {exc})") from None
        if not isinstance(doc, dict):
            raise ModelFileError(f"{path}: not a darkmodel model file (top level is not an object)")
        recorded = doc.pop("checksum", None)
        if recorded is None:
            raise ModelFileError(f"{path}: no checksum; not a file written by DarkRateModel.save")
        try:
            _validate(doc)
        except ModelFileError as exc:
            raise ModelFileError(f"{path}: {exc}") from None
        if _checksum(doc) != recorded:
            raise ModelFileError(f"{path}: checksum mismatch: the file was edited or corrupted after it was saved")
        return cls.from_dict(doc)


def _usable_mask(frame: pd.DataFrame) -> np.ndarray:
    ok = np.isfinite(frame["DN_per_s"].to_numpy(float)) & np.isfinite(frame["DET_TEMP"].to_numpy(float))
    ok &= frame["DN_per_s"].to_numpy(float) > 0
    if "exclusion" in frame.columns:
        ok &= frame["exclusion"].isna().to_numpy()
    return ok


def _usable(calibrated: pd.DataFrame) -> pd.DataFrame:
    missing = sorted({"XUV", "INT_TIME", "DET_TEMP", "DN_per_s"} - set(calibrated.columns))
    if missing:
        raise KeyError(f"fit needs a calibrated table (darkmodel.calibrate); missing column(s) {missing}")
    frame = calibrated.reset_index(drop=calibrated.index.name != "Time")
    return frame[_usable_mask(frame)]


def _family_labels(mixture: MixtureFit, rows: pd.DataFrame) -> np.ndarray:
    """Most probable family of every row (integrations of one file together, for mixreg)."""
    files = rows["FILENAME"].to_numpy() if ("FILENAME" in rows.columns and mixture.method == "mixreg") else None
    y = mixture.transform(rows["DN_per_s"].to_numpy(), rows["INT_TIME"].to_numpy())
    return mixture.posterior(rows["DET_TEMP"].to_numpy(), y, files).argmax(axis=1)


def _nominal_rows(rows: pd.DataFrame, groups: list) -> pd.DataFrame:
    """Rows of the lowest family of every fitted group (all rows of groups too small to fit)."""
    parts = []
    for g in groups:
        sub = rows[rows["INT_TIME"] == g.int_time]
        if g.fitted and g.mixture.k > 1:
            sub = sub[_family_labels(g.mixture, sub) == 0]
        parts.append(sub)
    return pd.concat(parts) if parts else rows.iloc[0:0]


def _bisect(cdf, lo, hi, target, iterations: int = 50):
    lo, hi = np.array(lo, float), np.array(hi, float)
    for _ in range(iterations):
        mid = 0.5 * (lo + hi)
        below = cdf(mid) < target
        lo = np.where(below, mid, lo)
        hi = np.where(below, hi, mid)
    return 0.5 * (lo + hi)


def _version() -> str:
    from . import __version__

    return __version__


def _jsonable(obj):
    return json.loads(json.dumps(obj, default=str))


def _checksum(doc: dict) -> str:
    canonical = json.dumps(doc, sort_keys=True, separators=(",", ":"), allow_nan=True)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


_SCHEMA = {
    "type": "object",
    "required": ["schema", "schema_version", "provenance", "settings", "joint", "groups"],
    "properties": {
        "schema": {"const": "darkmodel.DarkRateModel"},
        "schema_version": {"const": SCHEMA_VERSION},
        "provenance": {"type": "object"},
        "settings": {"type": "object", "required": ["method", "k_max", "min_files", "min_weight", "n_init", "seed"]},
        "joint": {"type": "object", "additionalProperties": {
            "type": "object", "required": ["offset", "p", "q", "cov", "scale", "n_rows", "int_times"]}},
        "groups": {"type": "array", "items": {
            "type": "object", "required": ["XUV", "INT_TIME", "n_rows", "n_files", "status"],
            "properties": {
                "XUV": {"enum": ["FUV", "MUV"]},
                "INT_TIME": {"type": "integer", "minimum": 1},
                "families": {"type": "array", "minItems": 1, "items": {
                    "type": "object", "required": ["form", "params", "cov", "scale", "offset_rate", "weight"],
                    "properties": {"form": {"enum": list(FORMS)},
                                   "params": {"type": "array", "minItems": 2, "maxItems": 2}}}},
            },
            "if": {"properties": {"status": {"const": "fitted"}}},
            "then": {"required": ["mixture", "families", "criteria"]},
        }},
    },
}


def _validate(doc: dict) -> None:
    import jsonschema

    try:
        jsonschema.validate(doc, _SCHEMA)
    except jsonschema.ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "(top level)"
        raise ModelFileError(f"schema check failed at {where}: {exc.message}") from None


def fit(calibrated: pd.DataFrame, **settings) -> DarkRateModel:
    """Fit a :class:`DarkRateModel` to a calibrated table.

    Parameters
    ----------
    calibrated : pandas.DataFrame
        Output of :func:`darkmodel.calibrate`.
    **settings
        Passed to :class:`DarkRateModel` (``method``, ``k_max``, ``min_files``, ...).

    Returns
    -------
    DarkRateModel
        The fitted model.
    """
    return DarkRateModel(**settings).fit(calibrated)
