"""The report's figures: one function per figure, matplotlib ``Figure`` API only (no pyplot).

Every function takes data (and the model) and returns a :class:`matplotlib.figure.Figure`
with constrained layout, labelled axes with units and rasterised dense scatter layers.
Family colours are the Okabe-Ito palette, which stays apart for colour-blind readers.
"""

from __future__ import annotations

import textwrap
import warnings

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ..model.estimator import ExtrapolationWarning, UnfittedIntTimeWarning
from ..stats.identification import IDENTIFIED, estimate_status
from ..stats.mixture import REFERENCE_TEMPERATURE


def _quiet_model_warnings() -> None:
    """Inside a ``catch_warnings`` block: the model's own range warnings, which a figure
    drawing the whole data set would raise for every group (the report states the ranges).
    """
    warnings.simplefilter("ignore", ExtrapolationWarning)
    warnings.simplefilter("ignore", UnfittedIntTimeWarning)


__all__ = ["scatter_matrix", "temperature_and_rate_over_time", "rate_vs_temperature", "residuals",
           "family_timeline", "joint_offset", "model_curves", "FAMILY_COLOURS"]

#: Okabe-Ito colours for families 0, 1, 2 (and grey for rows without a family).
FAMILY_COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7")
_UNASSIGNED = "#999999"
_RATE = "DN/s per pixel"


def _time_axis(ax) -> None:
    """Concise date labels that do not overlap."""
    import matplotlib.dates as mdates

    locator = mdates.AutoDateLocator(maxticks=8)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))


def _colours(labels) -> list:
    return [FAMILY_COLOURS[int(k) % len(FAMILY_COLOURS)] if k >= 0 else _UNASSIGNED for k in labels]


def scatter_matrix(calibrated: pd.DataFrame) -> Figure:
    """The seed's scatter matrix of DN_per_s, CASE_TEMP, DET_TEMP and INT_TIME.

    Parameters
    ----------
    calibrated : pandas.DataFrame
        A calibrated table.

    Returns
    -------
    matplotlib.figure.Figure
        A 4 x 4 grid: histograms on the diagonal, scatter plots elsewhere.
    """
    cols = ["DN_per_s", "CASE_TEMP", "DET_TEMP", "INT_TIME"]
    units = {"DN_per_s": _RATE, "CASE_TEMP": "degC", "DET_TEMP": "degC", "INT_TIME": "ms"}
    data = calibrated[cols].dropna()
    fig = Figure(figsize=(9, 9), layout="constrained")
    axes = fig.subplots(4, 4)
    for i, yc in enumerate(cols):
        for j, xc in enumerate(cols):
            ax = axes[i, j]
            if i == j:
                ax.hist(data[xc], bins=40, color="#555555")
            else:
                ax.scatter(data[xc], data[yc], s=3, alpha=0.4, color="#0072B2", rasterized=True)
            if i == 3:
                ax.set_xlabel(f"{xc} ({units[xc]})")
            else:
                ax.tick_params(labelbottom=False)
            if j == 0:
                ax.set_ylabel(f"{yc} ({units[yc]})" if i else "count / " + f"{yc}")
    fig.suptitle("Scatter matrix of the calibrated darks (seed notebook, cell 11)")
    return fig


def temperature_and_rate_over_time(calibrated: pd.DataFrame) -> Figure:
    """DET_TEMP and DN_per_s over time (top) and CASE_TEMP over time (bottom), as in the seed.

    Parameters
    ----------
    calibrated : pandas.DataFrame
        A calibrated table indexed by ``Time``.

    Returns
    -------
    matplotlib.figure.Figure
        Two panels sharing the time axis.
    """
    frame = calibrated.sort_index()
    fig = Figure(figsize=(11, 6), layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True)
    top.plot(frame.index, frame["DET_TEMP"], ".", ms=2, color="#0072B2", rasterized=True, label="DET_TEMP")
    top.set_ylabel("DET_TEMP (degC)", color="#0072B2")
    twin = top.twinx()
    twin.plot(frame.index, frame["DN_per_s"], ".", ms=2, color="#D55E00", rasterized=True, label="DN_per_s")
    twin.set_ylabel(f"DN_per_s ({_RATE})", color="#D55E00")
    top.set_title("Detector temperature and dark rate over time")
    bottom.plot(frame.index, frame["CASE_TEMP"], ".", ms=2, color="#009E73", rasterized=True)
    bottom.set_ylabel("CASE_TEMP (degC)")
    bottom.set_xlabel("Time (UTC)")
    _time_axis(bottom)
    return fig


