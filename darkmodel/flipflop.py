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
import os
import warnings
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pandas as pd
from scipy import stats

from .families import CONTAMINATION, REFERENCE_TEMPERATURE, MixtureFit, fit_mixreg, log_dark_current, scatter

__all__ = ["flipflop_test", "group_files", "VERDICTS"]

VERDICTS = ("single-state", "flip-flop", "change-point", "confounded", "insufficient-data")
_EXCEED_STOP = 20          # sequential Monte-Carlo: stop after this many exceedances
_CONFOUND_V = 0.9          # Cramér's V at or above which a variable "fully explains" the families
_CONFOUND_AUC = 0.95       # same, for a continuous variable (AUC or 1 - AUC)
_CV_BLOCKS = 5


def group_files(calibrated: pd.DataFrame, offsets: dict) -> dict:
    """Per-file summaries of every (XUV, INT_TIME) group, in time order.

    Parameters
    ----------
    calibrated : pandas.DataFrame
        Output of :func:`darkmodel.calibrate` (excluded rows are ignored).
    offsets : dict of str to float
        Read offset (DN/pixel per read) per channel, from the joint model.

    Returns
    -------
    dict of (str, int) to pandas.DataFrame
        Columns ``FILENAME``, ``Time``, ``T`` (mean DET_TEMP), ``y`` (median log dark current
        of the file's integrations: one anomalous frame cannot move it), ``n`` (effective
        number of integrations behind ``y``: ``n``, or ``2n/pi`` for a median of three or
        more) and the recorded variables ``binning``, ``MCP_VOLT``,
        ``CASE_TEMP``, ``SEGMENT``, ``N_INT``, ``MIR_DEG`` where the table has them.
    """
    frame = calibrated.reset_index() if calibrated.index.name == "Time" else calibrated.reset_index(drop=True)
    ok = np.isfinite(frame["DN_per_s"].to_numpy(float)) & np.isfinite(frame["DET_TEMP"].to_numpy(float))
    if "exclusion" in frame.columns:
        ok &= frame["exclusion"].isna().to_numpy()
    frame = frame[ok]
    offset = frame["XUV"].map(offsets).astype(float)
    frame = frame.assign(_y=log_dark_current(frame["DN_per_s"], frame["INT_TIME"], 0.0)
                         if offset.isna().all() else
                         np.log(np.maximum(frame["DN_per_s"] - offset / (frame["INT_TIME"] / 1000.0), 1e-6)))
    if "FILENAME" not in frame.columns:
        frame = frame.assign(FILENAME=np.arange(len(frame)).astype(str))
    if {"SPE_OFS", "SPE_SIZE", "SPA_OFS", "SPA_SIZE"} <= set(frame.columns):
        frame = frame.assign(binning=frame["SPE_OFS"].astype(str) + "/" + frame["SPE_SIZE"].astype(str) + "/"
                             + frame["SPA_OFS"].astype(str) + "/" + frame["SPA_SIZE"].astype(str))
    agg = {"Time": ("Time", "min"), "T": ("DET_TEMP", "mean"), "n": ("_y", "size"), "y": ("_y", "median")}
    for col in ("binning", "MCP_VOLT", "SEGMENT", "N_INT", "MIR_DEG"):
        if col in frame.columns:
            agg[col] = (col, "first")
    if "CASE_TEMP" in frame.columns:
        agg["CASE_TEMP"] = ("CASE_TEMP", "mean")
    out = {}
    for (xuv, it), rows in frame.groupby(["XUV", "INT_TIME"], sort=True):
        files = rows.groupby("FILENAME", sort=False).agg(**agg).reset_index()
        # the median resists an anomalous frame; it is as precise as a mean of 2n/pi frames
        files["n"] = np.where(files["n"] >= 3, files["n"] * 2.0 / np.pi, files["n"])
        out[(str(xuv), int(it))] = files.sort_values(["Time", "FILENAME"], kind="stable").reset_index(drop=True)
    return out


# ------------------------------------------------------------------------------- step A
def _fit_k(files: pd.DataFrame, k: int, seed: int) -> MixtureFit:
    return fit_mixreg(files["T"], None, k, log_current=files["y"], counts=files["n"], n_init=4 if k > 1 else 1,
                      seed=seed)


def _lr_families(files: pd.DataFrame, seed: int) -> tuple[float, MixtureFit, MixtureFit]:
    one, two = _fit_k(files, 1, seed), _fit_k(files, 2, seed)
    return max(2.0 * (two.loglik - one.loglik), 0.0), one, two


