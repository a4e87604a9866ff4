"""The fitted model as tables and words: its groups, families, joint law and summary.

Pure views of a fitted :class:`~darkmodel.model.estimator.DarkRateModel` (its ``groups``,
``families``, ``joint`` and ``summary()`` call these), kept apart from the estimator so that
fitting, viewing, predicting and the file each live in their own place.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..stats.identification import IDENTIFIED, NOT_IDENTIFIED, doubling_status, estimate_status, floor_label, shown
from ..stats.mixture import REFERENCE_TEMPERATURE, MixtureFit
from ..stats.noise import SCALE_FLOOR

__all__ = ["groups_table", "families_table", "joint_table", "model_summary"]

_LN2 = math.log(2.0)


def groups_table(model) -> pd.DataFrame:
    """One row per (XUV, INT_TIME) group: sizes, status, families, the reason, the noise model.

    Parameters
    ----------
    model : DarkRateModel
        A fitted model.

    Returns
    -------
    pandas.DataFrame
    """
    rows = []
    for (xuv, it), g in sorted(model.groups_.items()):
        row = {"XUV": xuv, "INT_TIME": it, "n_rows": g.n_rows, "n_files": g.n_files,
               "n_families": g.law.k if g.fitted else pd.NA, "status": g.status, "method": model.method,
               "reason": g.reason if g.fitted else g.status, "temp_min": g.temp_range[0],
               "temp_max": g.temp_range[1]}
        if g.fitted:
            m = g.law
            row["weights"] = tuple(round(float(w), 4) for w in m.weights)
            rates = tuple(float(v) for v in model._family_rates(g, np.array([REFERENCE_TEMPERATURE]), None)[0])
            row["rate_at_ref"] = rates
            row["family_ratio"] = tuple(r / rates[0] for r in rates)
            row["doubling_temperature"], row["doubling_status"] = _doubling(m)
            row["noise_additive"] = m.noise.additive
            row["noise_relative"] = m.noise.relative
            row["noise_relative_at_floor"] = bool(m.noise.relative <= SCALE_FLOOR * (1 + 1e-6))
            row["noise_df"] = m.noise.df
            if m.method == "mixreg":
                row["p_two_families"] = float(g.selection.loc[g.selection["K"] == 2, "p_value"].iloc[0]) \
                    if (g.selection["K"] == 2).any() else np.nan
                row["separation"] = m.separation()
                row["time_trend_degree"] = m.covariates.time_degree
                row["converged"] = m.converged
                row["n_iter"] = m.n_iter
        rows.append(row)
    return pd.DataFrame(rows)


def families_table(model) -> pd.DataFrame:
    """One row per family: weight, level and rate at the reference temperature with errors.

    Parameters
    ----------
    model : DarkRateModel
        A fitted model.

    Returns
    -------
    pandas.DataFrame
    """
    rows = []
    for (xuv, it), g in sorted(model.groups_.items()):
        if not g.fitted:
            continue
        m = g.law
        rates = model._family_rates(g, np.array([REFERENCE_TEMPERATURE]), None)[0]  # every family at once
        doubling, status = _doubling(m)
        for k in range(m.k):
            se = float(m.mean_se([REFERENCE_TEMPERATURE], k)[0]) if m.cov is not None else np.nan
            rows.append({"XUV": xuv, "INT_TIME": it, "family": k, "weight": float(m.weights[k]),
                         "log_current_at_ref": float(m.intercepts[k]), "log_current_err": se,
                         "rate_at_ref": float(rates[k]),
                         "ratio_to_lowest": float(np.exp(m.intercepts[k] - m.intercepts[0])),
                         "slope_per_degC": float(m.coef[0]),
                         "doubling_temperature": doubling, "doubling_status": status})
    return pd.DataFrame(rows)


def joint_table(model) -> pd.DataFrame:
    """The joint offset model per channel: offset with its error, doubling temperature, identification.

    Parameters
    ----------
    model : DarkRateModel
        A fitted model.

    Returns
    -------
    pandas.DataFrame
    """
    rows = []
    for ch, j in sorted(model.joint_.items()):
        offset_status = estimate_status(j.offset, j.offset_err, fit_reason=j.reason if not j.identified else "")
        q_err = float(np.sqrt(j.cov[2, 2])) if np.isfinite(j.cov[2, 2]) and j.cov[2, 2] >= 0 else np.nan
        doubling = doubling_status(j.q, q_err, fit_reason=j.reason if not j.identified else "")
        rows.append({"XUV": ch, "offset": shown(j.offset, offset_status),
                     "offset_err": shown(j.offset_err, offset_status), "offset_status": offset_status,
                     "p": j.p if j.identified else np.nan, "q": j.q if j.identified else np.nan,
                     "doubling_temperature": shown(j.doubling_temperature, doubling),
                     "doubling_status": doubling, "scale": j.scale,
                     "int_time_spread_explained": j.spread_explained, "n_rows": j.n_rows,
                     "int_times": tuple(j.int_times), "identified": j.identified, "reason": j.reason})
    return pd.DataFrame(rows)


def model_summary(model):
    """The model in words and tables, in the manner of statsmodels' results.

    Parameters
    ----------
    model : DarkRateModel
        A fitted model.

    Returns
    -------
    darkmodel.summary.Summary
        ``print`` it for text, show it in Jupyter for HTML; ``.tables`` holds the joint
        model per channel and one row per group (files, families, rate at the reference
        temperature, noise, doubling temperature), each estimate the data do not
        identify said in words, with the reasons.
    """
    from ..summary import Section, Summary

    p = model.get_params()
    prov = getattr(model, "provenance_", {})
    settings = Section("Settings", [
        f"method {p['method']}, alpha {p['alpha']:g}, n_boot {p['n_boot']}, min_separation "
        f"{p['min_separation']:g}, random_state {p['random_state']}",
        f"fitted {prov.get('fitted_at', '?')} on {prov.get('input', 'a table')}"])
    joint_rows, notes = [], []
    for r in joint_table(model).itertuples(index=False):
        if not r.identified:
            joint_rows.append({"XUV": r.XUV, "offset (DN/pixel per read)": "not identified",
                               "doubling temperature": "not identified"})
            notes.append(f"{r.XUV}: not identified ({r.reason})")
            continue
        joint_rows.append({
            "XUV": r.XUV,
            "offset (DN/pixel per read)": (f"{r.offset:.3f} +- {r.offset_err:.3f}" if r.offset_status == IDENTIFIED
                                           else r.offset_status),
            "doubling temperature": (f"{r.doubling_temperature:.2f} degC" if r.doubling_status == IDENTIFIED
                                     else r.doubling_status)})
    joint = Section("Joint offset model", notes, pd.DataFrame(joint_rows))
    lines, rows = [], []
    for r in groups_table(model).itertuples(index=False):
        if r.status == "fitted":
            rates = ", ".join(f"{v:.4f}" for v in r.rate_at_ref)
            doubling = (f"doubling every {r.doubling_temperature:.1f} degC" if r.doubling_status == IDENTIFIED
                        else f"doubling temperature {r.doubling_status}")
            lines.append(f"{r.XUV} {r.INT_TIME:>6} ms  {r.n_files:>5} files  {r.n_families} famil"
                         f"{'y' if r.n_families == 1 else 'ies'} [{rates}]  relative scatter "
                         f"{floor_label(r.noise_relative, SCALE_FLOOR)}; {doubling}")
            lines.append(f"    {r.reason}")
        else:
            lines.append(f"{r.XUV} {r.INT_TIME:>6} ms  {r.n_files:>5} files  {r.status}")
        rows.append({"XUV": r.XUV, "INT_TIME": r.INT_TIME, "files": r.n_files,
                     "families": r.n_families if r.status == "fitted" else "",
                     f"rate at {REFERENCE_TEMPERATURE:g} degC": (", ".join(f"{v:.4f}" for v in r.rate_at_ref)
                                                                if r.status == "fitted" else ""),
                     "why": r.reason if r.status == "fitted" else r.status})
    groups = Section(f"Groups (rate at {REFERENCE_TEMPERATURE:g} degC, DN/s/pixel)", lines, pd.DataFrame(rows),
                     lines_or_table=True)
    return Summary("DarkRateModel", [settings, joint, groups])


def _doubling_status(m: MixtureFit) -> str:
    """Whether a group's slope identifies its doubling temperature (see :mod:`darkmodel.stats.identification`)."""
    if m.method != "mixreg":
        return f"{NOT_IDENTIFIED}: the Gaussian-mixture baseline has no physical slope"
    k = len(m.intercepts)
    se = float(np.sqrt(m.cov[k, k])) if m.cov is not None and np.isfinite(m.cov[k, k]) and m.cov[k, k] >= 0 \
        else float("nan")
    return doubling_status(float(m.coef[0]), se)


def _doubling(m: MixtureFit) -> tuple:
    """A group's doubling temperature (degC) as shown, with whether its slope identifies it."""
    status = _doubling_status(m)
    return shown(_LN2 / float(m.coef[0]) if m.coef[0] else np.nan, status), status
