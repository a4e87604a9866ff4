"""Mixtures of parallel regressions in log dark current: the model of the families.

The unit is the dark file (all its integrations share an instrument state; see
:mod:`darkmodel.stats.perfile`): per file the median log dark current
``y = median log(DN_per_s - offset/t)``, its mean temperature, time and the effective
number of integrations behind it.  :func:`fit_mixreg` fits family intercepts ``alpha_k``
and one shared shape, a polynomial in ``T - T0`` (:class:`Covariates`) plus a smooth trend
in time (Legendre polynomials of the scaled time, centred on the files: detector aging is
a trend, not a state), with the scatter of a :class:`~darkmodel.stats.noise.NoiseModel`
estimated with the families by EM (:func:`run_em`: the compiled kernel of
:mod:`darkmodel.stats.em_compiled`, or :func:`em_numpy`, its NumPy reference).
:func:`simulate_files` draws new files from a fit (the parametric bootstrap's null).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .noise import CONTAMINATION, DF_GRID, SCALE_FLOOR, NoiseModel, robust_scale, variance_step

__all__ = ["Covariates", "MixtureFit", "EMState", "fit_mixreg", "run_em", "em_numpy", "simulate_files",
           "log_dark_current", "prepare_design", "fit_design", "row_log_density", "REFERENCE_TEMPERATURE", "MAX_TIME_DEGREE",
           "QUADRATIC_SPAN", "EM_BACKEND"]

#: Temperature (degC) at which family rates are reported and the shape is centred.
REFERENCE_TEMPERATURE = -18.0
#: Highest degree of the smooth time trend against which a step in time is tested.
MAX_TIME_DEGREE = 4
#: Temperature span (degC) from which the shape gets a quadratic term (else a straight line).
QUADRATIC_SPAN = 6.0


@dataclass(frozen=True)
class Covariates:
    """The shared shape's covariates: a polynomial in temperature and a trend in time.

    Parameters
    ----------
    temp_degree : int
        Degree of the polynomial in ``T - REFERENCE_TEMPERATURE`` (1 or 2).
    time_degree : int
        Degree of the Legendre trend in scaled time (0: none).
    time_min, time_max : float
        Fitted time range (days since 1970), mapped to ``[-1, 1]``.
    time_centre : tuple of float
        Mean of each Legendre column over the fitted files (subtracted, so that a trend of
        zero is the time-averaged level).
    """

    temp_degree: int = 2
    time_degree: int = 0
    time_min: float = 0.0
    time_max: float = 1.0
    time_centre: tuple = ()

    @property
    def n_columns(self) -> int:
        """Number of shape columns."""
        return self.temp_degree + self.time_degree

    def time_columns(self, days) -> np.ndarray:
        """Centred Legendre columns of the time trend, shape ``(n, time_degree)``."""
        days = np.asarray(days, float)
        if self.time_degree == 0:
            return np.zeros((days.size, 0))
        span = max(self.time_max - self.time_min, 1e-9)
        u = np.clip(2.0 * (days - self.time_min) / span - 1.0, -1.0, 1.0)
        cols = np.polynomial.legendre.legvander(u, self.time_degree)[:, 1:]
        return cols - np.asarray(self.time_centre, float)[None, :]

    def matrix(self, temperature, days=None) -> np.ndarray:
        """Design matrix of the shape: powers of ``T - T0`` and the time trend.

        Parameters
        ----------
        temperature : array_like
            Detector temperature (degC).
        days : array_like, optional
            Time (days since 1970); ``None`` puts every time column at zero, i.e. the
            time-averaged level of the fitted period.

        Returns
        -------
        numpy.ndarray
            Shape ``(n, n_columns)``.
        """
        d = np.asarray(temperature, float).ravel() - REFERENCE_TEMPERATURE
        temp = np.column_stack([d**p for p in range(1, self.temp_degree + 1)])
        if days is None:
            return np.column_stack([temp, np.zeros((d.size, self.time_degree))])
        return np.column_stack([temp, self.time_columns(np.asarray(days, float).ravel())])

    def to_dict(self) -> dict:
        """Plain JSON-able data."""
        return {"temp_degree": self.temp_degree, "time_degree": self.time_degree, "time_min": self.time_min,
                "time_max": self.time_max, "time_centre": [float(c) for c in self.time_centre]}

    @classmethod
    def from_dict(cls, d: dict) -> "Covariates":
        """Rebuild from :meth:`to_dict` data."""
        return cls(int(d["temp_degree"]), int(d["time_degree"]), float(d["time_min"]), float(d["time_max"]),
                   tuple(float(c) for c in d["time_centre"]))

    @classmethod
    def for_data(cls, temperature, days=None, *, time_degree: int = 2, temp_degree: int | None = None,
                 min_files_for_trend: int = 30) -> "Covariates":
        """Covariates suited to the data: a line in temperature below :data:`QUADRATIC_SPAN`,
        no time trend for fewer than ``min_files_for_trend`` files or without times.
        """
        t = np.asarray(temperature, float)
        if temp_degree is None:
            temp_degree = 2 if np.ptp(t) >= QUADRATIC_SPAN else 1
        if days is None or len(t) < min_files_for_trend or time_degree == 0:
            return cls(temp_degree, 0)
        days = np.asarray(days, float)
        lo, hi = float(days.min()), float(days.max())
        if hi - lo <= 0:
            return cls(temp_degree, 0)
        base = cls(temp_degree, time_degree, lo, hi, tuple(0.0 for _ in range(time_degree)))
        centre = base.time_columns(days).mean(axis=0)
        return cls(temp_degree, time_degree, lo, hi, tuple(float(c) for c in centre))


@dataclass
class MixtureFit:
    """A fitted mixture of parallel regressions of the log dark current.

    Attributes
    ----------
    intercepts : numpy.ndarray
        ``alpha_k``, log dark current at the reference temperature and the time-averaged
        level, ascending (label 0 lowest).
    coef : numpy.ndarray
        The shared shape's coefficients (see :class:`Covariates`).
    covariates : Covariates
        How the shape is built.
    noise : NoiseModel
        The scatter model.
    weights : numpy.ndarray
        Family weights (share of files).
    loglik : float
        Log-likelihood.
    n_obs : int
        Number of files fitted.
    log_background : float
        Log density of the uniform outlier part.
    cov : numpy.ndarray
        Covariance of ``(intercepts, coef)``.
    converged : bool
        Whether EM met its tolerance.
    n_iter : int
        EM iterations of the final run.
    method : str
        ``'mixreg'`` or ``'gmm'``.
    offset : float
        Read offset (DN/pixel per read) removed before taking the log.
    extra : dict
        Method-specific state (the GMM's means and covariances).
    """

    intercepts: np.ndarray
    coef: np.ndarray
    covariates: Covariates
    noise: NoiseModel
    weights: np.ndarray
    loglik: float
    n_obs: int
    log_background: float
    cov: np.ndarray | None = None
    converged: bool = True
    n_iter: int = 0
    method: str = "mixreg"
    offset: float = 0.0
    extra: dict = field(default_factory=dict)

    @property
    def k(self) -> int:
        """Number of families."""
        return len(self.intercepts)

    @property
    def n_params(self) -> int:
        """Free parameters: intercepts, shape, two noise components and weights."""
        if self.method == "gmm":
            return int(self.extra["n_params"])
        return self.k + len(self.coef) + 2 + (self.k - 1) + (2 if self.noise.excess > 0 else 0)

    @property
    def bic(self) -> float:
        """Bayesian information criterion, ``-2 loglik + n_params log(n_obs)``."""
        return -2.0 * self.loglik + self.n_params * np.log(self.n_obs)

    def mean_log_rate(self, temperature, days=None) -> np.ndarray:
        """Family means of the log dark current, shape ``(n, K)``.

        Parameters
        ----------
        temperature : array_like
            Detector temperature (degC).
        days : array_like, optional
            Time (days since 1970); ``None`` gives the time-averaged level.

        Returns
        -------
        numpy.ndarray
            ``alpha_k + shape(T, time)``.
        """
        shape = self.covariates.matrix(temperature, days) @ self.coef
        return self.intercepts[None, :] + shape[:, None]

    def mean_se(self, temperature, family: int, days=None) -> np.ndarray:
        """Standard error of family ``family``'s mean log dark current at each temperature."""
        x = self.covariates.matrix(temperature, days)
        if self.cov is None:
            return np.zeros(len(x))
        k = self.k
        full = np.zeros((len(x), k + x.shape[1]))
        full[:, family] = 1.0
        full[:, k:] = x
        return np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", full, self.cov, full), 0.0))

    def log_density(self, temperature, log_current, counts=1.0, days=None) -> np.ndarray:
        """Per-file log density under each family (outlier part included), shape ``(n, K)``.

        Parameters
        ----------
        temperature, log_current : array_like
            Detector temperature (degC) and log dark current.
        counts : array_like or float, optional
            Integrations behind each value.
        days : array_like, optional
            Time (days since 1970).

        Returns
        -------
        numpy.ndarray
            ``log[(1 - eps) t(y; mu_k, s_k) + eps U]``.
        """
        if self.method == "gmm":
            return _gmm_log_density(self, temperature, log_current)
        y = np.asarray(log_current, float)[:, None]
        mu = self.mean_log_rate(temperature, days)
        return row_log_density(y, mu, self.noise, counts, self.log_background)[0]

    @property
    def is_epochs(self) -> bool:
        """Whether the families are epochs in time (one step, :mod:`darkmodel.stats.epochs`)."""
        return "epoch_cut" in self.extra

    def epoch_family(self, days) -> np.ndarray | None:
        """Family of each time in an epoch fit (``None`` for a mixture or without times).

        Parameters
        ----------
        days : array_like or None
            Times (days since 1970).

        Returns
        -------
        numpy.ndarray or None
            Family index per time: the family of the epoch before or after the cut.
        """
        if not self.is_epochs or days is None:
            return None
        before, after = (int(f) for f in self.extra["epoch_families"])
        return np.where(np.asarray(days, float) > float(self.extra["epoch_cut"]), after, before)

    def posterior(self, temperature, log_current, counts=1.0, days=None) -> np.ndarray:
        """Family probabilities of each file, shape ``(n, K)``; rows sum to 1.

        For epochs in time (:attr:`is_epochs`) with ``days`` given, the family is the epoch's.
        """
        fam = self.epoch_family(days)
        if fam is not None:
            return (np.broadcast_to(fam, np.shape(np.atleast_1d(log_current)))[:, None]
                    == np.arange(self.k)[None, :]).astype(float)
        per = self.log_density(temperature, log_current, counts, days) + np.log(self.weights)
        return np.exp(per - np.logaddexp.reduce(per, axis=1)[:, None])

    def separation(self, known_sd: float | None = None) -> float:
        """Smallest gap between neighbouring families in within-family standard deviations.

        The standard deviation is the noise model's at the lowest family's median level
        (a single integration's file, the typical case), its particle excess included
        (:meth:`~darkmodel.stats.noise.NoiseModel.excess_sd`: hits that every family shares are
        no gap between families), ``inf`` for one family.

        Parameters
        ----------
        known_sd : float, optional
            A scatter of the log dark current known from the instrument rather than fitted
            (the recorded temperature's rounding, :func:`rounding_sd`), added in quadrature:
            two components can split a flat-topped scatter and each look narrow, but they
            are not further apart than the scatter they split.  Default: the fit's own
            ``extra['rounding_sd']`` (set by :func:`select_families`), else 0.
        """
        if self.k < 2:
            return math.inf
        if known_sd is None:
            known_sd = float(self.extra.get("rounding_sd", 0.0))
        sd = float(np.sqrt(self.noise.variance(self.extra.get("median_mu", self.intercepts[0]),
                                               self.extra.get("median_count", 1.0)))) * self.noise.sd_factor()
        sd = math.hypot(sd, known_sd, self.noise.excess_sd())
        return float(np.min(np.diff(self.intercepts)) / sd) if sd > 0 else math.inf

    def to_dict(self) -> dict:
        """Plain JSON-able data."""
        return {"method": self.method, "intercepts": self.intercepts.tolist(), "coef": np.asarray(self.coef).tolist(),
                "covariates": self.covariates.to_dict(), "noise": self.noise.to_dict(),
                "weights": self.weights.tolist(), "loglik": self.loglik, "n_obs": self.n_obs,
                "log_background": self.log_background,
                "cov": None if self.cov is None else np.asarray(self.cov).tolist(),
                "converged": bool(self.converged), "n_iter": int(self.n_iter), "offset": self.offset,
                "extra": {k: np.asarray(v).tolist() if isinstance(v, np.ndarray) else v for k, v in self.extra.items()}}

    @classmethod
    def from_dict(cls, d: dict) -> "MixtureFit":
        """Rebuild from :meth:`to_dict` data."""
        extra = {k: np.asarray(v) if isinstance(v, list) else v for k, v in d["extra"].items()}
        return cls(np.asarray(d["intercepts"], float), np.asarray(d["coef"], float),
                   Covariates.from_dict(d["covariates"]), NoiseModel.from_dict(d["noise"]),
                   np.asarray(d["weights"], float), float(d["loglik"]), int(d["n_obs"]), float(d["log_background"]),
                   None if d.get("cov") is None else np.asarray(d["cov"], float), bool(d.get("converged", True)),
                   int(d.get("n_iter", 0)), d["method"], float(d["offset"]), extra)


def log_dark_current(dn_per_s, int_time_ms, offset: float) -> np.ndarray:
    """``log(DN_per_s - offset / t)``: the dark current once the read offset is removed.

    Parameters
    ----------
    dn_per_s : array_like
        Dark rate (DN/s/pixel).
    int_time_ms : array_like or float
        Integration time (ms).
    offset : float
        Read offset (DN/pixel per read), from the joint model; 0 gives ``log DN_per_s``.

    Returns
    -------
    numpy.ndarray
        The log dark current; non-positive differences become ``log(1e-6)``.

    Examples
    --------
    >>> round(float(log_dark_current(1.0, 2000, 1.0)), 6)  # 1 - 1/2 = 0.5
    -0.693147
    """
    current = np.asarray(dn_per_s, float) - offset / (np.asarray(int_time_ms, float) / 1000.0)
    return np.log(np.maximum(current, 1e-6))


def row_log_density(y, mu, noise: NoiseModel, counts, log_bg):
    """``log[(1-eps)((1-pi) t + pi EMG) + eps U]`` per file and family, with its parts.

    Returns the total, the Student-t (core) part, z, the squared scale and the particle-excess
    part (``None`` when the noise model has none).
    """
    v = noise.variance(mu, counts)
    s = np.sqrt(v)
    z = (y - mu) / s
    eps = noise.contamination
    main = noise.logpdf(z) - np.log(s) + math.log1p(-eps)
    out = math.log(eps) + log_bg
    if noise.excess <= 0:
        return np.logaddexp(main, out), main, z, v, None
    main = main + math.log1p(-noise.excess)
    extra = math.log1p(-eps) + math.log(noise.excess) + noise.excess_logpdf(y - mu, s)
    return np.logaddexp(np.logaddexp(main, extra), out), main, z, v, extra


# ------------------------------------------------------------------------------------- EM
@dataclass
class EMState:
    """Where one EM run ended: family intercepts, shape, noise model, weights, log-likelihood."""

    alpha: np.ndarray
    coef: np.ndarray
    noise: NoiseModel
    weights: np.ndarray
    loglik: float
    n_iter: int = 0
    converged: bool = False
    normal: np.ndarray | None = None


#: Which EM runs: ``'compiled'`` (numba, the default where numba imports) or ``'numpy'`` (the reference).
EM_BACKEND = "compiled"


def run_em(x, y, counts, alpha, coef, noise: NoiseModel, weights, log_bg, *, max_iter=300, tol=1e-3) -> EMState:
    """EM from one start, by the compiled kernel or the NumPy reference (:data:`EM_BACKEND`)."""
    from ..compiled import interrupts_as_such
    from . import em_compiled

    if EM_BACKEND != "compiled" or not em_compiled.AVAILABLE or (noise.excess > 0 and not em_compiled.EXCESS_COMPILED):
        return em_numpy(x, y, counts, alpha, coef, noise, weights, log_bg, max_iter=max_iter, tol=tol)
    k = len(alpha)
    w0 = np.full(k, 1.0 / k) if weights is None else np.array(weights, float)
    # writable C-ordered copies: one compiled signature (a read-only view would compile another)
    with interrupts_as_such():
        out = em_compiled.em_kernel(np.array(x, float, order="C"), np.array(y, float),
                                    np.array(np.broadcast_to(np.asarray(counts, float), y.shape)),
                                    np.array(alpha, float), np.array(coef, float), float(noise.additive) ** 2,
                                    float(noise.relative) ** 2, float(noise.df), float(noise.contamination),
                                    float(noise.excess), float(noise.excess_scale), w0,
                                    float(log_bg), SCALE_FLOOR, int(max_iter), float(tol))
    a, c, add_sq, rel_sq, pi, lam, w, loglik, n_iter, converged, normal, ok = out
    fitted = NoiseModel(math.sqrt(add_sq), math.sqrt(rel_sq), noise.df, noise.contamination, pi, lam)
    return EMState(a, c, fitted, w, loglik if ok else -np.inf, int(n_iter), bool(converged),
                    normal if n_iter else None)


def em_numpy(x, y, counts, alpha, coef, noise: NoiseModel, weights, log_bg, *, max_iter=300,
              tol=1e-3) -> EMState:
    """EM for the contaminated Student-t mixture of parallel regressions, from one start.

    Location by weighted least squares (intercepts and shared shape together), the two
    variance components by one Fisher-scoring step per iteration (an ECM algorithm).  Stops
    when the log-likelihood gains less than ``tol`` (absolute: a likelihood ratio needs no
    finer precision, and EM crawls along the flat ridges of a surplus family).  A start that
    diverges returns a log-likelihood of ``-inf``.
    """
    n, m = x.shape
    k = len(alpha)
    alpha, coef = np.array(alpha, float), np.array(coef, float)
    weights = np.full(k, 1.0 / k) if weights is None else np.asarray(weights, float)
    cnt = np.asarray(counts, float)[:, None]
    state = EMState(alpha, coef, noise, weights, -np.inf)
    last = -np.inf
    yy = y[:, None]
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        for it in range(max_iter):
            mu = alpha[None, :] + (x @ coef)[:, None]
            row, main, z, v, extra = row_log_density(yy, mu, noise, cnt, log_bg)
            per = row + np.log(weights)
            norm = np.logaddexp.reduce(per, axis=1)
            loglik = float(norm.sum())
            if not np.isfinite(loglik):
                state.loglik = -np.inf
                return state
            resp = np.exp(per - norm[:, None])
            tau = resp * np.exp(main - row)                  # member of k and not an outlier
            u = noise.tail_weights(z)
            ws = tau * u / v
            wy = ws * yy
            if extra is not None:  # files with a particle excess: their level is y minus the excess
                tau_x = resp * np.exp(extra - row)
                ex = noise.excess_given(yy - mu, np.sqrt(v))
                ws = ws + tau_x / v
                wy = wy + tau_x / v * (yy - ex)
            a = np.zeros((k + m, k + m))
            b = np.zeros(k + m)
            a[:k, :k] = np.diag(ws.sum(axis=0))
            cross = x.T @ ws
            a[k:, :k], a[:k, k:] = cross, cross.T
            wsum = ws.sum(axis=1)
            a[k:, k:] = (x * wsum[:, None]).T @ x
            b[:k] = wy.sum(axis=0)
            b[k:] = x.T @ wy.sum(axis=1)
            try:
                theta = np.linalg.solve(a, b)
            except np.linalg.LinAlgError:
                state.loglik = -np.inf
                return state
            alpha, coef = theta[:k], theta[k:]
            mu = alpha[None, :] + (x @ coef)[:, None]
            aa = np.exp(np.minimum(-2.0 * mu, 700.0)) / cnt
            e = u * (yy - mu) ** 2
            add_sq, rel_sq = variance_step(aa.ravel(), e.ravel(), (tau / v**2).ravel())
            pi, lam = noise.excess, noise.excess_scale
            if extra is not None:
                tx, tc = float(tau_x.sum()), float(tau.sum())
                pi = min(max(tx / max(tx + tc, 1e-300), 1e-4), 0.5)
                lam = max(float((tau_x * ex).sum()) / max(tx, 1e-300), 1e-4)
            noise = NoiseModel(math.sqrt(add_sq), math.sqrt(rel_sq), noise.df, noise.contamination, pi, lam)
            weights = np.clip(resp.sum(axis=0) / n, 1e-6, None)
            weights /= weights.sum()
            state = EMState(alpha, coef, noise, weights, loglik, it + 1, False, a)
            if abs(loglik - last) <= tol:
                state.converged = True
                break
            last = loglik
    if not (np.all(np.isfinite(alpha)) and np.all(np.isfinite(coef))):
        state.loglik = -np.inf
    return state


def _starts(resid: np.ndarray, k: int, n_init: int, rng) -> list:
    """Initial intercept offsets for ``k`` families.

    Even quantiles of the residuals, one-dimensional k-means, families spaced 5, 15 and 30 %
    apart in dark current (when temperature and state are correlated in time the shape
    absorbs part of a step, and starts from its residuals alone miss it), then random draws.
    """
    even = (np.arange(k) + 0.5) / k
    centres = np.quantile(resid, even)
    starts = [centres.copy()]
    previous = None
    for _ in range(10):  # k-means in one dimension
        nearest = np.abs(resid[:, None] - centres[None, :]).argmin(axis=1)
        if previous is not None and np.array_equal(nearest, previous):
            break  # the same assignment gives the same centres: the remaining rounds would repeat them
        previous = nearest
        size = np.bincount(nearest, minlength=k)
        total = np.bincount(nearest, weights=resid, minlength=k)
        centres = np.where(size > 0, total / np.maximum(size, 1), centres)
    starts.append(np.sort(centres))
    for gap in (0.05, 0.15, 0.3):
        starts.append(gap * (np.arange(k) - (k - 1) / 2.0))
    while len(starts) < n_init:
        starts.append(np.sort(rng.choice(resid, k, replace=False)) if len(resid) >= k else np.sort(rng.normal(0, 1, k)))
    return starts[:max(n_init, 1)]


def prepare_design(temperature, log_current, counts, days, covariates):
    """Arrays of one fit: temperature, log current, counts, days and the covariates' design matrix."""
    t = np.asarray(temperature, float)
    y = np.asarray(log_current, float)
    if not (np.all(np.isfinite(y)) and np.all(np.isfinite(t))):
        raise ValueError("fit_mixreg needs finite temperatures and log dark currents")
    cnt = np.ones_like(y) if counts is None else np.broadcast_to(np.asarray(counts, float), y.shape).copy()
    if covariates is None:
        covariates = Covariates.for_data(t, days)
    x = covariates.matrix(t, None if covariates.time_degree == 0 else days)
    return t, y, cnt, x, covariates


def fit_mixreg(temperature, log_current, k: int, *, counts=None, days=None, covariates: Covariates | None = None,
               df: float | None = None, excess: bool | None = None, n_init: int = 6, random_state: int = 0, rng=None,
               max_iter: int = 300) -> MixtureFit:
    """Fit a mixture of ``k`` parallel regressions of the log dark current.

    Parameters
    ----------
    temperature : array_like
        Mean detector temperature of each file (degC).
    log_current : array_like
        Log dark current of each file (see :func:`log_dark_current`).
    k : int
        Number of families.
    counts : array_like, optional
        Effective integrations behind each value (the additive noise averages down).
    days : array_like, optional
        Time of each file (days since 1970), for the time trend.
    covariates : Covariates, optional
        The shape's design; by default :meth:`Covariates.for_data`.
    df : float, optional
        Student-t degrees of freedom; ``None`` picks the best of :data:`~darkmodel.stats.noise.DF_GRID`.
    excess : bool, optional
        Whether the noise model has a one-sided particle excess; ``None`` fits both and keeps
        the excess where it lowers BIC (its two parameters cost ``2 log n``).
    n_init : int, optional
        EM starts for ``k > 1`` (even quantiles, k-means, three spacings, then random
        residual draws); each runs 20 iterations and the best continues to convergence.
    random_state : int, optional
        Seed of the random starts (unless ``rng`` is given).
    rng : numpy.random.Generator, optional
        Random generator for the starts.
    max_iter : int, optional
        Most EM iterations of the final run.

    Returns
    -------
    MixtureFit
        The best fit, families sorted so that label 0 is the lowest.
    """
    t, y, cnt, x, covariates = prepare_design(temperature, log_current, counts, days, covariates)
    rng = np.random.default_rng(random_state) if rng is None else rng
    return fit_design(t, y, cnt, x, covariates, k, df=df, excess=excess, n_init=n_init, rng=rng, max_iter=max_iter)


def fit_design(t, y, cnt, x, covariates: Covariates, k: int, *, df, excess, n_init, rng, max_iter) -> MixtureFit:
    """:func:`fit_mixreg` on prepared arrays: finite ``t`` and ``y``, counts per file, the design ``x``."""
    n, m = x.shape
    if n < m + k + 2:
        raise ValueError(f"{n} files cannot support {k} families with a {m}-term shape")
    design = np.column_stack([np.ones(n), x])
    base = np.linalg.lstsq(design, y, rcond=None)[0]
    resid = y - design @ base
    spread = max(robust_scale(resid), np.std(resid) / 3.0, 3 * SCALE_FLOOR)
    log_bg = -math.log(np.ptp(y) + 1.0) if n > 1 else 0.0
    dfs = DF_GRID if df is None else (df,)
    options = (False, True) if excess is None else (bool(excess),)
    best = None
    for nu, with_excess in ((nu, ex) for ex in options for nu in dfs):
        starts = _starts(resid, k, n_init, rng) if k > 1 else [np.zeros(1)]
        noise0 = (NoiseModel(0.0, spread / k, nu, CONTAMINATION, 0.1, 2.0 * spread) if with_excess
                  else NoiseModel(0.0, spread / k, nu))
        runs = [run_em(x, y, cnt, base[0] + np.asarray(s), base[1:], noise0, None, log_bg,
                    max_iter=12 if len(starts) > 1 else max_iter) for s in starts]
        lead = max(runs, key=lambda r: r.loglik)
        if len(starts) > 1 and np.isfinite(lead.loglik):
            lead = run_em(x, y, cnt, lead.alpha, lead.coef, lead.noise, lead.weights, log_bg, max_iter=max_iter)
        penalty = math.log(n) if lead.noise.excess > 0 else 0.0  # BIC: two more parameters
        if best is None or lead.loglik - penalty > best.loglik - (math.log(n) if best.noise.excess > 0 else 0.0):
            best = lead
    assert best is not None  # the loops above run at least once (DF_GRID and the excess options are not empty)
    if k > 1 and covariates.time_degree > 0:
        # a step in time that the smooth trend half absorbs traps EM in a poor optimum: start also
        # from the families found without the trend (its coefficients at zero)
        xf = x[:, :covariates.temp_degree]
        starts = _starts(resid, k, min(n_init, 3), rng)
        runs = [run_em(xf, y, cnt, base[0] + np.asarray(s), base[1:covariates.temp_degree + 1],
                    NoiseModel(0.0, spread / k, best.noise.df), None, log_bg, max_iter=12) for s in starts]
        lead = max(runs, key=lambda r: r.loglik)
        if np.isfinite(lead.loglik):
            coef0 = np.r_[lead.coef, np.zeros(covariates.time_degree)]
            alt = run_em(x, y, cnt, lead.alpha, coef0, lead.noise, lead.weights, log_bg, max_iter=max_iter)
            if alt.loglik > best.loglik:
                best = alt
    if not np.isfinite(best.loglik):
        raise ValueError(f"the {k}-family fit diverged from every start")
    order = np.argsort(best.alpha)
    cov = None
    if best.normal is not None:
        try:
            perm = np.r_[order, np.arange(k, k + m)]
            cov = np.linalg.inv(best.normal)[np.ix_(perm, perm)]
        except np.linalg.LinAlgError:
            cov = None
    mu0 = best.alpha[order][0] + x @ best.coef
    extra = {"median_mu": float(np.median(mu0)), "median_count": float(np.median(cnt)),
             "temp_range": [float(t.min()), float(t.max())]}
    return MixtureFit(best.alpha[order], best.coef, covariates, best.noise, best.weights[order], best.loglik, n,
                      log_bg, cov, best.converged, best.n_iter, extra=extra)


def simulate_files(fit: MixtureFit, temperature, counts, days, rng) -> np.ndarray:
    """Log dark currents drawn from a fitted mixture at the files' temperatures and times.

    Each file gets a family drawn by the weights, the noise model's scatter (additive part
    averaged over its integrations, Student-t tails) and, with the contamination share, a
    uniform outlier over the fitted range.

    Parameters
    ----------
    fit : MixtureFit
        The model to draw from.
    temperature, counts, days : array_like
        Files' temperatures (degC), effective integrations and times (days since 1970).
    rng : numpy.random.Generator
        Random generator.

    Returns
    -------
    numpy.ndarray
        One log dark current per file.
    """
    t = np.asarray(temperature, float)
    mu_all = fit.mean_log_rate(t, None if fit.covariates.time_degree == 0 else days)
    fam = rng.choice(fit.k, len(t), p=fit.weights) if fit.k > 1 else np.zeros(len(t), int)
    mu = mu_all[np.arange(len(t)), fam]
    s = fit.noise.scale(mu, counts)
    y = mu + s * fit.noise.sample(len(t), rng)
    if fit.noise.excess > 0:
        hit = rng.random(len(t)) < fit.noise.excess
        y[hit] += rng.exponential(fit.noise.excess_scale, int(hit.sum()))
    outlier = rng.random(len(t)) < fit.noise.contamination
    if outlier.any():
        width = math.exp(-fit.log_background) - 1.0
        lo = float(np.min(mu_all)) - 0.25 * width
        y[outlier] = rng.uniform(lo, lo + width, int(outlier.sum()))
    return y


def _gmm_log_density(fit: MixtureFit, temperature, log_rate) -> np.ndarray:
    from scipy.stats import multivariate_normal

    pts = np.column_stack([np.asarray(temperature, float), np.asarray(log_rate, float)])
    return np.column_stack([multivariate_normal(m, c, allow_singular=True).logpdf(pts)
                            for m, c in zip(fit.extra["means"], fit.extra["covariances"])]).reshape(len(pts), -1)