def _simulate_null(fit: MixtureFit, files: pd.DataFrame, rng) -> np.ndarray:
    """Per-file log dark currents drawn from the fitted one-family model.

    The noise is drawn where it arises, additive in DN/s, and then logged: at short
    INT_TIMEs the log of a small, noisy dark current is skewed, and a null drawn in log space
    would miss that and make the test too liberal.
    """
    mu = fit.mean_log_rate(files["T"].to_numpy())[:, 0]
    current = np.exp(mu) + fit.noise / np.sqrt(files["n"].to_numpy()) * rng.standard_normal(len(mu))
    y = np.log(np.maximum(current, 1e-6))
    outlier = rng.random(len(mu)) < CONTAMINATION
    span = np.exp(-fit.log_background)  # the uniform part's width
    y[outlier] = rng.uniform(mu.min() - span / 2, mu.min() + span / 2, outlier.sum())
    return y


def _sequential_p(observed: float, draw, n_boot: int) -> tuple[float, float, int]:
    """Monte-Carlo p-value, stopping after ``_EXCEED_STOP`` exceedances (Besag & Clifford 1991)."""
    exceed = 0
    done = 0
    for b in range(n_boot):
        done = b + 1
        if draw(b) >= observed:
            exceed += 1
            if exceed >= _EXCEED_STOP:
                p = exceed / done
                return p, math.sqrt(p * (1 - p) / done), done
    p = (exceed + 1) / (done + 1)
    return p, math.sqrt(p * (1 - p) / max(done, 1)), done