#: Points along a fitted curve: smooth over a group's 10-15 degC at the figures' width, and the
#: interval's root finding (the report's costliest sum) scales with them.
_CURVE_POINTS = 40


def _band(model, xuv, it, temps):
    with warnings.catch_warnings():
        _quiet_model_warnings()
        g = model.groups_.get((xuv, it))
        if g is None or not g.fitted:
            return []
        out = []
        for k in range(g.mixture.k):
            mean = model.predict(temps, channel=xuv, int_time=it, family=k)
            lo, hi = model.predict_interval(temps, channel=xuv, int_time=it, family=k)
            out.append((k, mean, lo, hi))
        return out


def _note(text: str) -> Figure:
    """A figure that says why there is nothing to draw."""
    fig = Figure(figsize=(11, 1.6), layout="constrained")
    ax = fig.subplots()
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=12)
    ax.set_axis_off()
    return fig


#: Most INT_TIMEs drawn per channel in the per-group figures (those with most integrations);
#: every group is still in the report's tables, so a report of thousands of groups stays a
#: report (and takes time in proportion to what it draws).
MAX_GROUP_PANELS = 12


def _most_populous(counts: pd.Series, limit: int = MAX_GROUP_PANELS) -> tuple[list, str]:
    """The ``limit`` keys with the largest counts (in key order), and a note when some are left out."""
    if len(counts) <= limit:
        return sorted(counts.index), ""
    chosen = sorted(counts.sort_values(ascending=False, kind="stable").index[:limit])
    return chosen, f" (the {limit} of {len(counts)} INT_TIMEs with most integrations; every group is in the tables)"


def model_curves(model) -> Figure:
    """The model alone: every fitted group's family curves with their 95 % bands, no data.

    Parameters
    ----------
    model : DarkRateModel
        The fitted model.

    Returns
    -------
    matplotlib.figure.Figure
        One panel per channel, log axis: DN_per_s against DET_TEMP over each group's fitted
        range, one colour per INT_TIME, solid for family 0 and dashed for the others.
    """
    fitted = [(key, g) for key, g in sorted(model.groups_.items()) if g.fitted]
    if not fitted:
        return _note("the model has no fitted group (see the groups table for why)")
    channels = sorted({key[0] for key, _ in fitted})
    fig = Figure(figsize=(11, 4.2), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(channels), squeeze=False)[0])
    palette = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
    for ax, ch in zip(axes, channels):
        mine = [(key, g) for key, g in fitted if key[0] == ch]
        keep, left_out = _most_populous(pd.Series({key: g.n_rows for key, g in mine}, dtype=float))
        mine = [(key, g) for key, g in mine if key in set(keep)]
        for i, ((_, it), g) in enumerate(mine):
            temps = np.linspace(g.temp_range[0], g.temp_range[1], _CURVE_POINTS)
            colour = palette[i % len(palette)]
            for k, mean, lo, hi in _band(model, ch, it, temps):
                ax.plot(temps, mean, color=colour, lw=1.4, ls="-" if k == 0 else "--",
                        label=f"{it} ms" + ("" if g.mixture.k == 1 else f", family {k}"))
                ax.fill_between(temps, lo, hi, color=colour, alpha=0.12, lw=0)
        ax.set_yscale("log")
        ax.autoscale_view()
        _log_ticks(ax)
        ax.set_xlabel("DET_TEMP (degC)")
        ax.set_ylabel(f"DN_per_s ({_RATE})")
        ax.set_title(textwrap.fill(f"{ch}: the fitted families with 95 % prediction bands{left_out}", 70),
                     fontsize=10)
        ax.legend(fontsize=7, ncol=2)
    return fig


def _robust_ylim(ax, values, scale: str) -> None:
    """Limits from the 0.5-99.5 % range, so that a rare anomalous frame does not flatten the
    families (points outside are noted in the title of the axis).
    """
    v = np.asarray(values, float)
    v = v[np.isfinite(v) & (v > 0)]
    if not len(v):
        return
    lo, hi = np.percentile(v, [0.5, 99.5])
    # in a small group the 99.5th percentile is its largest point: a rare anomalous frame 80x
    # the family would flatten it; limit the axis to 6 interquartile ranges of log rate
    q1, med, q3 = np.percentile(np.log(v), [25, 50, 75])
    reach = 6.0 * max(q3 - q1, 0.05)
    lo, hi = max(lo, np.exp(med - reach)), min(hi, np.exp(med + reach))
    pad = 0.08 * (hi - lo) if hi > lo else 0.1 * hi
    ax.set_yscale(scale)
    ax.set_ylim(max(lo - pad, lo * 0.8), hi + pad)
    outside = int(np.sum((v < lo - pad) | (v > hi + pad)))
    if outside:
        ax.text(0.99, 0.02, f"{outside} outlying point(s) beyond the axis", transform=ax.transAxes, ha="right",
                va="bottom", fontsize=7, color="#555555")
    if scale == "log":
        _log_ticks(ax)


