"""Plausibility limits: what a dark integration's recorded values can physically be.

A file can be perfectly readable and still carry absurd values (a raw ``DET_TEMP`` of
-2**31 becomes 1.6e8 degC; an image of 1e300 or inf; ``INT_TIME`` 0).  One such row must
not stop a fit, a test or a report, so :func:`darkmodel.calibrate` excludes it with the
reason in ``exclusion``.  Every limit is named here, in one place, with its grounds:

=============  ====================  =====================================================
column         limits                grounds
=============  ====================  =====================================================
``DET_TEMP``   -60 to 60 degC        the detector runs at -25 to -5 degC in flight
``CASE_TEMP``  -60 to 80 degC        the case runs at about 0 to 30 degC
``INT_TIME``   1 to 600 000 ms       IUVS integrations last 0.1 to 60 s
``DN_per_s``   -1e4 to 1e6 DN/s/px   dark rates are 0.1-10 DN/s/pixel; a 16-bit bin over
                                     the shortest integration stays far below 1e6
``MCP_VOLT``   -10 to 1 500 V        -1.83 V when off (gain 0 DN), 600-850 V when on
``Time``       2013-11-18 to now     MAVEN launched on 2013-11-18
``XUV``        FUV or MUV            the two channels (``muv`` or ``' MUV '`` are normalised)
=============  ====================  =====================================================
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["LIMITS", "PREDICTION_TEMPERATURE_LIMITS", "MISSION_START", "CHANNELS", "normalise_channels", "implausible"]

#: Inclusive (low, high) limits per column, in the calibrated table's units.
LIMITS = {
    "DET_TEMP": (-60.0, 60.0),
    "CASE_TEMP": (-60.0, 80.0),
    "INT_TIME": (1.0, 600_000.0),
    "DN_per_s": (-1e4, 1e6),
    "MCP_VOLT": (-10.0, 1500.0),
}
#: Temperatures a prediction may be asked for (degC): wider than the data's limits, so that a
#: far extrapolation warns (and its interval widens) rather than fails; beyond, a refusal.
PREDICTION_TEMPERATURE_LIMITS = (-150.0, 150.0)
#: MAVEN's launch: no IUVS dark is older.
MISSION_START = pd.Timestamp("2013-11-18")
#: The channels.
CHANNELS = ("FUV", "MUV")
_UNITS = {"DET_TEMP": "degC", "CASE_TEMP": "degC", "INT_TIME": "ms", "DN_per_s": "DN/s/pixel", "MCP_VOLT": "V"}


def normalise_channels(values) -> pd.Series:
    """Channel names as ``FUV``/``MUV`` (case and surrounding blanks ignored); others stay as given.

    Parameters
    ----------
    values : array_like
        Channel names.

    Returns
    -------
    pandas.Series
        Strings.

    Examples
    --------
    >>> normalise_channels(["muv", " FUV ", "ECH"]).tolist()
    ['MUV', 'FUV', 'ECH']
    """
    s = pd.Series(values).astype(str)
    cleaned = s.str.strip().str.upper()
    return cleaned.where(cleaned.isin(CHANNELS), s)


def implausible(table: pd.DataFrame, now: pd.Timestamp | None = None) -> pd.Series:
    """Why each row is implausible (``<NA>`` where it is fine), first reason per row.

    Parameters
    ----------
    table : pandas.DataFrame
        A calibrated table (index ``Time`` or a ``Time`` column); absent columns are
        not checked.
    now : pandas.Timestamp, optional
        The latest plausible time (default: now, UTC, plus a day).

    Returns
    -------
    pandas.Series
        Reason strings, indexed like ``table``.

    Examples
    --------
    >>> t = pd.DataFrame({"DET_TEMP": [-18.0, 1.6e8], "INT_TIME": [4200, 0]})
    >>> implausible(t).tolist()
    [<NA>, 'implausible DET_TEMP (not within -60 to 60 degC)']
    """
    reason = pd.Series(pd.NA, index=table.index, dtype="string")
    for col, (lo, hi) in LIMITS.items():
        if col not in table.columns:
            continue
        v = pd.to_numeric(table[col], errors="coerce").to_numpy(float)
        present = ~np.isnan(v) if col != "DN_per_s" else np.ones(len(v), bool)
        bad = present & ~((v >= lo) & (v <= hi))
        reason = reason.mask(pd.Series(bad, index=table.index) & reason.isna(),
                             f"implausible {col} (not within {lo:g} to {hi:g} {_UNITS[col]})")
    if "XUV" in table.columns:
        bad = ~table["XUV"].astype(str).isin(CHANNELS).to_numpy()
        reason = reason.mask(pd.Series(bad, index=table.index) & reason.isna(), "unknown channel (not FUV or MUV)")
    times = table.index if table.index.name == "Time" else table.get("Time")
    if times is not None:
        t = pd.to_datetime(pd.Series(np.asarray(times), index=table.index), errors="coerce", utc=True)
        t = t.dt.tz_convert(None)
        latest = (now or pd.Timestamp.now(tz="UTC").tz_convert(None)) + pd.Timedelta(days=1)
        bad = (t.isna() | (t < MISSION_START) | (t > latest)).to_numpy()
        reason = reason.mask(pd.Series(bad, index=table.index) & reason.isna(),
                             f"implausible Time (missing, or not within {MISSION_START:%Y-%m-%d} to now)")
    return reason