# ------------------------------------------------------------------------------- step B
def _logistic_loglik(x: np.ndarray, s: np.ndarray) -> tuple[float, np.ndarray]:
    from sklearn.linear_model import LogisticRegression

    if np.all(s == s[0]):
        return 0.0, np.zeros(x.shape[1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = LogisticRegression(C=1e4, max_iter=500).fit(x, s)
    p = np.clip(clf.predict_proba(x)[:, 1], 1e-12, 1 - 1e-12)
    return float(np.sum(s * np.log(p) + (1 - s) * np.log(1 - p))), clf.coef_[0]


def _memory_design(files: pd.DataFrame, labels: np.ndarray):
    hours = (files["Time"] - files["Time"].iloc[0]).dt.total_seconds().to_numpy() / 3600.0
    gap = np.maximum(np.diff(hours), 1.0 / 3600.0)
    dtdt = np.diff(files["T"].to_numpy()) / gap
    base = np.column_stack([files["T"].to_numpy()[1:], dtdt, np.log(gap)])
    base = (base - base.mean(axis=0)) / np.where(base.std(axis=0) > 0, base.std(axis=0), 1.0)
    return base, np.log(gap)


def _memory_test(files, labels, n_boot, rng):
    base, log_gap = _memory_design(files, labels)
    s, lag = labels[1:], labels[:-1]
    z = (log_gap - log_gap.mean()) / (log_gap.std() or 1.0)

    def lr(s_now, s_lag):
        l0, _ = _logistic_loglik(base, s_now)
        l1, coef = _logistic_loglik(np.column_stack([base, s_lag, s_lag * z]), s_now)
        return max(2 * (l1 - l0), 0.0), coef

    observed, coef = lr(s, lag)
    from sklearn.linear_model import LogisticRegression

    if np.all(s == s[0]):
        return 1.0, float("nan"), float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        null = LogisticRegression(C=1e4, max_iter=500).fit(base, s)
    # the first label and the no-memory probabilities of the rest
    p_null = null.predict_proba(base)[:, 1]

    def draw(_):
        sim = (rng.random(len(p_null)) < p_null).astype(int)
        first = int(rng.random() < labels.mean())
        sim_lag = np.concatenate([[first], sim[:-1]])
        return lr(sim, sim_lag)[0]

    p, _, _ = _sequential_p(observed, draw, n_boot)
    return p, observed, float(coef[-2]) if len(coef) >= 2 else float("nan")


def _runs(files: pd.DataFrame, labels: np.ndarray) -> dict:
    hours = (files["Time"] - files["Time"].iloc[0]).dt.total_seconds().to_numpy() / 3600.0
    starts = np.flatnonzero(np.r_[True, labels[1:] != labels[:-1]])
    run_labels = labels[starts]
    ends = np.r_[starts[1:], len(labels)]
    dwell = np.r_[hours[ends[:-1]] - hours[starts[:-1]], np.nan]  # the last run is censored
    out = {"n_switches": int(len(starts) - 1), "n_runs": int(len(starts)),
           "returns": int(len(starts) - len(np.unique(labels))),
           "min_runs_per_state": int(min(np.sum(run_labels == k) for k in np.unique(labels)))}
    for k in (0, 1):
        d = dwell[(run_labels == k) & np.isfinite(dwell)]
        out[f"dwell_hours_{k}"] = float(np.mean(d)) if len(d) else float("nan")
    finite = dwell[np.isfinite(dwell)]
    out["dwell_hours_median"] = float(np.median(finite)) if len(finite) else float("nan")
    return out


def _markov_view(files: pd.DataFrame, seed: int) -> dict:
    """statsmodels MarkovRegression: switching intercept, common slope and variance, standardised."""
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
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = MarkovRegression(y, k_regimes=2, exog=x, switching_exog=False, switching_variance=False).fit(
                search_reps=5, disp=False, rng=np.random.default_rng(seed))
        if not np.isfinite(res.llf):
            return out
        params = dict(zip(res.model.param_names, np.asarray(res.params)))
        order = np.argsort([params[f"const[{k}]"] for k in range(2)])
        trans = res.regime_transition[:, :, 0]  # [to, from]
        p = [trans[order[k], order[k]] for k in range(2)]
        durations = np.asarray(res.expected_durations)[order]
        out.update({"ms_p00": float(p[0]), "ms_p11": float(p[1]),
                    "ms_duration_hours_0": float(durations[0] * step), "ms_duration_hours_1": float(durations[1] * step)})
    except Exception:  # the second view must never break the verdict; NaN says it failed
        pass
    return out


# ------------------------------------------------------------------------------- step C
def _changepoints(y: np.ndarray, t: np.ndarray) -> list:
    """Steps in the dark-current/temperature relation: ruptures binary segmentation of the
    piecewise regression ``y ~ [1, T]`` (``CostLinear``), BIC-like penalty, at most three."""
    import ruptures

    n = len(y)
    if n < 8:
        return [n]
    x = np.column_stack([np.ones(n), t - REFERENCE_TEMPERATURE])
    resid = y - x @ np.linalg.lstsq(x, y, rcond=None)[0]  # noise scale from neighbours, temperature removed
    sigma = max(np.median(np.abs(np.diff(resid))) / (0.6745 * np.sqrt(2)), 1e-6)
    signal = np.column_stack([y, x])
    algo = ruptures.Binseg(model="linear", min_size=5, jump=1).fit(signal)
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


def _robust_scale(resid: np.ndarray) -> float:
    return max(1.4826 * float(np.median(np.abs(resid - np.median(resid)))), 1e-6)


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
        two = fit_mixreg(tt, None, 2, log_current=yt, counts=counts[train], n_init=5)
        mu = two.mean_log_rate(tt)
        nearest = np.abs(yt[:, None] - mu).argmin(axis=1)
        s_mix = _robust_scale(yt - mu[np.arange(len(yt)), nearest])
        mu_b = two.mean_log_rate(t[block])
        dens = sum(w * stats.t.pdf(y[block], 4, mu_b[:, k], s_mix) for k, w in enumerate(two.weights))
        mix_scores.append(np.log(np.maximum(dens, 1e-300)))
        bkps = _changepoints(yt, tt)
        fits = _segment_fits(yt, tt, bkps)
        seg = np.searchsorted(np.asarray(bkps), np.arange(len(yt)), side="right")
        pred = np.array([np.polynomial.polynomial.polyval(tt[i] - REFERENCE_TEMPERATURE, fits[seg[i]])
                         for i in range(len(yt))])
        s_cp = _robust_scale(yt - pred)
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
def _effect(fit: MixtureFit, files: pd.DataFrame, level: float = 0.95) -> tuple[float, float, float]:
    """Ratio of the families' dark currents, exp(alpha_1 - alpha_0), with a Wald interval."""
    t = files["T"].to_numpy()
    y = files["y"].to_numpy()
    post = fit.posterior(t, y)
    mu = fit.mean_log_rate(t)
    w = post / scatter(mu, fit.noise, files["n"].to_numpy()) ** 2
    se = np.sqrt(1.0 / np.maximum(w.sum(axis=0), 1e-12))
    diff = fit.intercepts[1] - fit.intercepts[0]
    half = stats.norm.ppf(0.5 + level / 2) * math.sqrt(se[0] ** 2 + se[1] ** 2)
    return math.exp(diff), math.exp(diff - half), math.exp(diff + half)


# ------------------------------------------------------------------------------- one group
def _test_group(task: tuple) -> dict:
    key, files, n_boot, alpha, min_files, seed_seq = task
    xuv, int_time = key
    rng = np.random.default_rng(seed_seq)
    seed = int(rng.integers(2**31))
    row = {"XUV": xuv, "INT_TIME": int_time, "n_files": int(len(files)), "n_rows": int(files["n"].sum()),
           "verdict": "insufficient-data", "n_families": pd.NA, "p_families": np.nan, "p_families_mc_se": np.nan,
           "n_boot_used": 0, "lr_families": np.nan, "p_memory": np.nan, "lag_lr": np.nan, "lag_coef": np.nan,
           "n_switches": pd.NA, "n_runs": pd.NA, "returns": pd.NA, "dwell_hours_0": np.nan, "dwell_hours_1": np.nan,
           "dwell_hours_median": np.nan, "ms_p00": np.nan, "ms_p11": np.nan, "ms_duration_hours_0": np.nan,
           "ms_duration_hours_1": np.nan, "cv_score_switching": np.nan, "cv_score_changepoint": np.nan,
           "changepoints": "", "effect_ratio": np.nan, "effect_ci_low": np.nan, "effect_ci_high": np.nan,
           "confounders": "", "confounded_by": ""}
    if len(files) < min_files:
        row["confounders"] = f"only {len(files)} dark files (need {min_files})"
        return row

    observed, one, two = _lr_families(files, seed)

    def draw(_):
        boot = files.assign(y=_simulate_null(one, files, rng))
        return _lr_families(boot, seed)[0]

    p, se, used = _sequential_p(observed, draw, n_boot)
    row.update({"lr_families": observed, "p_families": p, "p_families_mc_se": se, "n_boot_used": used})
    if p >= alpha:
        row.update({"verdict": "single-state", "n_families": 1, "n_switches": 0, "n_runs": 1, "returns": 0})
        return row

    labels = two.posterior(files["T"].to_numpy(), files["y"].to_numpy()).argmax(axis=1)
    row["n_families"] = 2
    runs = _runs(files, labels)
    row.update({k: v for k, v in runs.items() if k != "min_runs_per_state"})
    p_mem, lag_lr, lag_coef = _memory_test(files, labels, n_boot, rng)
    row.update({"p_memory": p_mem, "lag_lr": lag_lr, "lag_coef": lag_coef})
    row.update(_markov_view(files, seed))
    y, t = files["y"].to_numpy(), files["T"].to_numpy()
    row["cv_score_switching"], row["cv_score_changepoint"] = _cv_scores(y, t, files["n"].to_numpy())
    row["changepoints"] = ", ".join(str(files["Time"].iloc[b]) for b in _changepoints(y, t)[:-1])
    row["effect_ratio"], row["effect_ci_low"], row["effect_ci_high"] = _effect(two, files)
    row["confounders"], row["confounded_by"] = _confounders(files, labels, alpha)
    if row["confounded_by"]:
        row["verdict"] = "confounded"
    elif runs["min_runs_per_state"] >= 2 and row["cv_score_switching"] > row["cv_score_changepoint"]:
        row["verdict"] = "flip-flop"
    else:
        row["verdict"] = "change-point"
    return row


def flipflop_test(calibrated: pd.DataFrame, model=None, n_boot: int = 199, alpha: float = 0.01, seed: int = 0,
                  n_jobs: int | None = None, min_files: int = 12) -> pd.DataFrame:
    """Answer the flip-flop question per channel and INT_TIME with calibrated tests.

    Parameters
    ----------
    calibrated : pandas.DataFrame
        Output of :func:`darkmodel.calibrate`.
    model : DarkRateModel, optional
        A fitted model (its joint read offsets are used, and the result is stored in it so
        that :meth:`~darkmodel.DarkRateModel.save` writes it); fitted here if not given.
    n_boot : int, optional
        Bootstrap replicates per test (fewer when the sequential stop applies).
    alpha : float, optional
        Significance level of the family and memory tests.
    seed : int, optional
        Seed; every group gets its own stream, so the result does not depend on ``n_jobs``.
    n_jobs : int, optional
        Worker processes (default: all cores; 1 runs in this process).
    min_files : int, optional
        Groups with fewer dark files get ``insufficient-data``.

    Returns
    -------
    pandas.DataFrame
        One row per group: ``XUV``, ``INT_TIME``, ``verdict`` (see :data:`VERDICTS`), the
        p-values (``p_families`` with ``p_families_mc_se``, ``p_memory``), ``n_switches``,
        ``n_runs``, ``returns``, dwell times in hours, the Markov-switching transition
        probabilities and expected durations, the held-out scores of the switching and
        change-point models, change-point times, the effect size ``effect_ratio`` with its
        95 % interval, and the confounder findings.
    """
    from .model import fit as fit_model

    if model is None:
        model = fit_model(calibrated)
    offsets = {ch: j.offset for ch, j in model.joint_.items()}
    groups = group_files(calibrated, offsets)
    children = np.random.SeedSequence(seed).spawn(len(groups))
    tasks = [(key, files, n_boot, alpha, min_files, child) for (key, files), child in zip(groups.items(), children)]
    workers = n_jobs or os.cpu_count() or 1
    if workers == 1 or len(tasks) <= 1:
        rows = [_test_group(t) for t in tasks]
    else:
        with ProcessPoolExecutor(max_workers=min(workers, len(tasks))) as pool:
            rows = list(pool.map(_test_group, tasks))
    result = pd.DataFrame(rows)
    result.attrs.update({"n_boot": n_boot, "alpha": alpha, "seed": seed})
    model.flipflop = result
    return result