#: Mantissas of the labelled ticks on a log axis: dense enough that a range within one
#: decade (0.3 to 1.6 DN/s) is labelled across its whole height, not only up to 1.00.
LOG_TICK_SUBS = (1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0)


def _log_ticks(ax) -> None:
    """Labelled ticks over the whole range of a log y axis, at most about eight of them."""
    from matplotlib.ticker import FormatStrFormatter, LogLocator, NullFormatter

    lo, hi = (max(v, 1e-300) for v in ax.get_ylim())
    decades = np.arange(np.floor(np.log10(lo)), np.ceil(np.log10(hi)) + 1)
    for subs in (LOG_TICK_SUBS, (1.0, 1.5, 2.0, 3.0, 5.0, 7.0), (1.0, 2.0, 5.0), (1.0,)):  # the densest of <= 9
        ticks = np.outer(10.0 ** decades, subs).ravel()
        if np.sum((ticks >= lo) & (ticks <= hi)) <= 9:
            break
    ax.yaxis.set_major_locator(LogLocator(subs=subs))
    ax.yaxis.set_major_formatter(FormatStrFormatter("%.2g"))
    ax.yaxis.set_minor_formatter(NullFormatter())


def rate_vs_temperature(calibrated: pd.DataFrame, model, labels: pd.Series, channel: str) -> Figure:
    """DN/s against DET_TEMP for one channel, one row per INT_TIME, linear and log axes.

    Points are coloured by family; the fitted family curves are drawn with their 95 %
    prediction bands.

    Parameters
    ----------
    calibrated : pandas.DataFrame
        A calibrated table.
    model : DarkRateModel
        The fitted model.
    labels : pandas.Series
        Family of every row of ``calibrated`` (:meth:`DarkRateModel.assign`).
    channel : {'FUV', 'MUV'}
        The channel to draw.

    Returns
    -------
    matplotlib.figure.Figure
        One row per INT_TIME: linear axes on the left, logarithmic on the right.
    """
    rows = calibrated.assign(family=labels.to_numpy())
    rows = rows[rows["XUV"] == channel]
    int_times, left_out = _most_populous(rows["INT_TIME"].value_counts())
    height = 2.6 * max(len(int_times), 1) + 0.6
    fig = Figure(figsize=(11, height))  # fixed margins: constrained layout cost 0.25 s of this figure's 0.55
    fig.subplots_adjust(left=0.075, right=0.985, top=1 - 0.75 / height, bottom=0.5 / height, hspace=0.42 * 2.6 / 2.2,
                        wspace=0.2)
    axes = np.atleast_2d(fig.subplots(max(len(int_times), 1), 2, squeeze=False))
    for r, it in enumerate(int_times):
        g = rows[rows["INT_TIME"] == it]
        temps = np.linspace(g["DET_TEMP"].min(), g["DET_TEMP"].max(), _CURVE_POINTS)
        bands = list(_band(model, channel, int(it), temps))  # once for both axes
        for c, scale in enumerate(("linear", "log")):
            ax = axes[r, c]
            ax.scatter(g["DET_TEMP"], g["DN_per_s"], s=6, c=_colours(g["family"]), alpha=0.6, rasterized=True)
            for k, mean, lo, hi in bands:
                colour = FAMILY_COLOURS[k % len(FAMILY_COLOURS)]
                ax.plot(temps, mean, color=colour, lw=1.5, label=f"family {k}")
                ax.fill_between(temps, lo, hi, color=colour, alpha=0.15, lw=0)
            _robust_ylim(ax, g["DN_per_s"], scale)
            ax.set_title(f"{channel} INT_TIME = {it} ms ({scale} axis)", fontsize=10)
            ax.set_ylabel(f"DN_per_s ({_RATE})")
            if r == len(int_times) - 1:
                ax.set_xlabel("DET_TEMP (degC)")
            group = model.groups_.get((channel, int(it)))
            if c == 0 and ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize=8, title="fit, 95 % band", title_fontsize=8, loc="upper left")
            elif c == 0 and group is not None and not group.fitted:
                ax.text(0.02, 0.95, f"not fitted: {group.status}", transform=ax.transAxes, fontsize=8, va="top",
                        color="#555555")
    fig.suptitle(textwrap.fill(f"{channel}: dark rate against detector temperature, by INT_TIME and family"
                               f"{left_out}", 110))
    return fig


