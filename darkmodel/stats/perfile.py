"""From integrations to dark files: the unit in which an instrument state lives.

All integrations of one dark file share the instrument's state, so the families, the
flip-flop test and the noise model work on one summary per file.  This module holds the one
definition of a usable row and the one per-file aggregation that the model fit and the
flip-flop test both use, so they always see the same data.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from ..calibration.plausibility import LIMITS, implausible, normalise_channels
from ..instrument import recording_step
from ..io.tables import duplicated_rows, numeric_columns, plain_dtypes
from .mixture import log_dark_current

__all__ = ["usable_mask", "usable_rows", "file_summaries", "group_files", "days_since_epoch", "RECORDED_VARIABLES"]

#: Recorded variables carried per file (for the confounder tests).
RECORDED_VARIABLES = ("binning", "MCP_VOLT", "SEGMENT", "N_INT", "MIR_DEG")
_NEEDED = ("XUV", "INT_TIME", "DET_TEMP", "DN_per_s")


def usable_mask(frame: pd.DataFrame) -> np.ndarray:
    """Rows a fit can use: finite positive ``DN_per_s``, finite ``DET_TEMP``, not excluded,
    and within the plausibility limits (:mod:`darkmodel.calibration.plausibility`; a table that did not
    go through :func:`darkmodel.calibrate` is held to them too).

    Parameters
    ----------
    frame : pandas.DataFrame
        A calibrated table.

    Returns
    -------
    numpy.ndarray
        Boolean mask aligned with the rows.
    """
    rate = pd.to_numeric(frame["DN_per_s"], errors="coerce").to_numpy(float)
    temp = pd.to_numeric(frame["DET_TEMP"], errors="coerce").to_numpy(float)
    it = pd.to_numeric(frame["INT_TIME"], errors="coerce").to_numpy(float)
    ok = np.isfinite(rate) & np.isfinite(temp) & (rate > 0) & np.isfinite(it)
    if "exclusion" in frame.columns:
        ok &= frame["exclusion"].isna().to_numpy()
    # only the limited columns travel to the check (a copy of the whole table costs GBs at 1 M rows)
    checked = pd.DataFrame({c: frame[c].to_numpy() for c in LIMITS if c in frame.columns and c != "Time"})
    checked["XUV"] = normalise_channels(frame["XUV"]).to_numpy()
    ok &= implausible(checked).isna().to_numpy()
    return ok


def usable_rows(calibrated: pd.DataFrame, columns=None) -> pd.DataFrame:
    """The usable rows of a calibrated table, with ``Time`` as a column.

    Parameters
    ----------
    calibrated : pandas.DataFrame
        Output of :func:`darkmodel.calibrate`.
    columns : sequence of str, optional
        Keep only these columns (where present) besides the ones the usability rule reads:
        a fit of a million rows needs a few of the table's thirty.

    Returns
    -------
    pandas.DataFrame
        Usable rows; a ``FILENAME`` per row is made up (one file per row) when absent.

    Raises
    ------
    KeyError
        If a needed column is missing.

    Warns
    -----
    UserWarning
        For values that are not numbers in a numeric column, and for duplicated rows (the
        same integration twice, e.g. two tables concatenated: counted once).
    """
    missing = sorted(set(_NEEDED) - set(calibrated.columns))
    if missing:
        raise KeyError(f"needs a calibrated table (darkmodel.calibrate); missing column(s) {missing}")
    if columns is not None:
        keep = set(columns) | set(_NEEDED) | set(LIMITS) | {"exclusion", "FILENAME"}
        calibrated = calibrated[[c for c in calibrated.columns if c in keep]]
    frame = calibrated.reset_index() if calibrated.index.name == "Time" else calibrated.reset_index(drop=True)
    frame = numeric_columns(plain_dtypes(frame), ("INT_TIME", "DET_TEMP", "DN_per_s"), "darkmodel")
    frame = frame[usable_mask(frame)]  # excluded rows first: calibrate has marked its duplicates already
    dup, keys = duplicated_rows(frame)
    if dup.any():
        warnings.warn(f"darkmodel: {int(dup.sum())} duplicated row(s) (same {' and '.join(keys)} and time) counted "
                      "once", UserWarning, stacklevel=2)
        frame = frame[~dup]
    frame = frame.assign(XUV=normalise_channels(frame["XUV"]).to_numpy(),
                         INT_TIME=pd.to_numeric(frame["INT_TIME"], errors="coerce").round().astype(np.int64))
    if "FILENAME" not in frame.columns:
        frame = frame.assign(FILENAME=np.arange(len(frame)).astype(str))
    return frame


def days_since_epoch(times) -> np.ndarray:
    """Times as days since 1970-01-01 (floats), NaN where missing.

    Examples
    --------
    >>> float(days_since_epoch(pd.to_datetime(["1970-01-02 12:00"]))[0])
    1.5
    """
    t = pd.to_datetime(pd.Series(times))
    if t.dt.tz is not None:
        t = t.dt.tz_convert(None)
    out = (t - pd.Timestamp("1970-01-01")).dt.total_seconds().to_numpy(float) / 86400.0
    return out


def file_summaries(rows: pd.DataFrame, offset: float) -> pd.DataFrame:
    """One summary per dark file of one group, in time order.

    Parameters
    ----------
    rows : pandas.DataFrame
        Usable rows of one (XUV, INT_TIME) group (see :func:`usable_rows`).
    offset : float
        Read offset (DN/pixel per read) removed before the log.

    Returns
    -------
    pandas.DataFrame
        ``FILENAME``, ``Time`` (first integration), ``days`` (days since 1970), ``T`` (mean
        DET_TEMP), ``T_step`` (the grid the group's temperatures were recorded on,
        :func:`darkmodel.instrument.recording_step`, one value for the group), ``y``
        (median log dark current: one anomalous frame cannot move it),
        ``n`` (effective integrations behind ``y``: ``n``, or ``2n/pi`` for a median of
        three or more), ``n_int`` and the recorded variables where the table has them.
    """
    y = log_dark_current(rows["DN_per_s"].to_numpy(float), rows["INT_TIME"].to_numpy(float), offset)
    frame = rows.assign(_y=y)
    if {"SPE_OFS", "SPE_SIZE", "SPA_OFS", "SPA_SIZE"} <= set(frame.columns):
        frame = frame.assign(binning=frame["SPE_OFS"].astype(str) + "/" + frame["SPE_SIZE"].astype(str) + "/"
                             + frame["SPA_OFS"].astype(str) + "/" + frame["SPA_SIZE"].astype(str))
    agg = {"T": ("DET_TEMP", "mean"), "n_int": ("_y", "size"), "y": ("_y", "median")}
    if "Time" in frame.columns:
        agg["Time"] = ("Time", "min")
    for col in RECORDED_VARIABLES:
        if col in frame.columns:
            agg[col] = (col, "first")
    if "CASE_TEMP" in frame.columns:
        agg["CASE_TEMP"] = ("CASE_TEMP", "mean")
    files = frame.groupby("FILENAME", sort=False).agg(**agg).reset_index()
    files["T_step"] = recording_step(rows["DET_TEMP"].to_numpy(float))
    files["n"] = np.where(files["n_int"] >= 3, files["n_int"] * 2.0 / np.pi, files["n_int"]).astype(float)
    if "Time" in files.columns:
        files["days"] = days_since_epoch(files["Time"])
        files = files.sort_values(["Time", "FILENAME"], kind="stable")
    else:
        files["days"] = np.nan
    return files.reset_index(drop=True)


def group_files(calibrated: pd.DataFrame, offsets: dict) -> dict:
    """Per-file summaries of every (XUV, INT_TIME) group.

    Parameters
    ----------
    calibrated : pandas.DataFrame
        Output of :func:`darkmodel.calibrate` (excluded and unusable rows are ignored).
    offsets : dict of str to float
        Read offset (DN/pixel per read) per channel; a channel missing here gets 0.

    Returns
    -------
    dict of (str, int) to pandas.DataFrame
        :func:`file_summaries` of each group.
    """
    frame = usable_rows(calibrated)
    out = {}
    for (xuv, it), rows in frame.groupby(["XUV", "INT_TIME"], sort=True):
        out[(str(xuv), int(it))] = file_summaries(rows, float(offsets.get(str(xuv), 0.0) or 0.0))
    return out
