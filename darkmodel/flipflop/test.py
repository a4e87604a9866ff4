"""Does the instrument flip-flop between discrete states?  A calibrated test per group.

The seed notebook closes on "Do we have some flip-flopping state the instrument is in,
creating different modes of detector efficiency?".  :func:`flipflop_test` answers it per
(``XUV``, ``INT_TIME``) group with one of five verdicts:

``single-state``
    one family: a second one is not supported once temperature, integration time (the read
    offset) and outliers are accounted for;
``flip-flop``
    two families that alternate in time, each recurring after the other;
``change-point``
    two families separated in time (one or a few permanent steps), not alternating;
``confounded``
    two families fully explained by a recorded variable (binning set, MCP voltage, mirror
    position, case temperature, orbit segment, frames per file);
``insufficient-data``
    too few dark files to say.

The unit is the dark file (all its integrations share a state): per file, the median log
dark current ``y = median log(DN_per_s - offset/t)`` (offset from the joint model), the mean
temperature and the number of integrations.  The steps, each calibrated:

A. *More than one family*: likelihood ratio of 2 against 1 family (mixture of parallel
   regressions on the per-file means), with its null distribution from a **parametric
   bootstrap** of the fitted one-family model (the chi-square approximation is invalid for
   mixtures).  Replicates stop early once 20 exceed the observed statistic (Besag & Clifford's
   sequential Monte Carlo p-value); the Monte-Carlo standard error is reported.
B. *Memory in time*: does a file's family depend on the previous file's, given temperature,
   its rate of change and the (irregular) time gap?  Logistic regressions with and without
   the lagged label (and its interaction with the log gap), LR calibrated by a parametric
   bootstrap of the no-memory model.  Switches, runs and dwell times in hours; a
   Markov-switching regression (statsmodels ``MarkovRegression``, standardised, several starts)
   as a second view, with its transition matrix and expected durations.
C. *Alternation or epochs*: a change-point model (``ruptures`` binary segmentation of the
   piecewise regression on temperature, ``CostLinear``, at most three steps -- it estimates
   the temperature slope within epochs, so a step that coincides with a temperature change
   is not mistaken for one) against the two-family switching mixture, by the log
   predictive score on held-out contiguous time blocks; and the number of returns to an
   earlier level.  ``flip-flop`` needs both: every state entered at least twice, and the
   switching model predicting held-out time better than the epochs.
D. *Confounders*: association of the family with each recorded variable (chi-square test of
   independence with Cramér's V; Mann-Whitney with the AUC for case temperature).
E. *Effect size*: the ratio of the two families' dark currents (parallel in log, so the
   same at every temperature), with a confidence interval.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from functools import partial

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.exceptions import ConvergenceWarning
from statsmodels.tools.sm_exceptions import ConvergenceWarning as SMConvergenceWarning

from ..model.fingerprint import data_fingerprint, model_fingerprint, other_data
from ..model.verdicts import FlipFlopResult
from ..parallel import n_workers, run_tasks
from ..stats.bootstrap import BootstrapReplicate, check_monte_carlo, sequential_p
from ..stats.families import FamilySelection, select_families
from ..stats.mixture import REFERENCE_TEMPERATURE, Covariates, MixtureFit, fit_mixreg
from ..stats.noise import robust_scale
from ..stats.perfile import group_files
from ..stats.states import log_transitions
from ..validation import N_JOBS, RANDOM_STATE, Interval, validate_arguments

__all__ = ["flipflop_test", "group_files", "verdict", "VERDICTS", "MIN_DRIFT", "MIN_RUNS_PER_STATE"]

VERDICTS = ("single-state", "flip-flop", "change-point", "drift", "confounded", "families-without-memory",
            "inconclusive", "insufficient-data")
#: Power the memory test must have had against the fitted switching law before its silence
#: is read as "no memory" (else the verdict is ``inconclusive``).
MIN_MEMORY_POWER = 0.8
#: Smallest aging over the fitted period (fraction of the dark current) called a drift.
MIN_DRIFT = 0.01
#: Shortest epoch, in files and as a share of the group, for a step in time to count.
MIN_EPOCH_FILES, MIN_EPOCH_SHARE = 10, 0.1
#: Fewest runs of every state for a flip-flop (each state entered at least this often).
MIN_RUNS_PER_STATE = 2
_CONFOUND_V = 0.9          # Cramér's V at or above which a variable "fully explains" the families
_CONFOUND_AUC = 0.95       # same, for a continuous variable (AUC or 1 - AUC)
_CV_BLOCKS = 5


# ------------------------------------------------------------------------------- step B
def _logistic_loglik(x: np.ndarray, s: np.ndarray) -> tuple[float, np.ndarray]:
    import sklearn
    from scipy.special import expit
    from sklearn.linear_model import LogisticRegression

    if np.all(s == s[0]):
        return 0.0, np.zeros(x.shape[1])
    # a separable design stops at max_iter: its likelihood is still right; the inputs are the
    # test's own finite arrays, so scikit-learn's validation (a fifth of the time) is skipped
    with warnings.catch_warnings(), sklearn.config_context(assume_finite=True, skip_parameter_validation=True):
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = LogisticRegression(C=1e4, max_iter=500, solver="newton-cholesky").fit(x, s)
    p = np.clip(expit(x @ clf.coef_[0] + clf.intercept_[0]), 1e-12, 1 - 1e-12)  # predict_proba's own formula
    return float(np.sum(s * np.log(p) + (1 - s) * np.log(1 - p))), clf.coef_[0]


def _memory_design(files: pd.DataFrame, labels: np.ndarray):
    hours = (files["Time"] - files["Time"].iloc[0]).dt.total_seconds().to_numpy() / 3600.0
    gap = np.maximum(np.diff(hours), 1.0 / 3600.0)
    dtdt = np.diff(files["T"].to_numpy()) / gap
    base = np.column_stack([files["T"].to_numpy()[1:], dtdt, np.log(gap)])
    base = (base - base.mean(axis=0)) / np.where(base.std(axis=0) > 0, base.std(axis=0), 1.0)
    return base, np.log(gap)


def _lag_lr(base: np.ndarray, z: np.ndarray, s_now: np.ndarray, s_lag: np.ndarray) -> tuple[float, np.ndarray]:
    """Likelihood ratio of the previous file's label (and its decay with the gap ``z``)."""
    l0, _ = _logistic_loglik(base, s_now)
    l1, coef = _logistic_loglik(np.column_stack([base, s_lag, s_lag * z]), s_now)
    return max(2 * (l1 - l0), 0.0), coef


