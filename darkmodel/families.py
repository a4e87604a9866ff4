"""Finding the families in dark rate versus detector temperature.

Two methods, side by side:

* :func:`fit_mixreg` (the default): a **mixture of regressions** of the log dark current
  ``y = log(DN_per_s - offset/t)`` (the read offset comes from the joint model) on detector
  temperature.  Families are parallel curves -- a family-specific intercept ``alpha_k`` and
  a shared shape ``beta_1 (T - T0) + beta_2 (T - T0)**2``.  The noise is additive in DN/s
  (read-offset jitter, read noise), one scale ``s`` for all families, so in ``y`` a row's
  scatter is ``sqrt(s**2 exp(-2 mu) + floor**2)``: free per-family scatters would turn this
  heteroscedasticity into spurious families.  Each family's density is a contaminated normal
  (weight ``1 - eps`` Gaussian, ``eps`` uniform over the data range), so cosmic-ray hits and
  anomalous frames cannot form a family of their own.  All integrations of one dark file
  share one family (the likelihood is summed per file before the E-step, like flexmix's
  ``y ~ x | file``).  Fitted by EM from several starts.
* :func:`fit_gmm`: the baseline, a scikit-learn ``GaussianMixture`` on standardised
  ``(DET_TEMP, log DN_per_s)``.  A 2-D mixture describes a band of points as several
  blobs, so it tends to find too many families along a curve.

The number of families ``K`` is chosen by BIC over ``K = 1..k_max``: one more family is
accepted only if its fit is admissible (every family holds at least ``min_weight`` of the
files and at least ``min_members`` files) and lowers BIC by more than ``BIC_MARGIN`` (6,
"strong evidence").  Labels are sorted so that
label 0 is always the lowest family.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = ["MixtureFit", "fit_mixreg", "fit_gmm", "select_families", "log_dark_current", "scatter", "CONTAMINATION",
           "REFERENCE_TEMPERATURE"]

#: Weight of the uniform "outlier" part of every family's density.
CONTAMINATION = 0.01
#: BIC improvement needed to accept one more family (Kass & Raftery 1995: > 6 is "strong").
BIC_MARGIN = 6.0
#: Temperature (degC) at which family rates are reported and the shape is centred.
REFERENCE_TEMPERATURE = -18.0
_SIGMA_FLOOR = 2e-3  # log-rate scatter floor (0.2 %), against collapse on quantised points


@dataclass
class MixtureFit:
    """A fitted mixture of parallel regressions of log dark rate on temperature.

    Attributes
    ----------
    intercepts : numpy.ndarray
        ``alpha_k``, log DN/s at the reference temperature, ascending (label 0 lowest).
    slopes : numpy.ndarray
        Shared ``(beta_1, beta_2)`` of the centred temperature and its square.
    noise : float
        Additive scatter of the dark rate (DN/s/pixel), shared by the families.
    weights : numpy.ndarray
        Family weights (share of files).
    loglik : float
        Log-likelihood.
    n_obs : int
        Number of rows fitted.
    log_background : float
        Log density of the uniform outlier part.
    method : str
        ``'mixreg'`` or ``'gmm'``.
    extra : dict
        Method-specific state (the GMM's means and covariances).
    """

    intercepts: np.ndarray
    slopes: np.ndarray
    noise: float
    weights: np.ndarray
    loglik: float
    n_obs: int
    log_background: float
    method: str = "mixreg"
    offset: float = 0.0
    extra: dict = field(default_factory=dict)

    def transform(self, dn_per_s, int_time_ms) -> np.ndarray:
        """The fitted variable: ``log(DN_per_s - offset / t)`` (``log DN_per_s`` for the GMM).

        Parameters
        ----------
        dn_per_s : array_like
            Dark rate (DN/s/pixel).
        int_time_ms : array_like or float
            Integration time (ms).

        Returns
        -------
        numpy.ndarray
            Log dark current; rates at or below the read-offset level map to a value far
            below every family (they can only be outliers).
        """
        return log_dark_current(dn_per_s, int_time_ms, self.offset)

    @property
    def k(self) -> int:
        """Number of families."""
        return len(self.intercepts)

    @property
    def n_params(self) -> int:
        """Free parameters: intercepts, shared slopes, scatters and weights."""
        if self.method == "gmm":
            return int(self.extra["n_params"])
        return self.k + len(self.slopes) + 1 + (self.k - 1)

    @property
    def bic(self) -> float:
        """Bayesian information criterion, ``-2 loglik + n_params log(n_obs)``."""
        return -2.0 * self.loglik + self.n_params * np.log(self.n_obs)

    def log_density(self, temperature, log_rate) -> np.ndarray:
        """Per-row log density of ``log_rate`` under each family, shape ``(n, K)``.

        Parameters
        ----------
        temperature : array_like
            Detector temperature (degC).
        log_rate : array_like
            ``log(DN_per_s)``.

        Returns
        -------
        numpy.ndarray
            ``log[(1 - eps) N(y; mu_k(T), sigma_k) + eps U]`` for every family.
        """
        if self.method == "gmm":
            return _gmm_log_density(self, temperature, log_rate)
        y = np.asarray(log_rate, float)[:, None]
        mu = self.mean_log_rate(temperature)
        sig = scatter(mu, self.noise)
        gauss = -0.5 * ((y - mu) / sig) ** 2 - np.log(sig) - 0.5 * np.log(2 * np.pi)
        return np.logaddexp(np.log1p(-CONTAMINATION) + gauss, np.log(CONTAMINATION) + self.log_background)

    def mean_log_rate(self, temperature) -> np.ndarray:
        """Family means of log DN/s at each temperature, shape ``(n, K)``.

        Parameters
        ----------
        temperature : array_like
            Detector temperature (degC).

        Returns
        -------
        numpy.ndarray
            ``alpha_k + beta_1 d + beta_2 d**2`` with ``d = T - REFERENCE_TEMPERATURE``.
        """
        d = np.asarray(temperature, float) - REFERENCE_TEMPERATURE
        shape = self.slopes[0] * d + self.slopes[1] * d**2 if len(self.slopes) else np.zeros_like(d)
        return self.intercepts[None, :] + shape[:, None]

    def posterior(self, temperature, log_rate, files=None) -> np.ndarray:
        """Family probabilities of each row, shape ``(n, K)``.

        Parameters
        ----------
        temperature, log_rate : array_like
            Detector temperature (degC) and ``log(DN_per_s)``.
        files : array_like, optional
            File of each row; rows of one file share their family.

        Returns
        -------
        numpy.ndarray
            Posterior probabilities; rows sum to 1.
        """
        logf = self.log_density(temperature, log_rate)
        codes, n_groups = _codes(files, len(logf))
        per_file = _sum_by(codes, n_groups, logf) + np.log(self.weights)
        post = np.exp(per_file - np.logaddexp.reduce(per_file, axis=1)[:, None])
        return post[codes]


def scatter(mu, noise: float, counts=1.0):
    """Scatter of the log dark current around a family mean ``mu``.

    Parameters
    ----------
    mu : array_like
        Mean log dark current.
    noise : float
        Additive scatter of the dark rate (DN/s/pixel) of one integration.
    counts : array_like or float, optional
        Integrations averaged into each value (per-file means), shape ``(n,)`` or scalar.

    Returns
    -------
    numpy.ndarray
        ``sqrt(noise**2 * exp(-2 mu) / counts + floor**2)`` (delta method, 0.2 % floor).
    """
    c = np.asarray(counts, float)
    if c.ndim == 1 and np.ndim(mu) == 2:
        c = c[:, None]
    return np.sqrt(noise**2 * np.exp(np.minimum(-2.0 * np.asarray(mu, float), 700.0)) / c + _SIGMA_FLOOR**2)


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
    """
    current = np.asarray(dn_per_s, float) - offset / (np.asarray(int_time_ms, float) / 1000.0)
    return np.log(np.maximum(current, 1e-6))


def _codes(files, n: int) -> tuple[np.ndarray, int]:
    if files is None:
        return np.arange(n), n
    codes, uniques = pd.factorize(np.asarray(files), sort=False)
    return codes.astype(np.int64), len(uniques)


def _sum_by(codes: np.ndarray, n_groups: int, values: np.ndarray) -> np.ndarray:
    """Sum the rows of ``values`` (n, K) by group code: (n_groups, K)."""
    if n_groups == len(codes) and np.array_equal(codes, np.arange(n_groups)):
        return values
    return np.column_stack([np.bincount(codes, weights=values[:, j], minlength=n_groups)
                            for j in range(values.shape[1])])


def _design(temperature) -> np.ndarray:
    d = np.asarray(temperature, float) - REFERENCE_TEMPERATURE
    return np.column_stack([d, d**2])


def _em(*args, **kwargs):
    """EM for the contaminated mixture of parallel regressions, from one start.

    Stops when the log-likelihood changes by less than ``tol`` (relative).  A start that
    diverges (a family running off to infinity) returns a log-likelihood of ``-inf``.
    """
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        alpha, beta, noise, weights, loglik = _em_steps(*args, **kwargs)
    if not (np.isfinite(loglik) and np.all(np.isfinite(alpha)) and np.all(np.isfinite(beta)) and np.isfinite(noise)):
        return alpha, beta, noise, weights, -np.inf
    return alpha, beta, noise, weights, loglik


def _em_steps(t, y, codes, n_groups, init_alpha, init_noise, log_bg, *, beta=None, weights=None, max_iter=500,
              tol=1e-8, counts=1.0):
    x = _design(t)
    n, m = x.shape
    k = len(init_alpha)
    alpha, noise = np.array(init_alpha, float), float(init_noise)
    if beta is None:
        beta = np.linalg.lstsq(np.column_stack([np.ones(n), x]), y, rcond=None)[0][1:]
    weights = np.full(k, 1.0 / k) if weights is None else np.asarray(weights, float)
    log_eps, log_keep = np.log(CONTAMINATION), np.log1p(-CONTAMINATION)
    cnt = np.asarray(counts, float)[:, None] if np.ndim(counts) else float(counts)
    last, loglik = -np.inf, -np.inf
    for _ in range(max_iter):
        mu = alpha[None, :] + (x @ beta)[:, None]
        sig = scatter(mu, noise, counts)
        resid = y[:, None] - mu
        gauss = -0.5 * (resid / sig) ** 2 - np.log(sig) - 0.5 * np.log(2 * np.pi) + log_keep
        row = np.logaddexp(gauss, log_eps + log_bg)                     # (n, K)
        per_file = _sum_by(codes, n_groups, row) + np.log(weights)      # (G, K)
        norm = np.logaddexp.reduce(per_file, axis=1)  # numpy's ufunc: far cheaper than scipy's logsumexp here
        loglik = float(norm.sum())
        file_resp = np.exp(per_file - norm[:, None])
        w = file_resp[codes] * np.exp(gauss - row)                       # member of k and not an outlier
        # M-step: one weighted least squares for all intercepts and the shared slopes
        ws = w / sig**2
        a = np.zeros((k + m, k + m))
        b = np.zeros(k + m)
        a[:k, :k] = np.diag(ws.sum(axis=0))
        cross = x.T @ ws                                                  # (m, K)
        a[k:, :k], a[:k, k:] = cross, cross.T
        a[k:, k:] = (x * ws.sum(axis=1)[:, None]).T @ x
        b[:k] = (ws * y[:, None]).sum(axis=0)
        b[k:] = x.T @ (ws.sum(axis=1) * y)
        try:
            theta = np.linalg.solve(a, b)
        except np.linalg.LinAlgError:
            break
        alpha, beta = theta[:k], theta[k:]
        mu = alpha[None, :] + (x @ beta)[:, None]
        excess = np.maximum((y[:, None] - mu) ** 2 - _SIGMA_FLOOR**2, 0.0) * np.exp(2.0 * mu) * cnt
        noise = float(np.sqrt(max((w * excess).sum() / max(w.sum(), 1e-12), 1e-12)))
        weights = np.clip(file_resp.sum(axis=0) / n_groups, 1e-6, None)
        weights /= weights.sum()
        if not np.isfinite(loglik) or abs(loglik - last) <= tol * max(1.0, abs(loglik)):
            break
        last = loglik
    return alpha, beta, noise, weights, loglik


def _starts(resid: np.ndarray, k: int, n_init: int, rng) -> list:
    """Initial intercept offsets for ``k`` families.

    Even quantiles of the residuals, one-dimensional k-means, then families spaced 5, 15 and
    30 % apart in dark current (when temperature and state are correlated in time the
    temperature fit absorbs part of a step, and starts built from its residuals alone miss
    it), then random residual draws.
    """
    even = (np.arange(k) + 0.5) / k
    centres = np.quantile(resid, even)
    starts = [centres.copy()]
    for _ in range(10):  # k-means in one dimension
        nearest = np.abs(resid[:, None] - centres[None, :]).argmin(axis=1)
        centres = np.array([resid[nearest == j].mean() if np.any(nearest == j) else centres[j] for j in range(k)])
    starts.append(np.sort(centres))
    for gap in (0.05, 0.15, 0.3):
        starts.append(gap * (np.arange(k) - (k - 1) / 2.0))
    while len(starts) < n_init:
        starts.append(np.sort(rng.choice(resid, k, replace=False)) if len(resid) >= k else np.sort(rng.normal(0, 1, k)))
    return starts


def fit_mixreg(temperature, dn_per_s, k: int, *, int_time=1000.0, offset: float = 0.0, files=None,
               counts=None, log_current=None, n_init: int = 6, seed: int = 0) -> MixtureFit:
    """Fit a mixture of ``k`` parallel regressions of log dark current on temperature.

    The fitted variable is ``log(DN_per_s - offset / t)``: with the read offset removed
    (from the joint model), states that scale the dark current are exactly parallel lines.

    Parameters
    ----------
    temperature : array_like
        Detector temperature (degC).
    dn_per_s : array_like
        Dark rate (DN/s/pixel).
    k : int
        Number of families.
    int_time : array_like or float, optional
        Integration time (ms) of each row.
    offset : float, optional
        Read offset (DN/pixel per read); 0 fits ``log DN_per_s``.
    files : array_like, optional
        File of each row: rows of one file share their family.
    counts : array_like, optional
        Integrations averaged into each value (for per-file means); scales the noise.
    log_current : array_like, optional
        The log dark current itself (e.g. per-file means), instead of ``dn_per_s``.
    n_init : int, optional
        EM starts (at least five: even quantiles, k-means, three spacings; then random
        residual draws); each runs 20 iterations and the best continues to convergence.
    seed : int, optional
        Seed of the random starts.

    Returns
    -------
    MixtureFit
        The best fit, families sorted so that label 0 is the lowest.
    """
    t = np.asarray(temperature, float)
    y = log_dark_current(dn_per_s, int_time, offset) if log_current is None else np.asarray(log_current, float)
    if not np.all(np.isfinite(y)) or not np.all(np.isfinite(t)):
        raise ValueError("fit_mixreg needs finite temperatures and dark rates")
    cnt = 1.0 if counts is None else np.asarray(counts, float)
    codes, n_groups = _codes(files, len(y))
    span = np.ptp(y) if len(y) > 1 else 1.0
    log_bg = -np.log(span + 1.0)
    rng = np.random.default_rng(seed)
    base = np.polynomial.polynomial.polyfit(t - REFERENCE_TEMPERATURE, y, 2)
    resid = y - np.polynomial.polynomial.polyval(t - REFERENCE_TEMPERATURE, base)
    spread = max(np.std(resid), 3 * _SIGMA_FLOOR)
    starts = _starts(resid, k, n_init, rng) if k > 1 else [np.zeros(1)]
    best = None
    for start in starts:  # short runs from every start (flexmix's initFlexmix) ...
        alpha0 = base[0] + np.asarray(start)
        noise0 = spread / k * np.exp(base[0])
        fit = _em(t, y, codes, n_groups, alpha0, noise0, log_bg, max_iter=20 if len(starts) > 1 else 500, counts=cnt)
        if best is None or fit[4] > best[4]:
            best = fit
    if len(starts) > 1:  # ... then the best one to convergence
        best = _em(t, y, codes, n_groups, best[0], best[2], log_bg, beta=best[1], weights=best[3], counts=cnt)
    alpha, beta, noise, weights, loglik = best
    order = np.argsort(alpha)
    return MixtureFit(alpha[order], beta, noise, weights[order], loglik, len(y), log_bg, offset=float(offset))


def fit_gmm(temperature, dn_per_s, k: int, *, seed: int = 0, n_init: int = 3) -> MixtureFit:
    """Baseline: a 2-D Gaussian mixture on standardised ``(T, log DN/s)``.

    Parameters
    ----------
    temperature, dn_per_s : array_like
        Detector temperature (degC) and dark rate (DN/s/pixel, positive).
    k : int
        Number of components.
    seed : int, optional
        ``random_state`` of scikit-learn's ``GaussianMixture``.
    n_init : int, optional
        Initialisations.

    Returns
    -------
    MixtureFit
        ``method='gmm'``; components sorted by mean log rate (label 0 lowest).  The shared
        slopes are those of a quadratic least-squares fit, for a comparable curve.
    """
    from sklearn.mixture import GaussianMixture

    t = np.asarray(temperature, float)
    y = np.log(np.asarray(dn_per_s, float))
    data = np.column_stack([t, y])
    centre, scale = data.mean(axis=0), data.std(axis=0)
    scale[scale == 0] = 1.0
    gmm = GaussianMixture(k, covariance_type="full", random_state=seed, n_init=n_init).fit((data - centre) / scale)
    order = np.argsort(gmm.means_[:, 1])
    means = gmm.means_[order] * scale + centre
    covs = gmm.covariances_[order] * np.outer(scale, scale)
    coef = np.polynomial.polynomial.polyfit(t - REFERENCE_TEMPERATURE, y, 2)
    shape_at_mean = coef[1] * (means[:, 0] - REFERENCE_TEMPERATURE) + coef[2] * (means[:, 0] - REFERENCE_TEMPERATURE) ** 2
    n = len(y)
    loglik = float(gmm.score(((data - centre) / scale)) * n - n * np.log(scale).sum())
    p = k * 2 + k * 3 + (k - 1)
    return MixtureFit(means[:, 1] - shape_at_mean, coef[1:], float(np.sqrt(covs[:, 1, 1]).mean()), gmm.weights_[order], loglik, n,
                      0.0, method="gmm", extra={"means": means, "covariances": covs, "n_params": p})


def _gmm_log_density(fit: MixtureFit, temperature, log_rate) -> np.ndarray:
    from scipy.stats import multivariate_normal

    pts = np.column_stack([np.asarray(temperature, float), np.asarray(log_rate, float)])
    return np.column_stack([multivariate_normal(m, c, allow_singular=True).logpdf(pts)
                            for m, c in zip(fit.extra["means"], fit.extra["covariances"])]).reshape(len(pts), -1)


def _smallest_family(fit: MixtureFit, temperature, dn_per_s, int_time, files) -> int:
    """Number of files (or rows) hard-assigned to the smallest family."""
    post = fit.posterior(np.asarray(temperature, float), fit.transform(dn_per_s, int_time), files)
    labels = post.argmax(axis=1)
    if files is not None:
        _, first = np.unique(pd.factorize(np.asarray(files))[0], return_index=True)
        labels = labels[first]
    return int(np.bincount(labels, minlength=fit.k).min())


def select_families(temperature, dn_per_s, *, int_time=1000.0, offset: float = 0.0, files=None,
                    method: str = "mixreg", k_max: int = 3, min_weight: float = 0.05, min_members: int = 5,
                    bic_margin: float = BIC_MARGIN, n_init: int = 6, seed: int = 0):
    """Choose the number of families by BIC among admissible fits.

    Parameters
    ----------
    temperature, dn_per_s : array_like
        Detector temperature (degC) and dark rate (DN/s/pixel).
    int_time : array_like or float, optional
        Integration time (ms), with ``offset`` for the mixture of regressions.
    offset : float, optional
        Read offset (DN/pixel per read) removed before the mixture of regressions.
    files : array_like, optional
        File of each row (mixreg only: rows of a file share their family).
    method : {'mixreg', 'gmm'}, optional
        The mixture of regressions (default) or the 2-D Gaussian-mixture baseline.
    k_max : int, optional
        Largest number of families tried.
    min_weight : float, optional
        Smallest admissible family weight; a fit with a smaller family is not admissible
        (it is describing outliers, not a state).
    min_members : int, optional
        Fewest dark files (rows, without ``files``) an admissible family must hold.
    bic_margin : float, optional
        How much lower BIC must be to accept one more family (6: "strong evidence" on
        Kass and Raftery's scale).
    n_init : int, optional
        Starts per fit.
    seed : int, optional
        Random seed.

    Returns
    -------
    best : MixtureFit
        The admissible fit with the lowest BIC.
    criteria : pandas.DataFrame
        One row per ``K``: ``bic``, ``loglik``, ``min_weight``, ``min_members`` (files in
        the smallest family) and ``admissible``.
    """
    if method not in ("mixreg", "gmm"):
        raise ValueError(f"method must be 'mixreg' or 'gmm', not {method!r}")
    fits, rows = [], []
    for k in range(1, k_max + 1):
        if method == "mixreg":
            fit = fit_mixreg(temperature, dn_per_s, k, int_time=int_time, offset=offset, files=files,
                             n_init=n_init if k > 1 else 1, seed=seed)
        else:
            fit = fit_gmm(temperature, dn_per_s, k, seed=seed)
        members = _smallest_family(fit, temperature, dn_per_s, int_time, files if method == "mixreg" else None)
        ok = bool(fit.weights.min() >= min_weight and members >= min(min_members, len(np.asarray(dn_per_s))))
        fits.append(fit)
        rows.append({"K": k, "bic": fit.bic, "loglik": fit.loglik, "min_weight": float(fit.weights.min()),
                     "min_members": members, "admissible": ok})
    criteria = pd.DataFrame(rows)
    best_k = 1
    for k in range(2, k_max + 1):  # a further family must be admissible and strongly supported
        row = criteria.iloc[k - 1]
        if row["admissible"] and row["bic"] < criteria.iloc[best_k - 1]["bic"] - bic_margin:
            best_k = k
    return fits[best_k - 1], criteria
