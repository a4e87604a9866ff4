r"""Families that are epochs in time: one step in the dark current at an unknown time.

A mixture separates families by level alone, so two states whose levels overlap (a
15 % step under 8 % per-file scatter) cannot be told apart by it, and the smooth time
trend of the shape half absorbs a step.  When the instrument changes state once and stays,
time itself labels the files.  This module fits that alternative: one family with the
shared shape (temperature polynomial and time trend) plus a step at the cut ``c``,

.. math::

    y_i = \alpha + \beta\,[t_i > c] + x_i^\top \gamma + \varepsilon_i ,

the noise model as for the mixture.  The cut maximises the weighted score statistic for a
step among all cuts leaving at least ``min_files`` files on each side (a sup-score, Andrews
1993); the likelihood is then maximised at that cut.  :func:`~darkmodel.stats.families.select_families`
tests it against one family by a parametric bootstrap of the one-family fit, which
calibrates the search over cuts and keeps a smooth drift (which the time trend models) from
passing for a step; the trend of that null gets the degree (up to
:data:`~darkmodel.stats.mixture.MAX_TIME_DEGREE`) that BIC prefers, since a saturating aging
curve leaves 0.1 % residuals around a quadratic, which long integrations resolve.  The
result is a :class:`~darkmodel.stats.mixture.MixtureFit` with two families whose labels come
from time (``extra['epoch_cut']``, days since 1970).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .bootstrap import BootstrapReplicate, sequential_p
from .mixture import MAX_TIME_DEGREE, Covariates, MixtureFit, fit_mixreg, prepare_design, row_log_density, run_em, simulate_files
from .noise import tail_df

__all__ = ["best_cut", "fit_epochs", "select_epochs", "EpochLRReplicate"]


def best_cut(one: MixtureFit, temperature, log_current, counts, days, min_files: int = 5) -> tuple[float, float]:
    """The time at which a step best explains a one-family fit's residuals.

    Parameters
    ----------
    one : MixtureFit
        One-family fit (its shape and noise model weight the residuals).
    temperature, log_current, counts, days : array_like
        The files fitted (days since 1970).
    min_files : int, optional
        Fewest files on each side of the cut.

    Returns
    -------
    cut : float
        Midpoint (days) between the last file before and the first after the step; NaN when
        no cut leaves ``min_files`` files on each side.
    score : float
        The weighted score statistic of the step at that cut (chi-square(1) scale at a fixed
        cut).

    Examples
    --------
    >>> from darkmodel.stats.families import fit_mixreg
    >>> rng = np.random.default_rng(0)
    >>> days = np.arange(200.0)
    >>> t = rng.uniform(-20, -15, 200)
    >>> y = -1 + 0.09 * (t + 18) + 0.1 * (days >= 120) + rng.normal(0, 0.02, 200)
    >>> one = fit_mixreg(t, y, 1, days=days)
    >>> cut, score = best_cut(one, t, y, np.ones(200), days)
    >>> float(cut), bool(score > 100)
    (119.5, True)
    """
    t, y, cnt, x, _ = prepare_design(temperature, log_current, counts, days, one.covariates)
    d = np.asarray(days, float)
    order = np.argsort(d, kind="stable")
    t, y, cnt, x, d = t[order], y[order], cnt[order], x[order], d[order]
    n = len(y)
    mu = one.intercepts[0] + x @ one.coef
    # EM weights of the one-family fit: membership of the main part (not an outlier, no
    # particle excess) times the Student-t weight, over the variance
    row, main, z, v, _ = row_log_density(y[:, None], mu[:, None], one.noise, cnt[:, None], one.log_background)
    w = (np.exp(main - row) * one.noise.tail_weights(z) / v)[:, 0]
    design = np.column_stack([np.ones(n), x])
    gram = design.T @ (design * w[:, None])
    r = y - mu
    wr = w * r
    # suffix sums: the step column of cut c is 1 for files c, c+1, ..., n-1
    s_wr = np.cumsum(wr[::-1])[::-1]
    s_w = np.cumsum(w[::-1])[::-1]
    s_wx = np.cumsum((design * w[:, None])[::-1], axis=0)[::-1]
    cuts = np.arange(min_files, n - min_files + 1)
    cuts = cuts[d[cuts - 1] < d[np.minimum(cuts, n - 1)]] if len(cuts) else cuts
    if len(cuts) == 0:
        return float("nan"), 0.0
    try:
        inv = np.linalg.inv(gram)
    except np.linalg.LinAlgError:
        return float("nan"), 0.0
    b = s_wx[cuts]
    num = s_wr[cuts] - b @ (inv @ (design.T @ wr))
    den = s_w[cuts] - np.einsum("ij,jk,ik->i", b, inv, b)
    score = np.where(den > 1e-12 * s_w[0], num**2 / np.maximum(den, 1e-300), 0.0)
    j = int(np.argmax(score))
    c = int(cuts[j])
    return float((d[c - 1] + d[c]) / 2.0), float(score[j])


def fit_epochs(one: MixtureFit, temperature, log_current, *, counts=None, days, min_files: int = 5,
               max_iter: int = 300) -> MixtureFit | None:
    """Two families as the epochs before and after one step in time.

    Parameters
    ----------
    one : MixtureFit
        The one-family fit of the same files (shape, noise model and tails to start from).
    temperature, log_current : array_like
        Per-file mean temperature (degC) and log dark current.
    counts : array_like, optional
        Effective integrations per file.
    days : array_like
        Time of each file (days since 1970).
    min_files : int, optional
        Fewest files per epoch.
    max_iter : int, optional
        Most EM iterations.

    Returns
    -------
    MixtureFit or None
        Two families (label 0 the lower level), weights the epochs' shares of the files,
        ``extra['epoch_cut']`` the cut (days) and ``extra['epoch_families']`` the family of
        the epoch before and after it; ``None`` when no cut is possible or the fit diverges.

    Examples
    --------
    >>> from darkmodel.stats.families import fit_mixreg
    >>> rng = np.random.default_rng(1)
    >>> days = np.arange(300.0)
    >>> t = rng.uniform(-20, -15, 300)
    >>> y = -1 + 0.09 * (t + 18) - 0.12 * (days >= 100) + rng.normal(0, 0.05, 300)
    >>> one = fit_mixreg(t, y, 1, days=days)
    >>> two = fit_epochs(one, t, y, days=days)
    >>> two.extra["epoch_families"], round(float(two.intercepts[1] - two.intercepts[0]), 1)
    ([1, 0], 0.1)
    """
    t, y, cnt, x, covariates = prepare_design(temperature, log_current, counts, days, one.covariates)
    d = np.asarray(days, float)
    cut, _ = best_cut(one, t, y, cnt, d, min_files=min_files)
    if not np.isfinite(cut):
        return None
    after = (d > cut).astype(float)
    xs = np.column_stack([x, after])
    start = np.r_[one.coef, 0.0]
    state = run_em(xs, y, cnt, np.array([one.intercepts[0]]), start, one.noise, None, one.log_background,
                max_iter=max_iter)
    if not np.isfinite(state.loglik):
        return None
    a0 = float(state.alpha[0])
    step = float(state.coef[-1])
    levels = np.array([a0, a0 + step])
    order = np.argsort(levels, kind="stable")       # order[j]: epoch holding family j
    family_of_epoch = np.argsort(order).tolist()    # epoch -> family
    m = x.shape[1]
    cov = None
    if state.normal is not None:
        try:
            raw = np.linalg.inv(state.normal)        # (alpha, coef..., step)
            jac = np.zeros((2 + m, 2 + m))           # -> (alpha_before, alpha_after, coef...)
            jac[0, 0] = 1.0
            jac[1, 0], jac[1, 1 + m] = 1.0, 1.0
            jac[2:, 1:1 + m] = np.eye(m)
            full = jac @ raw @ jac.T
            perm = np.r_[order, np.arange(2, 2 + m)]
            cov = full[np.ix_(perm, perm)]
        except np.linalg.LinAlgError:
            cov = None
    shares = np.array([np.mean(after == 0), np.mean(after == 1)])
    mu0 = levels[order][0] + x @ state.coef[:-1]
    extra = {"median_mu": float(np.median(mu0)), "median_count": float(np.median(cnt)),
             "temp_range": [float(t.min()), float(t.max())], "epoch_cut": float(cut),
             "epoch_families": [int(f) for f in family_of_epoch]}
    return MixtureFit(levels[order], state.coef[:-1].copy(), covariates, state.noise, shares[order], state.loglik,
                      len(y), one.log_background, cov, state.converged, state.n_iter, extra=extra)


@dataclass(frozen=True)
class EpochLRReplicate(BootstrapReplicate):
    """One bootstrap replicate of the likelihood ratio of two epochs against one family.

    A :class:`~darkmodel.stats.bootstrap.BootstrapReplicate`: files simulated from ``null``,
    refitted with one family and with the best step.
    """

    null: MixtureFit
    t: np.ndarray
    counts: np.ndarray
    days: np.ndarray
    df: float
    excess: bool
    min_files: int
    seed: int

    def _statistic(self, rng) -> float:
        ys = simulate_files(self.null, self.t, self.counts, self.days, rng)
        try:
            a = fit_mixreg(self.t, ys, 1, counts=self.counts, days=self.days, covariates=self.null.covariates,
                           df=self.df, excess=self.excess, rng=rng)
        except ValueError:
            return 0.0
        step = fit_epochs(a, self.t, ys, counts=self.counts, days=self.days, min_files=self.min_files)
        return 0.0 if step is None else max(2.0 * (step.loglik - a.loglik), 0.0)


def select_epochs(one: MixtureFit, t, y, cnt, d, rows: list, reason: str, *, alpha, n_boot, min_files, min_weight,
                 min_step, rng, replicate_pool=None) -> tuple[MixtureFit, str]:
    """One family against two epochs (a step at the best cut), by a bootstrap of the one-family fit.

    Called by :func:`~darkmodel.stats.families.select_families` once it has kept one family.

    Parameters
    ----------
    one : MixtureFit
        The one-family fit.
    t, y, cnt, d : numpy.ndarray
        Files' temperatures, log dark currents, effective integrations and times (days).
    rows : list of dict
        The selection's evidence table; the epoch row is appended.
    reason : str
        Why one family so far.
    alpha, n_boot, min_files, min_weight, min_step, rng, replicate_pool
        As :func:`~darkmodel.stats.families.select_families` (``min_step`` is its ``min_epoch_step``).

    Returns
    -------
    fit : MixtureFit
        The epochs, or ``one`` when they are not accepted.
    reason : str
        The reason extended by the epoch test's outcome.
    """
    df, excess = one.noise.df, one.noise.excess > 0
    # the null is one family with a smooth trend flexible enough for aging (a saturating drift
    # leaves 0.1 % residuals around a quadratic, which precise groups resolve): degree by BIC
    null = one
    for degree in range(one.covariates.time_degree + 1, MAX_TIME_DEGREE + 1):
        cov = Covariates.for_data(t, d, time_degree=degree, temp_degree=one.covariates.temp_degree)
        try:
            richer = fit_mixreg(t, y, 1, counts=cnt, days=d, covariates=cov, df=df, excess=excess, rng=rng)
        except ValueError:
            break
        if richer.bic < null.bic:
            null = richer
    step = fit_epochs(null, t, y, counts=cnt, days=d, min_files=min_files)
    if step is None:
        return one, reason
    lr = max(2.0 * (step.loglik - null.loglik), 0.0)

    draw = EpochLRReplicate(null, t, cnt, d, df, excess, min_files, int(rng.integers(2**63)))
    p, se, used = sequential_p(lr, draw, n_boot, replicate_pool=replicate_pool)
    smallest = int(min(np.sum(d <= step.extra["epoch_cut"]), np.sum(d > step.extra["epoch_cut"])))
    admissible = bool(smallest >= min_files and step.weights.min() >= min_weight)
    rows.append({"K": 2, "model": "epochs", "loglik": step.loglik, "bic": step.bic, "df": tail_df(df), "lr": lr,
                 "p_value": p, "p_mc_se": se, "n_boot_used": used, "separation": step.separation(),
                 "smallest_family": smallest, "admissible": admissible})
    when = pd.Timestamp(step.extra["epoch_cut"] * 86400.0, unit="s").strftime("%Y-%m-%d %H:%M")
    size = 100.0 * (math.exp(step.intercepts[1] - step.intercepts[0]) - 1.0)
    head = (f"two epochs (a {size:.1f} % step at {when}) vs 1 family (time trend of degree "
            f"{null.covariates.time_degree}): bootstrap p={p:.3g}")
    if p >= alpha:
        return one, f"{reason}; {head} >= alpha {alpha:g}"
    if not admissible:
        return one, f"{reason}; {head} < alpha {alpha:g}, but an epoch holds only {smallest} files (need {min_files})"
    if abs(size) < 100 * min_step:
        return one, (f"{reason}; {head} < alpha {alpha:g}, but a step under {100 * min_step:g} % is within the "
                     "calibration of the temperature and the shape, not a change of state")
    return step, f"2 families as epochs in time: {head} < alpha {alpha:g} ({reason})"