@dataclass(frozen=True)
class MemoryLRReplicate(BootstrapReplicate):
    """One replicate of the memory test: labels drawn without memory, their lag likelihood ratio.

    A :class:`~darkmodel.stats.bootstrap.BootstrapReplicate`.
    """

    base: np.ndarray
    z: np.ndarray
    p_null: np.ndarray
    p_first: float
    seed: int

    def _statistic(self, rng) -> float:
        sim = (rng.random(len(self.p_null)) < self.p_null).astype(int)
        first = int(rng.random() < self.p_first)
        return _lag_lr(self.base, self.z, sim, np.concatenate([[first], sim[:-1]]))[0]


def _memory_test(files, labels, n_boot, rng, replicate_pool=None):
    base, log_gap = _memory_design(files, labels)
    s, lag = labels[1:], labels[:-1]
    z = (log_gap - log_gap.mean()) / (log_gap.std() or 1.0)
    observed, coef = _lag_lr(base, z, s, lag)
    from sklearn.linear_model import LogisticRegression

    if np.all(s == s[0]):
        return 1.0, float("nan"), float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        null = LogisticRegression(C=1e4, max_iter=500, solver="newton-cholesky").fit(base, s)
    # the first label and the no-memory probabilities of the rest
    p_null = null.predict_proba(base)[:, 1]

    draw = MemoryLRReplicate(base, z, p_null, float(labels.mean()), int(rng.integers(2**63)))
    p, _, _ = sequential_p(observed, draw, n_boot, replicate_pool=replicate_pool)
    return p, observed, float(coef[-2]) if len(coef) >= 2 else float("nan")


