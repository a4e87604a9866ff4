"""A user's table made sound before any statistics: plain dtypes, numbers where numbers
belong, each integration once.

Tables reach darkmodel from Parquet files written by other tools (pyarrow-backed or
nullable dtypes), from CSV files edited by hand (text in a numeric column) and from
concatenations (every row twice).  Each case is repaired here or named in a warning;
none reaches the statistics as an obscure error or a silently different fit.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

__all__ = ["plain_dtypes", "numeric_columns", "duplicated_rows", "calibrated_table", "DUPLICATE_KEYS",
           "CALIBRATED_NEEDED", "CALIBRATED_NUMERIC"]

#: Columns every use of a calibrated table needs.
CALIBRATED_NEEDED = ("XUV", "INT_TIME", "DET_TEMP", "DN_per_s")

#: Columns of a calibrated table that hold numbers.
CALIBRATED_NUMERIC = ("INT_TIME", "DET_TEMP", "CASE_TEMP", "DN_per_s", "dark_mean", "MCP_VOLT", "NAXIS3", "N_INT",
                      "corrected_mean", "pixelsum")

#: Columns that identify one integration, in order of preference (with ``Time``).
DUPLICATE_KEYS = (("PRODUCT_ID", "INTEGRATION"), ("FILENAME",))


def _plain(values: pd.Series | pd.Index):
    """One column (or index) with a NumPy dtype where it had a pyarrow or nullable one."""
    dtype = values.dtype
    if not isinstance(dtype, pd.ArrowDtype) and not pd.api.types.is_extension_array_dtype(dtype):
        return values
    if isinstance(dtype, pd.StringDtype):  # pandas' own text dtype is what the rest expects
        return values
    if pd.api.types.is_datetime64_any_dtype(dtype):
        out = pd.to_datetime(values)
        tz = getattr(out.dtype, "tz", None)
        return (out.tz_convert(None) if isinstance(out, pd.Index) else out.dt.tz_convert(None)) if tz else \
            out.astype("datetime64[ns]")
    if pd.api.types.is_bool_dtype(dtype) and not values.isna().any():
        return values.astype(bool)
    if pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype):
        return values.astype(float) if values.isna().any() or pd.api.types.is_float_dtype(dtype) \
            or pd.api.types.is_bool_dtype(dtype) else values.astype(np.int64)
    return values.astype(object)


def plain_dtypes(table: pd.DataFrame) -> pd.DataFrame:
    """The table with NumPy dtypes in place of pyarrow-backed and nullable ones.

    Integers without missing values stay ``int64``; with missing values, and nullable
    floats and booleans, become ``float64`` with NaN; times become ``datetime64[ns]``
    (UTC, without a zone); other pyarrow types become Python objects.  Columns already
    plain are not copied.

    Parameters
    ----------
    table : pandas.DataFrame

    Returns
    -------
    pandas.DataFrame

    Examples
    --------
    >>> t = pd.DataFrame({"INT_TIME": pd.array([1400, None], dtype="Int64")})
    >>> plain_dtypes(t)["INT_TIME"].dtype
    dtype('float64')
    """
    fixed = {}
    for col in table.columns:
        values = _plain(table[col])
        if values is not table[col]:
            fixed[col] = values
    out = table.assign(**fixed) if fixed else table
    index = _plain(out.index)
    if index is not out.index:
        out = out.set_axis(index, axis=0)
    return out


def numeric_columns(table: pd.DataFrame, columns, who: str) -> pd.DataFrame:
    """Numbers where numbers belong: text in a numeric column becomes NaN, with a warning naming it.

    Parameters
    ----------
    table : pandas.DataFrame
    columns : iterable of str
        The columns that must hold numbers (those absent are left alone).
    who : str
        The step, for the warning (``'calibrate'``, ``'fit'``).

    Returns
    -------
    pandas.DataFrame

    Warns
    -----
    UserWarning
        For each column with values that are not numbers: how many, and what becomes of
        their rows.

    Examples
    --------
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     out = numeric_columns(pd.DataFrame({"DET_TEMP": ["-18.5", "cold"]}), ["DET_TEMP"], "fit")
    >>> out["DET_TEMP"].tolist()[0], str(caught[0].message)
    (-18.5, 'fit: 1 value(s) of DET_TEMP are not numbers; those rows are excluded')
    """
    fixed = {}
    for col in columns:
        if col in table.columns and not pd.api.types.is_numeric_dtype(table[col]):
            values = pd.to_numeric(table[col], errors="coerce")
            lost = int(values.isna().sum() - table[col].isna().sum())
            if lost:
                warnings.warn(f"{who}: {lost} value(s) of {col} are not numbers; those rows are excluded",
                              UserWarning, stacklevel=3)
            fixed[col] = values.astype(float)
    return table.assign(**fixed) if fixed else table


def duplicated_rows(table: pd.DataFrame) -> tuple[np.ndarray, list]:
    """Rows that repeat an earlier one: the same integration (product and index) at the same time.

    Parameters
    ----------
    table : pandas.DataFrame
        With ``Time`` as a column or as the index.

    Returns
    -------
    mask : numpy.ndarray
        True for every repeat (the first copy is kept).
    keys : list of str
        The columns that identified an integration (empty: none could, nothing flagged).

    Examples
    --------
    >>> t = pd.DataFrame({"FILENAME": ["a", "a", "b"], "Time": pd.to_datetime(["2015-01-01"] * 3)})
    >>> duplicated_rows(t)[0].tolist()
    [False, True, False]
    """
    frame = table.reset_index() if table.index.name == "Time" else table
    keys = next((list(k) for k in DUPLICATE_KEYS if set(k) <= set(frame.columns)), [])
    if not keys:
        return np.zeros(len(frame), bool), []
    subset = keys + (["Time"] if "Time" in frame.columns else [])
    return frame.duplicated(subset=subset, keep="first").to_numpy(), keys


def calibrated_table(table: pd.DataFrame, who: str = "darkmodel") -> pd.DataFrame:
    """A calibrated table checked and made plain: its columns present, numeric and NumPy-typed.

    Parameters
    ----------
    table : pandas.DataFrame
        Output of :func:`darkmodel.calibrate` (or a table of the same columns).
    who : str, optional
        The step, for messages.

    Returns
    -------
    pandas.DataFrame

    Raises
    ------
    ValueError
        If a column of :data:`CALIBRATED_NEEDED` is missing (named in the message).

    Warns
    -----
    UserWarning
        For values that are not numbers in a numeric column.
    """
    missing = [c for c in CALIBRATED_NEEDED if c not in table.columns]
    if missing:
        raise ValueError(f"{who} needs a calibrated table (darkmodel calibrate); missing column(s) "
                         f"{', '.join(missing)}")
    return numeric_columns(plain_dtypes(table), CALIBRATED_NUMERIC, who)