def residuals(calibrated: pd.DataFrame, model, labels: pd.Series, channel: str) -> Figure:
    """Relative residuals of every row from its family curve, per INT_TIME, against temperature and time.

    Parameters
    ----------
    calibrated : pandas.DataFrame
        A calibrated table (indexed by ``Time``).
    model : DarkRateModel
        The fitted model.
    labels : pandas.Series
        Family of every row.
    channel : {'FUV', 'MUV'}
        The channel.

    Returns
    -------
    matplotlib.figure.Figure
        One row per fitted INT_TIME (the :data:`MAX_GROUP_PANELS` with most integrations):
        residual (percent) against DET_TEMP (left) and Time (right), coloured by the
        group's own families (family numbers mean different things in different groups,
        so groups are never pooled).
    """
    rows = calibrated.assign(family=labels.to_numpy())
    rows = rows[(rows["XUV"] == channel) & (rows["family"] >= 0)]
    if not len(rows):
        return _note(f"{channel}: no fitted group, so no residuals (see the groups table for why)")
    int_times, left_out = _most_populous(rows["INT_TIME"].value_counts())
    height = 1.9 * len(int_times) + 0.7
    fig = Figure(figsize=(11, height))
    fig.subplots_adjust(left=0.075, right=0.985, top=1 - 0.6 / height, bottom=0.45 / height, hspace=0.55,
                        wspace=0.08)
    axes = np.atleast_2d(fig.subplots(len(int_times), 2, squeeze=False, sharey="row"))
    with warnings.catch_warnings():
        _quiet_model_warnings()
        for (left, right), it in zip(axes, int_times):
            g = rows[rows["INT_TIME"] == it]
            expected = np.full(len(g), np.nan)
            for k, idx in g.groupby("family").indices.items():
                expected[idx] = model.predict(g["DET_TEMP"].to_numpy()[idx], channel=channel, int_time=int(it),
                                              family=int(k))
            resid = 100.0 * (g["DN_per_s"].to_numpy() / expected - 1.0)
            colours = _colours(g["family"])
            left.scatter(g["DET_TEMP"], resid, s=4, c=colours, alpha=0.6, rasterized=True)
            right.scatter(g.index, resid, s=4, c=colours, alpha=0.6, rasterized=True)
            for ax in (left, right):
                ax.axhline(0, color="black", lw=0.8)
            finite = resid[np.isfinite(resid)]
            lim = np.percentile(np.abs(finite), 99.0) * 1.2 if len(finite) else 1.0
            left.set_ylim(-lim, lim)
            left.set_ylabel("residual (%)")
            _time_axis(right)
            families = sorted(g["family"].unique())
            left.set_title(f"{channel} INT_TIME = {it} ms: " + (
                "one family" if len(families) == 1 else f"{len(families)} families of this group"), fontsize=9)
            for k in families if len(families) > 1 else []:
                left.scatter([], [], s=12, color=FAMILY_COLOURS[int(k) % len(FAMILY_COLOURS)], label=f"family {int(k)}")
            if len(families) > 1:
                left.legend(fontsize=7, loc="upper right", markerscale=1.5)
        axes[-1, 0].set_xlabel("DET_TEMP (degC)")
        axes[-1, 1].set_xlabel("Time (UTC)")
    fig.suptitle(textwrap.fill(f"{channel}: residuals from each group's own family curves{left_out}", 110),
                 fontsize=11)
    return fig