def _switching_law(hours: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """The two-state switching law of :mod:`darkmodel.stats.states` fitted to a label sequence.

    The stationary share ``pi`` of state 1 and the dwell scale ``tau`` (hours) of the
    chain whose memory decays with the gap, by maximum likelihood of the observed
    transitions (``tau`` on a bounded log scale).

    Returns
    -------
    pi, tau : float
    """
    from scipy.optimize import minimize_scalar

    pi = float(np.clip(labels.mean(), 1e-3, 1 - 1e-3))
    gaps, log_w = np.diff(hours), np.log([1 - pi, pi])
    steps = (np.arange(len(labels) - 1), labels[:-1], labels[1:])

    def nll(log_tau):
        return -float(log_transitions(gaps, float(np.exp(log_tau)), log_w)[steps].sum())

    span = max(float(hours[-1] - hours[0]), 1.0)
    res = minimize_scalar(nll, bounds=(np.log(1e-2), np.log(10 * span)), method="bounded")
    return pi, float(np.exp(res.x))


def _memory_power(files: pd.DataFrame, labels: np.ndarray, alpha: float, rng, n_sim: int = 49) -> tuple[float, float]:
    """Power of the memory test against the switching law fitted to the labels.

    A parametric bootstrap: label sequences drawn from :func:`_switching_law` at the files'
    own times, each tested as the data were (the lag likelihood ratio against its
    chi-square(2) critical value at ``alpha``).

    Returns
    -------
    power, tau : float
        The share of switching-law sequences in which the test sees memory, and the
        fitted dwell scale (hours).
    """
    from scipy.stats import chi2

    hours = (files["Time"] - files["Time"].iloc[0]).dt.total_seconds().to_numpy() / 3600.0
    pi, tau = _switching_law(hours, labels)
    to_one = np.exp(log_transitions(np.diff(hours), tau, np.log([1 - pi, pi])))[:, :, 1]  # P(1 | previous)
    base, log_gap = _memory_design(files, labels)
    z = (log_gap - log_gap.mean()) / (log_gap.std() or 1.0)
    critical = chi2.ppf(1 - alpha, 2)
    seen = 0
    for _ in range(n_sim):
        u = rng.random(len(labels))
        sim = np.empty(len(labels), dtype=int)
        sim[0] = int(u[0] < pi)
        for i in range(1, len(labels)):
            sim[i] = int(u[i] < to_one[i - 1, sim[i - 1]])
        if np.all(sim == sim[0]):
            continue
        seen += _lag_lr(base, z, sim[1:], sim[:-1])[0] > critical
    return seen / n_sim, tau


def _power_text(power: float) -> str:
    return f"{power:.2f}" if np.isfinite(power) else "(not estimated)"


def _persistence(tau: float) -> str:
    """The fitted persistence time in words; the optimiser's lower bound is said as a bound."""
    if not np.isfinite(tau):
        return "persistence not estimated"
    if tau <= 0.0105:
        return "no persistence: the labels fit the 0.01 h floor"
    return f"persistence {tau:.3g} h"


def _runs(files: pd.DataFrame, labels: np.ndarray) -> dict:
    hours = (files["Time"] - files["Time"].iloc[0]).dt.total_seconds().to_numpy() / 3600.0
    starts = np.flatnonzero(np.r_[True, labels[1:] != labels[:-1]])
    run_labels = labels[starts]
    ends = np.r_[starts[1:], len(labels)]
    dwell = np.r_[hours[ends[:-1]] - hours[starts[:-1]], np.nan]  # the last run is censored
    out: dict[str, float] = {"n_switches": int(len(starts) - 1), "n_runs": int(len(starts)),
           "returns": int(len(starts) - len(np.unique(labels))),
           "min_runs_per_state": int(min(np.sum(run_labels == k) for k in np.unique(labels))),
           # runs of two or more files: one misassigned file near a step is not a return
           "min_long_runs_per_state": int(min(np.sum((run_labels == k) & (ends - starts >= 2))
                                              for k in np.unique(labels)))}
    for k in (0, 1):
        d = dwell[(run_labels == k) & np.isfinite(dwell)]
        out[f"dwell_hours_{k}"] = float(np.mean(d)) if len(d) else float("nan")
    finite = dwell[np.isfinite(dwell)]
    out["dwell_hours_median"] = float(np.median(finite)) if len(finite) else float("nan")
    return out


def _markov_view(files: pd.DataFrame, seed: int) -> dict:
    """Statsmodels MarkovRegression: switching intercept, common slope and variance, standardised."""
    from statsmodels.tsa.regime_switching.markov_regression import MarkovRegression

    out = {"ms_p00": np.nan, "ms_p11": np.nan, "ms_duration_hours_0": np.nan, "ms_duration_hours_1": np.nan}
    y = files["y"].to_numpy()
    t = files["T"].to_numpy()
    if len(y) < 10 or np.std(y) == 0:
        return out
    y = (y - y.mean()) / y.std()
    x = (t - t.mean()) / (t.std() or 1.0)
    hours = (files["Time"] - files["Time"].iloc[0]).dt.total_seconds().to_numpy() / 3600.0
    step = float(np.median(np.diff(hours))) if len(hours) > 1 else float("nan")
    try:
        with warnings.catch_warnings():  # a descriptive view: its optimiser's complaints are not ours
            warnings.simplefilter("ignore", SMConvergenceWarning)
            warnings.simplefilter("ignore", RuntimeWarning)
            # Nelder-Mead: from most random starts BFGS ran to a NaN likelihood (slope ~1e3, sigma2 ~0)
            res = MarkovRegression(y, k_regimes=2, exog=x[:, None], switching_exog=False, switching_variance=False).fit(
                search_reps=5, method="nm", maxiter=3000, disp=False, rng=np.random.default_rng(seed))
        if not np.isfinite(res.llf):
            return out
        params = dict(zip(res.model.param_names, np.asarray(res.params)))
        order = np.argsort([params[f"const[{k}]"] for k in range(2)])
        trans = res.regime_transition[:, :, 0]  # [to, from]
        p = [trans[order[k], order[k]] for k in range(2)]
        durations = np.asarray(res.expected_durations)[order]
        out.update({"ms_p00": float(p[0]), "ms_p11": float(p[1]),
                    "ms_duration_hours_0": float(durations[0] * step), "ms_duration_hours_1": float(durations[1] * step)})
    except (np.linalg.LinAlgError, ValueError, OverflowError):  # a singular or degenerate fit: NaN says so
        pass
    return out


# ------------------------------------------------------------------------------- step C
def _line_cost():
    """The cost of ruptures' ``CostLinear`` for ``y ~ [1, T]`` from cumulative sums: O(1) per segment.

    Binary segmentation asks for the cost of every candidate split of every segment (tens of
    thousands of least-squares fits per group); the residual sum of squares of a straight
    line needs only six segment sums.  Like ``CostLinear`` (whose ``lstsq`` reports no
    residual for a rank-deficient segment), a segment of one temperature costs 0.  The
    equality with ``CostLinear`` is tested.
    """
    from ruptures.base import BaseCost
    from ruptures.costs import NotEnoughPoints

    class LineCost(BaseCost):
        model = "line-cumsum"
        min_size = 2

        def fit(self, signal):
            self.signal = signal
            y = signal[:, 0] - signal[:, 0].mean()   # the RSS of a line is shift-invariant
            x = signal[:, 2] - signal[:, 2].mean()
            zero = np.zeros(1)
            self.sums = [np.concatenate([zero, np.cumsum(v)]).tolist() for v in (x, y, x * x, x * y, y * y)]
            return self

        def error(self, start, end):
            if end - start < self.min_size:
                raise NotEnoughPoints
            sx, sy, sxx, sxy, syy = (c[end] - c[start] for c in self.sums)
            n = end - start
            vxx = sxx - sx * sx / n
            if vxx <= 1e-12 * max(sxx, 1e-300):  # one temperature: lstsq's rank-deficient case
                return 0.0
            vxy = sxy - sx * sy / n
            return max(syy - sy * sy / n - vxy * vxy / vxx, 0.0)

    return LineCost()


def _changepoints(y: np.ndarray, t: np.ndarray) -> list:
    """Steps in the dark-current/temperature relation: ruptures binary segmentation of the
    piecewise regression ``y ~ [1, T]`` (``CostLinear``'s cost, computed from cumulative
    sums), BIC-like penalty, at most three.
    """
    import ruptures

    n = len(y)
    if n < 8:
        return [n]
    x = np.column_stack([np.ones(n), t - REFERENCE_TEMPERATURE])
    resid = y - x @ np.linalg.lstsq(x, y, rcond=None)[0]  # noise scale from neighbours, temperature removed
    sigma = max(np.median(np.abs(np.diff(resid))) / (0.6745 * np.sqrt(2)), 1e-6)
    signal = np.column_stack([y, x])
    algo = ruptures.Binseg(custom_cost=_line_cost(), min_size=5, jump=1).fit(signal)
    bkps = algo.predict(pen=3.0 * sigma**2 * np.log(n))
    bkps = sorted(b for b in bkps if b < n)[:3]
    return bkps + [n]


def _segment_fits(y, t, bkps):
    """Epoch levels with one shared temperature slope: ``y = a_segment + b (T - T0)``."""
    edges = np.r_[0, bkps]
    seg = np.searchsorted(np.asarray(bkps), np.arange(len(y)), side="right")
    x = np.column_stack([(seg[:, None] == np.arange(len(edges) - 1)[None, :]).astype(float),
                         t - REFERENCE_TEMPERATURE])
    coef = np.linalg.lstsq(x, y, rcond=None)[0]
    return [np.array([a, coef[-1]]) for a in coef[:-1]]


def _cv_scores(y: np.ndarray, t: np.ndarray, counts: np.ndarray) -> tuple[float, float]:
    """Mean log predictive density of held-out time blocks: (switching, change-point).

    The switching model is the two-family mixture fitted on the training blocks (both family
    lines at the held-out temperatures, weighted); the change-point model is the piecewise
    regression of the training blocks, predicting a held-out block with the segments around
    it (both, equally weighted, when a step falls in the gap).  Both predictives are
    Student-t (4 degrees of freedom, robust scale) so a few outlying files weigh the same.
    """
    n = len(y)
    mix_scores, cp_scores = [], []
    for block in np.array_split(np.arange(n), _CV_BLOCKS):
        train = np.setdiff1d(np.arange(n), block)
        if len(train) < 8 or len(block) == 0:
            continue
        yt, tt = y[train], t[train]
        two = fit_mixreg(tt, yt, 2, counts=counts[train], covariates=Covariates.for_data(tt, None), excess=False,
                         n_init=5,
                         rng=np.random.default_rng(len(train)))
        mu = two.mean_log_rate(tt)
        nearest = np.abs(yt[:, None] - mu).argmin(axis=1)
        s_mix = robust_scale(yt - mu[np.arange(len(yt)), nearest], 1e-6)
        mu_b = two.mean_log_rate(t[block])
        dens = sum(w * stats.t.pdf(y[block], 4, mu_b[:, k], s_mix) for k, w in enumerate(two.weights))
        mix_scores.append(np.log(np.maximum(dens, 1e-300)))
        bkps = _changepoints(yt, tt)
        fits = _segment_fits(yt, tt, bkps)
        seg = np.searchsorted(np.asarray(bkps), np.arange(len(yt)), side="right")
        pred = np.array([np.polynomial.polynomial.polyval(tt[i] - REFERENCE_TEMPERATURE, fits[seg[i]])
                         for i in range(len(yt))])
        s_cp = robust_scale(yt - pred, 1e-6)
        before = np.searchsorted(train, block[0]) - 1  # the last training file before the block
        around = {int(seg[i]) for i in (before, before + 1) if 0 <= i < len(yt)}
        dens = sum(stats.t.pdf(y[block], 4, np.polynomial.polynomial.polyval(t[block] - REFERENCE_TEMPERATURE,
                                                                             fits[k]), s_cp) for k in around)
        cp_scores.append(np.log(np.maximum(dens / len(around), 1e-300)))
    if not mix_scores:
        return float("nan"), float("nan")
    return float(np.mean(np.concatenate(mix_scores))), float(np.mean(np.concatenate(cp_scores)))


# ------------------------------------------------------------------------------- step D
def _confounders(files: pd.DataFrame, labels: np.ndarray, alpha: float) -> tuple[str, str]:
    findings, culprits = [], []
    for col in ("binning", "MCP_VOLT", "SEGMENT", "N_INT", "MIR_DEG"):
        if col not in files.columns:
            continue
        values = files[col].astype(str)
        if values.nunique() < 2:
            continue
        table = pd.crosstab(labels, values)
        chi2, p, _, _ = stats.chi2_contingency(table, correction=False)
        v = math.sqrt(chi2 / (table.to_numpy().sum() * (min(table.shape) - 1)))
        findings.append(f"{col}: chi-square p={p:.2g}, Cramer's V={v:.2f}")
        if p < alpha and v >= _CONFOUND_V:
            culprits.append(col)
    if "CASE_TEMP" in files.columns and files["CASE_TEMP"].notna().all() and len(np.unique(labels)) == 2:
        a, b = files["CASE_TEMP"][labels == 0], files["CASE_TEMP"][labels == 1]
        u, p = stats.mannwhitneyu(a, b)
        auc = u / (len(a) * len(b))
        findings.append(f"CASE_TEMP: Mann-Whitney p={p:.2g}, AUC={auc:.2f}")
        if p < alpha and max(auc, 1 - auc) >= _CONFOUND_AUC:
            culprits.append("CASE_TEMP")
    return "; ".join(findings), ", ".join(culprits)




# ------------------------------------------------------------------------------- step E
def _effect(fit: MixtureFit, level: float = 0.95) -> tuple[float, float, float, float, float]:
    """Ratio of the families' dark currents, ``exp(alpha_1 - alpha_0)``, with a Wald interval;
    also the log ratio and its standard error (for :meth:`FlipFlopResult.conf_int`).
    """
    diff = fit.intercepts[1] - fit.intercepts[0]
    if fit.cov is None:
        return math.exp(diff), float("nan"), float("nan"), diff, float("nan")
    se = math.sqrt(max(fit.cov[0, 0] + fit.cov[1, 1] - 2.0 * fit.cov[0, 1], 0.0))
    half = stats.norm.ppf(0.5 + level / 2) * se
    return math.exp(diff), math.exp(diff - half), math.exp(diff + half), diff, se


# ------------------------------------------------------------------------------- drift
def _resolvable_drift(days: np.ndarray, sd: float, alpha: float, power: float = 0.8) -> float:
    """The smallest straight trend over the period that the drift test would see with ``power``.

    A trend of relative amplitude ``a`` over the files' span, fitted by least squares to files
    of scatter ``sd`` (log dark current) at times ``days``, has standard error
    ``sd * span / (sd(days) sqrt(n))``; it is seen at level ``alpha`` with probability
    ``power`` from ``(z_{1-alpha/2} + z_power)`` standard errors (a one-degree-of-freedom
    approximation of the likelihood-ratio test, which is somewhat less powerful).

    Returns
    -------
    float
        The relative amplitude (NaN without times or spread in time).
    """
    days = days[np.isfinite(days)]
    if days.size < 3 or not np.ptp(days) > 0 or not np.isfinite(sd):
        return float("nan")
    se = sd * np.ptp(days) / (np.std(days) * math.sqrt(days.size))
    return float(math.expm1((stats.norm.isf(alpha / 2) + stats.norm.ppf(power)) * se))


def _drift(files: pd.DataFrame, one: MixtureFit, rng) -> tuple[float, float]:
    """A smooth trend in time of one family: (likelihood-ratio p against no trend, amplitude).

    Where the fit took no trend (a group of fewer files than a trend needs), a straight trend
    is tested instead, so that a single-state verdict's silence about drift is a test's.
    The amplitude is the relative change of the dark current from the trend's lowest to its
    highest point over the fitted files.
    """
    cov = one.covariates
    days = files["days"].to_numpy(float)
    fit = partial(fit_mixreg, files["T"], files["y"], 1, counts=files["n"], df=one.noise.df,
                  excess=one.noise.excess > 0, rng=rng)
    if cov.time_degree == 0:  # the fit took no trend (too few files for one): test a straight one
        line = Covariates.for_data(files["T"], days, time_degree=1, temp_degree=cov.temp_degree, min_files_for_trend=3)
        if line.time_degree == 0:
            return float("nan"), 0.0
        try:
            flat, one, cov = one, fit(covariates=line), line
        except ValueError:  # no trend can be fitted to these files: the drift test cannot run
            return float("nan"), 0.0
    else:
        flat = fit(covariates=Covariates(cov.temp_degree, 0))
    lr = max(2.0 * (one.loglik - flat.loglik), 0.0)
    p = float(stats.chi2.sf(lr, cov.time_degree))
    trend = cov.time_columns(days) @ one.coef[cov.temp_degree:]
    return p, float(math.exp(np.ptp(trend)) - 1.0)


def _step_or_trend(files: pd.DataFrame, one: MixtureFit) -> tuple[float, str]:
    """Is a trend in time a smooth drift or steps?  BIC of steps against the smooth trend.

    Both models share the temperature shape; the steps are ruptures' change-points of the
    piecewise regression (at most three), each step costing a level and a location.

    Returns
    -------
    delta_bic : float
        BIC(steps) - BIC(smooth trend): negative when the steps fit better (NaN when there
        is no step).
    when : str
        Times of the steps.
    """
    y, t = files["y"].to_numpy(), files["T"].to_numpy()
    n = len(y)
    # an epoch is long: a short run of odd files (a burst, a bad week) is not a change-point
    shortest = max(MIN_EPOCH_FILES, int(MIN_EPOCH_SHARE * n))
    bkps = [b for b in _changepoints(y, t)[:-1] if b >= shortest and n - b >= shortest]
    bkps = [b for i, b in enumerate(bkps) if i == 0 or b - bkps[i - 1] >= shortest] + [n]
    if len(bkps) < 2:
        return float("nan"), ""
    cov = one.covariates
    temp = cov.matrix(t)[:, :cov.temp_degree]
    seg = np.searchsorted(np.asarray(bkps), np.arange(n), side="right")
    levels = (seg[:, None] == np.arange(len(bkps))[None, :]).astype(float)
    trend = np.column_stack([np.ones(n), temp, cov.time_columns(files["days"].to_numpy(float))])

    def bic(x, extra):
        resid = y - x @ np.linalg.lstsq(x, y, rcond=None)[0]
        return n * math.log(max(float(resid @ resid) / n, 1e-300)) + (x.shape[1] + extra) * math.log(n)

    delta = bic(np.column_stack([levels, temp]), len(bkps) - 1) - bic(trend, 0)
    return float(delta), ", ".join(str(files["Time"].iloc[b]) for b in bkps[:-1])


# ------------------------------------------------------------------------------- the rule
def verdict(evidence: dict, *, alpha: float, min_drift: float = MIN_DRIFT,
            min_runs_per_state: int = MIN_RUNS_PER_STATE) -> tuple[str, str]:
    """The verdict and its reason from a group's evidence: a pure function of named thresholds.

    Parameters
    ----------
    evidence : dict
        ``n_files``, ``min_files``, ``n_families`` with ``family_reason``, ``p_drift`` and
        ``drift_amplitude`` (with ``step_delta_bic``, ``steps`` and ``p_epochs``, the
        bootstrap test of one step, where run; ``resolvable_contrast``, the smallest ratio
        of two states the separation rule lets through, said with a single state); with
        two families also ``confounded_by``,
        ``min_runs_per_state``, ``p_memory``, ``cv_score_switching`` and
        ``cv_score_changepoint``.
    alpha : float
        Significance level of the memory and drift tests.
    min_drift : float, optional
        Smallest trend amplitude called a drift.
    min_runs_per_state : int, optional
        Fewest runs of each state for a flip-flop.

    Returns
    -------
    verdict : str
        One of :data:`VERDICTS`.
    reason : str
        Why, in words, consistent with the numbers.

    Examples
    --------
    >>> verdict({"n_files": 5, "min_files": 12}, alpha=0.05)
    ('insufficient-data', 'only 5 dark files (need 12)')
    """
    if evidence["n_files"] < evidence["min_files"]:
        return "insufficient-data", f"only {evidence['n_files']} dark files (need {evidence['min_files']})"
    if evidence["n_families"] < 2:
        p_drift, amp = evidence.get("p_drift", np.nan), evidence.get("drift_amplitude", 0.0)
        step = evidence.get("step_delta_bic", np.nan)
        p_epochs = evidence.get("p_epochs", np.nan)
        no_step = np.isfinite(p_epochs) and p_epochs >= alpha  # the bootstrap test of one step found none
        if np.isfinite(p_drift) and p_drift < alpha and amp >= min_drift and np.isfinite(step) and step < 0 \
                and not no_step:
            tested = (f"; the bootstrap test of one step gives p={p_epochs:.2g} < {alpha:g}"
                      if np.isfinite(p_epochs) else "")
            return "change-point", (f"one family level at a time ({evidence['family_reason']}); the trend in time "
                                    f"(p={p_drift:.2g}) is a step: steps at {evidence.get('steps', '?')} fit better "
                                    f"than a smooth trend (BIC lower by {-step:.1f}){tested}")
        if np.isfinite(p_drift) and p_drift < alpha and amp >= min_drift:
            steps = (f"; steps fit the trend better by BIC, but the bootstrap test of a step found none "
                     f"(p={p_epochs:.2g} >= {alpha:g})" if no_step and np.isfinite(step) and step < 0 else "")
            return "drift", (f"one family ({evidence['family_reason']}); a smooth trend in time of {100 * amp:.1f} % "
                             f"over the period (p={p_drift:.2g} < {alpha:g}, >= {100 * min_drift:g} %): aging, not "
                             f"states{steps}")
        trend = (f"; no drift (trend {100 * amp:.1f} %, p={p_drift:.2g})" if np.isfinite(p_drift) else
                 "; drift not tested (no trend in time could be fitted to these files)" if "p_drift" in evidence
                 else "")
        resolution = evidence.get("resolvable_contrast", np.nan)
        limit = (f"; states less than {100 * resolution:.1f} % apart would not be resolved from this scatter"
                 if np.isfinite(resolution) else "")
        drift = evidence.get("resolvable_drift", np.nan)
        if np.isfinite(drift):  # the drift test's silence is a negative claim too
            limit += f", nor a drift of less than about {100 * drift:.0f} % over the period"
        return "single-state", f"{evidence['family_reason']}{trend}{limit}"
    head = evidence["family_reason"]
    if evidence.get("confounded_by"):
        return "confounded", f"{head}; the families follow {evidence['confounded_by']}: a recorded variable, not a hidden state"
    runs = evidence["min_runs_per_state"]
    p_mem = evidence["p_memory"]
    cv_s, cv_c = evidence["cv_score_switching"], evidence["cv_score_changepoint"]
    recurs = runs >= min_runs_per_state
    memory = np.isfinite(p_mem) and p_mem < alpha
    switching_better = np.isfinite(cv_s) and np.isfinite(cv_c) and cv_s > cv_c
    if recurs and memory and switching_better:
        return "flip-flop", (f"{head}; every state recurs ({runs} runs of two or more files), the state sequence has memory given "
                             f"temperature (p={p_mem:.2g} < {alpha:g}) and switching predicts held-out time better "
                             f"than epochs ({cv_s:.3f} > {cv_c:.3f})")
    if not recurs or not switching_better:
        why = (f"a state does not recur ({runs} run of two or more files)" if not recurs else
               f"epochs predict held-out time at least as well as switching ({cv_c:.3f} >= {cv_s:.3f})")
        return "change-point", f"{head}; {why}: a step in time, not alternation"
    power, tau = evidence.get("memory_power", np.nan), evidence.get("switching_tau_hours", np.nan)
    if not (np.isfinite(power) and power >= MIN_MEMORY_POWER):
        return "inconclusive", (f"{head}; the states recur and the memory test found none (p={p_mem:.2g} >= {alpha:g}), "
                                f"but it had power {_power_text(power)} < {MIN_MEMORY_POWER:g} to see the switching law fitted "
                                f"to the labels ({_persistence(tau)}): the data cannot tell flip-flop from "
                                "families without memory")
    return "families-without-memory", (f"{head}; the states recur but the sequence shows no memory given temperature "
                                       f"(p={p_mem:.2g} >= {alpha:g}, and the test had power {power:.2f} to see the "
                                       f"switching law fitted to the labels): not a persistent state")


# ------------------------------------------------------------------------------- one group
def _test_group(task: dict, replicate_pool=None) -> dict:
    key, files = task["key"], task["files"]
    n_boot, alpha, min_files = task["n_boot"], task["alpha"], task["min_files"]
    xuv, int_time = key
    rng = np.random.default_rng(task["seed_seq"])
    seed = int(rng.integers(2**31))
    row = {"XUV": xuv, "INT_TIME": int_time, "n_files": int(len(files)), "n_rows": int(files["n_int"].sum()),
           "verdict": "insufficient-data", "reason": "", "n_families": pd.NA, "p_families": np.nan,
           "p_families_mc_se": np.nan, "n_boot_used": 0, "lr_families": np.nan, "separation": np.nan,
           "p_drift": np.nan, "drift_amplitude": np.nan, "step_delta_bic": np.nan, "noise_additive": np.nan, "noise_relative": np.nan,
           "noise_df": np.nan, "p_memory": np.nan, "memory_power": np.nan, "resolvable_contrast": np.nan,
           "resolvable_drift": np.nan,
           "switching_tau_hours": np.nan,
           "lag_lr": np.nan, "lag_coef": np.nan,
           "n_switches": pd.NA, "n_runs": pd.NA, "returns": pd.NA, "dwell_hours_0": np.nan, "dwell_hours_1": np.nan,
           "dwell_hours_median": np.nan, "ms_p00": np.nan, "ms_p11": np.nan, "ms_duration_hours_0": np.nan,
           "ms_duration_hours_1": np.nan, "cv_score_switching": np.nan, "cv_score_changepoint": np.nan,
           "changepoints": "", "effect_ratio": np.nan, "effect_ci_low": np.nan, "effect_ci_high": np.nan,
           "effect_log": np.nan, "effect_log_se": np.nan,
           "confounders": "", "confounded_by": ""}
    evidence = {"n_files": len(files), "min_files": min_files}
    if len(files) < min_files:
        row["verdict"], row["reason"] = verdict(evidence, alpha=alpha)
        return row
    days = files["days"].to_numpy(float) if np.all(np.isfinite(files["days"])) else None
    fitted = task.get("fitted")
    if fitted is not None:  # the model's families: fit and test agree on K by construction
        m = fitted.mixture
        sel = FamilySelection(m, {m.k: m}, fitted.selection, f"{fitted.reason} (the model's families)", {})
    else:
        sel = select_families(files["T"], files["y"], counts=files["n"], days=days, k_max=2, alpha=alpha,
                              n_boot=n_boot, min_separation=task["min_separation"],
                              temperature_step=float(files["T_step"].iloc[0]), rng=rng,
                              replicate_pool=replicate_pool)
        if task.get("model_k") is not None and task["model_k"] > 2:
            sel.reason = (f"{sel.reason} (the model kept {task['model_k']} families; a flip-flop is a question of "
                          "two states, so the test compares two)")
    one = sel.fits.get(1, sel.fit)
    # the smallest gap between two states that the separation rule lets through, as a ratio
    resolution = task["min_separation"] * math.hypot(float(np.sqrt(one.noise.variance(float(np.median(files["y"])),
                                                                                        float(np.median(files["n"]))))),
                                                     float(one.extra.get("rounding_sd", 0.0)), one.noise.excess_sd())
    evidence["resolvable_contrast"] = row["resolvable_contrast"] = math.expm1(resolution)
    evidence["resolvable_drift"] = row["resolvable_drift"] = _resolvable_drift(
        files["days"].to_numpy(float), resolution / task["min_separation"], alpha)
    epochs_row = sel.table[sel.table["model"] == "epochs"] if "model" in sel.table else sel.table.iloc[0:0]
    if len(epochs_row):
        evidence["p_epochs"] = float(epochs_row["p_value"].iloc[0])
    two_row = sel.table[(sel.table["K"] == 2) & (sel.table.get("model", "mixture") == "mixture")]
    if len(two_row):
        r = two_row.iloc[0]
        row.update({"lr_families": r["lr"], "p_families": r["p_value"], "p_families_mc_se": r["p_mc_se"],
                    "n_boot_used": int(r["n_boot_used"]), "separation": r["separation"]})
    row.update({"noise_additive": one.noise.additive, "noise_relative": one.noise.relative, "noise_df": one.noise.df})
    evidence.update({"n_families": sel.k, "family_reason": sel.reason})
    row["n_families"] = sel.k
    if sel.k < 2:
        p_drift, amp = _drift(files, one, rng) if days is not None else (np.nan, 0.0)
        row.update({"p_drift": p_drift, "drift_amplitude": amp, "n_switches": 0, "n_runs": 1, "returns": 0})
        evidence.update({"p_drift": p_drift, "drift_amplitude": amp})
        if not np.isfinite(p_drift):  # no drift test ran: no power to state
            evidence["resolvable_drift"] = row["resolvable_drift"] = np.nan
        if np.isfinite(p_drift) and p_drift < alpha:
            evidence["step_delta_bic"], evidence["steps"] = _step_or_trend(files, one)
            row["step_delta_bic"], row["changepoints"] = evidence["step_delta_bic"], evidence["steps"]
        row["verdict"], row["reason"] = verdict(evidence, alpha=alpha)
        return row

    two = sel.fit
    labels = two.posterior(files["T"], files["y"], files["n"], days if two.covariates.time_degree else None
                           ).argmax(axis=1)
    runs = _runs(files, labels)
    row.update({k: v for k, v in runs.items() if not k.startswith("min_")})
    y, t = files["y"].to_numpy(), files["T"].to_numpy()
    if two.is_epochs:  # the families are the epochs of one step: no alternation to test for memory
        p_mem = np.nan
        row["changepoints"] = str(files["Time"].iloc[int(np.argmax(labels != labels[0]))])
    else:
        p_mem, lag_lr, lag_coef = _memory_test(files, labels, n_boot, rng, replicate_pool)
        row.update({"p_memory": p_mem, "lag_lr": lag_lr, "lag_coef": lag_coef})
        if np.isfinite(p_mem) and p_mem >= alpha:  # silence: did the test have the power to speak?
            row["memory_power"], row["switching_tau_hours"] = _memory_power(files, labels, alpha, rng)
        row.update(_markov_view(files, seed))
        row["changepoints"] = ", ".join(str(files["Time"].iloc[b]) for b in _changepoints(y, t)[:-1])
    # held-out scores of switching and of epochs: evidence beside the verdict, whichever the families are
    row["cv_score_switching"], row["cv_score_changepoint"] = _cv_scores(y, t, files["n"].to_numpy())
    (row["effect_ratio"], row["effect_ci_low"], row["effect_ci_high"], row["effect_log"],
     row["effect_log_se"]) = _effect(two)
    row["confounders"], row["confounded_by"] = _confounders(files, labels, alpha)
    evidence.update({"confounded_by": row["confounded_by"], "min_runs_per_state": runs["min_long_runs_per_state"],
                     "p_memory": p_mem, "memory_power": row["memory_power"],
                     "switching_tau_hours": row["switching_tau_hours"], "cv_score_switching": row["cv_score_switching"],
                     "cv_score_changepoint": row["cv_score_changepoint"]})
    row["verdict"], row["reason"] = verdict(evidence, alpha=alpha)
    return row


def _model_families(model, key) -> dict:
    """``fitted``: the model's fit of a group where the test can take its families from it
    (up to two, by the mixture of regressions), else ``None``; ``model_k``: its number of
    families (``None`` where the group was not fitted).
    """
    g = model.groups_.get(key)
    if g is None or not g.fitted:
        return {"fitted": None, "model_k": None}
    usable = g.mixture.method == "mixreg" and g.mixture.k <= 2
    return {"fitted": g if usable else None, "model_k": int(g.mixture.k)}


@validate_arguments({
    "n_boot": [Interval("int", 1, None)], "alpha": [Interval("real", 0, 1, closed="neither")],
    "random_state": RANDOM_STATE, "n_jobs": N_JOBS, "min_files": [Interval("int", 2, None)],
    "min_separation": [None, Interval("real", 0, None)],
})
def flipflop_test(calibrated: pd.DataFrame, model=None, n_boot: int = 199, alpha: float = 0.05, random_state: int = 0,
                  n_jobs: int | None = None, min_files: int = 12, min_separation: float | None = None,
                  progress=None) -> pd.DataFrame:
    """Answer the flip-flop question per channel and INT_TIME with calibrated tests.

    Parameters
    ----------
    calibrated : pandas.DataFrame
        Output of :func:`darkmodel.calibrate`.
    model : DarkRateModel, optional
        A fitted model (its joint read offsets are used; it is not changed -- save the
        result with it by ``model.save(path, flipflop=result)``); fitted here if not given
        (at the test's ``alpha`` and ``n_boot``, and its families used: one fit, not two).
        Where it was fitted on these data (the same fingerprint), every group's families
        are the model's (up to two; the settings say ``families: "the model's"``), so the
        fit and the test never disagree on the number of families; on other data, or
        with more than two families, the test finds the families itself.
    n_boot : int, optional
        Bootstrap replicates per test (fewer when the sequential stop applies); the floor
        of the Monte-Carlo p-value, ``1/(n_boot+1)``, must be below ``alpha``.
    alpha : float, optional
        Significance level of the family, memory and drift tests.
    random_state : int, optional
        Seed; every group gets its own stream, so the result does not depend on ``n_jobs``.
    n_jobs : int, optional
        Worker processes (scikit-learn's convention: ``None`` or 1 runs in this process,
        ``-1`` all cores).
    min_files : int, optional
        Groups with fewer dark files get ``insufficient-data``.
    min_separation : float, optional
        Smallest gap between families in within-family standard deviations (default: the
        model's, else :data:`~darkmodel.stats.families.MIN_SEPARATION`).
    progress : callable, optional
        Called with 1 as each group's test finishes (e.g. ``tqdm.update``); if it has a
        ``replicates`` method, that is called with 1 as each bootstrap replicate of the
        largest group is done (see :func:`darkmodel.parallel.run_tasks`).

    Returns
    -------
    FlipFlopResult
        ``.table`` (also :meth:`~FlipFlopResult.to_frame`) holds one row per group:
        ``XUV``, ``INT_TIME``, ``verdict`` (see :data:`VERDICTS`) with its
        ``reason`` in words, the family test (``p_families`` with ``p_families_mc_se``,
        ``separation``), the noise model, the drift test (``p_drift``, ``drift_amplitude``),
        ``p_memory``, ``n_switches``, ``n_runs``, ``returns``, dwell times in hours, the
        Markov-switching transition probabilities and expected durations, the held-out
        scores of the switching and change-point models, change-point times, the effect
        size ``effect_ratio`` with its 95 % interval (``effect_log`` and ``effect_log_se``
        for :meth:`~FlipFlopResult.conf_int` at any level), the confounder findings,
        ``memory_power``, ``resolvable_contrast`` (the smallest state contrast the group's
        scatter resolves: what a ``single-state`` verdict could have missed) and
        ``resolvable_drift`` (the smallest drift over the period the drift test would see with
        80 % power).
        ``.settings`` holds the test's settings; ``summary()`` prints the answer.

    Raises
    ------
    ValueError
        If ``n_boot`` cannot reach ``alpha`` or the table has no usable rows.
    """
    from ..model.estimator import fit as fit_model
    from ..stats.families import MIN_SEPARATION

    check_monte_carlo(n_boot, alpha)
    fitted_here = model is None
    if fitted_here:  # at the test's level and replicates, so that the test can take the families from it
        model = fit_model(calibrated, alpha=alpha, n_boot=n_boot, random_state=random_state, n_jobs=n_jobs)
    if min_separation is None:
        min_separation = getattr(model, "min_separation", MIN_SEPARATION)
    fingerprint = data_fingerprint(calibrated)
    own_data = fitted_here or (model_fingerprint(model) is not None and other_data(model, fingerprint) is None)
    tasks = _group_tasks(calibrated, model, own_data, random_state, n_boot=n_boot, alpha=alpha, min_files=min_files,
                         min_separation=min_separation)
    workers = n_workers(n_jobs, default_all=False)
    if workers > 1:
        from ..stats.em_compiled import warm_up

        warm_up()  # the forked workers inherit the loaded kernel
    rows = run_tasks(_test_group, tasks, workers=workers, size=lambda t: len(t["files"]), progress=progress,
                     share_largest=True)
    return FlipFlopResult(pd.DataFrame(rows), {
        "n_boot": n_boot, "alpha": alpha, "random_state": random_state, "min_files": min_files, "min_separation": min_separation,
        "min_drift": MIN_DRIFT, "min_runs_per_state": MIN_RUNS_PER_STATE,
        "data_fingerprint": fingerprint, "model_fingerprint": None if fitted_here else model_fingerprint(model),
        "families": ("fitted here, at the test's alpha" if fitted_here else
                     "the model's" if own_data else "fitted by the test")})


def _group_tasks(calibrated: pd.DataFrame, model, own_data: bool, random_state: int, **settings) -> list:
    """One task per (channel, INT_TIME): its files, the settings, a random stream and the model's families.

    Raises
    ------
    ValueError
        If the table has no usable rows.
    """
    offsets = {ch: (j.offset if j.identified else 0.0) for ch, j in model.joint_.items()}
    groups = group_files(calibrated, offsets)
    if not groups:
        raise ValueError("no usable rows to test (every row is excluded, non-finite or non-positive)")
    children = np.random.SeedSequence(random_state).spawn(len(groups))
    return [{"key": key, "files": files, **settings, "seed_seq": child,
             **(_model_families(model, key) if own_data else {"fitted": None, "model_k": None})}
            for (key, files), child in zip(groups.items(), children)]
