"""Fingerprints that bind results to the data and the model they were computed from.

A model is fitted on, and a flip-flop verdict computed on, the *usable dark integrations*
of a table (:func:`darkmodel.stats.perfile.usable_rows`).  :func:`data_fingerprint` names that set
of integrations by content, not by file: the scan table of an archive and the calibrated
table made from it (Parquet, CSV or HDF5) have the same fingerprint, and any other archive,
or the same one with a file more or less, has another.  :func:`model_fingerprint` names a
fitted model by what made it (its data, its settings and when it was fitted).

The fingerprint hashes, per usable integration, the channel, INT_TIME, the file's name
(without its folder, so a moved archive is the same data), the time (to the microsecond),
the detector temperature (to 1e-6 degC) and the log dark rate (to 1e-9), in a canonical
row order; what a round trip through CSV cannot change.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd

from ..exceptions import VerdictMismatchError

__all__ = ["data_fingerprint", "rows_fingerprint", "model_fingerprint", "other_data", "VerdictMismatchError"]




def rows_fingerprint(rows: pd.DataFrame) -> str:
    """Fingerprint of rows that are usable already (:func:`darkmodel.stats.perfile.usable_rows`).

    Parameters
    ----------
    rows : pandas.DataFrame
        ``XUV``, ``INT_TIME``, ``DET_TEMP``, ``DN_per_s`` and, where present, ``FILENAME``
        and ``Time`` (a column).

    Returns
    -------
    str
        ``'rows:<n> sha256:<first 24 hex digits>'``.
    """
    n = len(rows)
    key = pd.DataFrame({
        "XUV": rows["XUV"].astype(str).str.strip().str.upper().to_numpy(),
        "INT_TIME": pd.to_numeric(rows["INT_TIME"]).round().astype(np.int64).to_numpy(),
        "FILENAME": (rows["FILENAME"].astype(str).str.replace("\\", "/", regex=False).str.rsplit("/", n=1).str[-1]
                     .to_numpy() if "FILENAME" in rows else np.full(n, "")),
        "Time": (_time_us(rows["Time"]) if "Time" in rows else np.zeros(n, np.int64)),
        "DET_TEMP": np.round(pd.to_numeric(rows["DET_TEMP"]).to_numpy(float) * 1e6).astype(np.int64),
        "log_rate": np.round(np.log(pd.to_numeric(rows["DN_per_s"]).to_numpy(float)) * 1e9).astype(np.int64),
    })
    key = key.sort_values(list(key.columns), kind="stable", ignore_index=True)
    digest = hashlib.sha256(pd.util.hash_pandas_object(key, index=False).to_numpy().tobytes())
    return f"rows:{n} sha256:{digest.hexdigest()[:24]}"


def data_fingerprint(table: pd.DataFrame) -> str:
    """Fingerprint of the usable dark integrations of a calibrated table.

    Parameters
    ----------
    table : pandas.DataFrame
        A calibrated table (:func:`darkmodel.calibrate`, excluded rows kept or not) or a scan
        table, which is calibrated first.

    Returns
    -------
    str
        ``'rows:<n> sha256:<hex>'``, equal for every table that holds the same usable
        integrations.

    Examples
    --------
    >>> from darkmodel.simulate.archive import simulate_table
    >>> table, _ = simulate_table(n_files=40, random_state=2)
    >>> data_fingerprint(table) == data_fingerprint(table.sample(frac=1.0, random_state=0))
    True
    >>> data_fingerprint(table) == data_fingerprint(table.iloc[1:])
    False
    """
    from ..stats.perfile import usable_rows

    if "DN_per_s" not in table.columns:
        from ..calibration.chain import calibrate

        table = calibrate(table, keep_excluded=True)
    return rows_fingerprint(usable_rows(table, columns=("XUV", "INT_TIME", "DET_TEMP", "DN_per_s", "FILENAME",
                                                        "Time")))


def model_fingerprint(model) -> str | None:
    """Fingerprint of a fitted model: its data, its settings and when it was fitted.

    Parameters
    ----------
    model : DarkRateModel
        A fitted model.

    Returns
    -------
    str or None
        ``'sha256:<hex>'``; ``None`` for a model saved before fingerprints were recorded.
    """
    provenance = getattr(model, "provenance_", {}) or {}
    if "data_fingerprint" not in provenance:
        return None
    settings = {k: v for k, v in model.get_params().items() if k not in ("n_jobs",)}
    doc = {"data": provenance["data_fingerprint"], "fitted_at": provenance.get("fitted_at"), "settings": settings}
    text = json.dumps(doc, sort_keys=True, default=str)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()[:24]


def other_data(model, fingerprint: str | None) -> str | None:
    """Why data with ``fingerprint`` are not the data ``model`` was fitted on, in words.

    Parameters
    ----------
    model : DarkRateModel
        A fitted model.
    fingerprint : str or None
        :func:`data_fingerprint` of the data at hand.

    Returns
    -------
    str or None
        ``None`` when they are the same data, or when either side carries no fingerprint
        (a model saved before fingerprints were recorded); else the sentence.
    """
    fitted_on = (getattr(model, "provenance_", {}) or {}).get("data_fingerprint")
    if fitted_on and fingerprint and fitted_on != fingerprint:
        return f"the model was fitted on other data ({fitted_on}) than these ({fingerprint})"
    return None


def _time_us(times: pd.Series) -> np.ndarray:
    t = pd.to_datetime(times, errors="coerce")
    if getattr(t.dt, "tz", None) is not None:
        t = t.dt.tz_convert(None)
    us = (t - pd.Timestamp("1970-01-01")) // pd.Timedelta(microseconds=1)
    return us.fillna(-(2**62)).astype(np.int64).to_numpy()