def family_timeline(calibrated: pd.DataFrame, labels: pd.Series, verdicts: pd.DataFrame | None) -> Figure:
    """The family of every dark over time, one panel per group with several families.

    Switches are marked with vertical lines.

    Parameters
    ----------
    calibrated : pandas.DataFrame
        A calibrated table indexed by ``Time``.
    labels : pandas.Series
        Family of every row.
    verdicts : pandas.DataFrame, optional
        The flip-flop verdicts, shown in the panel titles.

    Returns
    -------
    matplotlib.figure.Figure
        One panel per group with two or more families (a note when there is none).
    """
    rows = calibrated.assign(family=labels.to_numpy())
    rows = rows[rows["family"] >= 0]
    sizes = pd.Series({key: len(g) for key, g in rows.groupby(["XUV", "INT_TIME"]) if g["family"].nunique() > 1},
                      dtype=float)
    multi, left_out = _most_populous(sizes, 2 * MAX_GROUP_PANELS)
    verdict = {} if verdicts is None else {(r.XUV, r.INT_TIME): r.verdict for r in verdicts.itertuples()}
    fig = Figure(figsize=(11, 1.9 * max(len(multi), 1) + 0.6), layout="constrained")
    if not multi:
        ax = fig.subplots()
        text = ("every fitted group has a single family" if len(rows)
                else "no group could be fitted (too few files or too short a temperature span; see the groups table)")
        ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=12)
        ax.set_axis_off()
        return fig
    axes = np.atleast_1d(fig.subplots(len(multi), 1, squeeze=False)[:, 0])
    for ax, (xuv, it) in zip(axes, multi):
        g = rows[(rows["XUV"] == xuv) & (rows["INT_TIME"] == it)].sort_index()
        ax.scatter(g.index, g["family"], s=8, c=_colours(g["family"]), rasterized=True)
        files = g["FILENAME"].to_numpy() if "FILENAME" in g else np.arange(len(g))
        per_file = g["family"].groupby(files, sort=False).first()
        times = g.index.to_series().groupby(files, sort=False).min()
        switch = np.flatnonzero(np.diff(per_file.to_numpy()) != 0) + 1
        for i in switch:
            ax.axvline(times.iloc[i], color="#999999", lw=0.6, alpha=0.7)
        ax.set_yticks(sorted(g["family"].unique()))
        ax.set_ylabel("family")
        _time_axis(ax)
        ax.set_title(f"{xuv} INT_TIME = {it} ms: {len(switch)} switches"
                     + (f" -- verdict: {verdict[(xuv, it)]}" if (xuv, it) in verdict else ""), fontsize=10)
    axes[-1].set_xlabel("Time (UTC)")
    if left_out:
        fig.suptitle(left_out.strip(" ()").replace("INT_TIMEs", "groups with several families"), fontsize=10)
    return fig


def joint_offset(calibrated: pd.DataFrame, model, labels: pd.Series) -> Figure:
    """The joint offset model: DN/s at the reference temperature against 1/INT_TIME.

    Points are the lowest family's rows within 1.5 degC of the reference temperature,
    moved to it along the joint model's temperature law; the line is
    ``offset / t + exp(p)``, per channel.

    Parameters
    ----------
    calibrated : pandas.DataFrame
        A calibrated table.
    model : DarkRateModel
        The fitted model.
    labels : pandas.Series
        Family of every row.

    Returns
    -------
    matplotlib.figure.Figure
        One panel per channel.
    """
    rows = calibrated.assign(family=labels.to_numpy())
    channels = sorted(model.joint_)
    fig = Figure(figsize=(11, 4), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(channels), squeeze=False)[0])
    for ax, ch in zip(axes, channels):
        joint = model.joint_[ch]
        g = rows[(rows["XUV"] == ch) & (rows["family"] == 0)
                 & ((rows["DET_TEMP"] - REFERENCE_TEMPERATURE).abs() < 1.5)]
        shift = np.exp(joint.p) - np.exp(joint.p + joint.q * (g["DET_TEMP"] - REFERENCE_TEMPERATURE))
        inv = 1000.0 / g["INT_TIME"]
        ax.scatter(inv, g["DN_per_s"] + shift, s=6, alpha=0.4, color="#0072B2", rasterized=True,
                   label=f"family 0 within 1.5 degC of {REFERENCE_TEMPERATURE:g} degC")
        x = np.linspace(0, max(inv.max() if len(inv) else 1.0, 1.0) * 1.05, 50)
        status = estimate_status(joint.offset, joint.offset_err, fit_reason="" if joint.identified else joint.reason)
        if status == IDENTIFIED:
            ax.plot(x, joint.offset * x + np.exp(joint.p), color="#D55E00",
                    label=f"offset {joint.offset:.3f} +- {joint.offset_err:.3f} DN/pixel per read")
        else:  # no line and no number: the reason, in the panel
            ax.text(0.5, 0.5, "offset " + textwrap.fill(status, 50), transform=ax.transAxes, ha="center",
                    va="center", fontsize=9, color="#D55E00")
            ax.ticklabel_format(axis="y", useOffset=False)
        ax.set_xlabel("1 / INT_TIME (1/s)")
        ax.set_ylabel(f"DN_per_s at {REFERENCE_TEMPERATURE:g} degC ({_RATE})")
        ax.set_title(f"{ch}: DN/s = offset / t + rate(T)", fontsize=10)
        ax.legend(fontsize=8, loc="upper left")  # "best" searches every point: 0.35 s of this figure
    return fig
