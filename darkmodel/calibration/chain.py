"""The seed notebook's calibration chain, one vectorised step per function.

The steps, in the seed's order:

1. :func:`correct_binning` -- ``pixelsum = SPE_SIZE * SPA_SIZE`` and
   ``corrected_mean = dark_mean / pixelsum`` (each stored value is a sum over pixels);
2. :func:`normalise_integration_time` -- ``DN_per_s = corrected_mean / (INT_TIME / 1000)``;
3. :func:`index_by_time` -- index ``Time`` (from the file name, as the seed did, or the
   integration's own UTC time where the table has it), sorted;
4. :func:`select_dark_mode` -- MCP-on shutter darks (``MCP_VOLT > 0``) are excluded with
   the reason kept, instead of the seed's overwriting of whole rows with NaN;
5. :func:`convert_temperatures` -- ``DET_TEMP`` and ``CASE_TEMP`` to degC, raw DN kept in
   ``DET_TEMP_DN`` and ``CASE_TEMP_DN``;
6. optional :func:`select_single_images` (``NAXIS3`` missing) and :func:`split_channels`.

:func:`calibrate` runs them all.  Every function takes a DataFrame and returns a new
one; none loops over rows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..instrument import case_dn_to_celsius, det_dn_to_celsius
from ..io.filenames import filename_times
from ..io.tables import duplicated_rows, numeric_columns, plain_dtypes
from .plausibility import implausible, normalise_channels

__all__ = [
    "calibrate", "correct_binning", "normalise_integration_time", "index_by_time", "select_dark_mode",
    "convert_temperatures", "select_single_images", "split_channels",
    "EXCLUSION_REASONS",
]

#: The reasons :func:`calibrate` gives in the ``exclusion`` column.
EXCLUSION_REASONS = {
    "mcp_on": "MCP on (shutter dark, MCP_VOLT > 0)",
    "no_data": "no valid binned values (dark_mean is NaN)",
    "no_temperature": "no detector temperature",
    "multi_image": "not a single image (NAXIS3 set)",
    "channel_mismatch": "channel in the file name disagrees with XUV in the header",
    "implausible": "implausible ... (a value outside darkmodel.calibration.plausibility.LIMITS; the column is named)",
    "duplicate": "duplicate of an earlier row (same product and integration)",
}
_NUMERIC = ("dark_mean", "INT_TIME", "MCP_VOLT", "SPE_SIZE", "SPA_SIZE", "PIXELS_PER_BIN", "DET_TEMP", "CASE_TEMP",
            "DET_TEMP_C", "CASE_TEMP_C", "DET_TEMP_DN", "CASE_TEMP_DN")


def _exclude(table: pd.DataFrame, mask, reason: str) -> pd.DataFrame:
    """Record ``reason`` for rows in ``mask`` that are not excluded yet."""
    current = (table["exclusion"] if "exclusion" in table.columns
               else pd.Series(pd.NA, index=table.index, dtype="string"))
    mask = pd.Series(np.asarray(mask, dtype=bool), index=table.index) & current.isna()
    return table.assign(exclusion=current.mask(mask, reason).astype("string"))


def correct_binning(table: pd.DataFrame) -> pd.DataFrame:
    """Correct the mean DN for binning: each stored value is the sum of its pixels.

    Parameters
    ----------
    table : pandas.DataFrame
        With ``dark_mean``, ``SPE_SIZE`` and ``SPA_SIZE``.  Where the size keys are missing
        (non-linear bin tables), ``PIXELS_PER_BIN`` from the Binning table is used.

    Returns
    -------
    pandas.DataFrame
        A copy with ``pixelsum = SPE_SIZE * SPA_SIZE`` and
        ``corrected_mean = dark_mean / pixelsum``.
    """
    pixelsum = table["SPE_SIZE"].astype(float) * table["SPA_SIZE"].astype(float)
    if "PIXELS_PER_BIN" in table.columns:
        pixelsum = pixelsum.fillna(table["PIXELS_PER_BIN"].astype(float))
    return table.assign(pixelsum=pixelsum, corrected_mean=table["dark_mean"] / pixelsum)


def normalise_integration_time(table: pd.DataFrame) -> pd.DataFrame:
    """Normalise by integration time.

    Parameters
    ----------
    table : pandas.DataFrame
        With ``corrected_mean`` (DN per pixel) and ``INT_TIME`` (ms).

    Returns
    -------
    pandas.DataFrame
        A copy with ``DN_per_s = corrected_mean / (INT_TIME / 1000)`` (DN/s/pixel).
    """
    return table.assign(DN_per_s=table["corrected_mean"] / (table["INT_TIME"] / 1000))


def index_by_time(table: pd.DataFrame) -> pd.DataFrame:
    """Index the table by time, named ``Time``, and sort it.

    Parameters
    ----------
    table : pandas.DataFrame
        A scan table (with a ``Time`` column: each integration's UTC time) or the seed's
        per-file table (time taken from ``FILENAME``, as the seed did).

    Returns
    -------
    pandas.DataFrame
        Sorted by time (stable), index ``Time``.
    """
    if "Time" in table.columns:
        out = table.set_index("Time")
    elif table.index.name == "Time":
        out = table
    else:
        out = table.set_axis(filename_times(table["FILENAME"]), axis=0)
    out.index.name = "Time"
    return out.sort_index(kind="stable")


def select_dark_mode(table: pd.DataFrame) -> pd.DataFrame:
    """Mark MCP-on shutter darks (``MCP_VOLT > 0``) as excluded, keeping the reason.

    Parameters
    ----------
    table : pandas.DataFrame
        With ``MCP_VOLT`` (V).

    Returns
    -------
    pandas.DataFrame
        A copy with an ``exclusion`` column (missing for rows that stay in).
    """
    return _exclude(table, table["MCP_VOLT"].to_numpy(dtype=float) > 0, EXCLUSION_REASONS["mcp_on"])


def _looks_like_celsius(values: pd.Series) -> bool:
    finite = values.dropna()
    return len(finite) > 0 and bool(finite.between(-150, 150).all())


def convert_temperatures(table: pd.DataFrame) -> pd.DataFrame:
    """Detector and case temperatures in degC, with the raw DN kept.

    Sources, in order: ``DET_TEMP_C``/``CASE_TEMP_C`` (already degC, e.g. v13 files),
    else raw DN in ``DET_TEMP_DN``/``CASE_TEMP_DN`` or, as in the seed's table,
    ``DET_TEMP``/``CASE_TEMP``.  A ``DET_TEMP`` column whose values all lie within
    -150..150 is already in degC (a calibrated table) and passes through.

    Parameters
    ----------
    table : pandas.DataFrame
        A scan table or the seed's per-file table.

    Returns
    -------
    pandas.DataFrame
        A copy with ``DET_TEMP`` and ``CASE_TEMP`` in degC and ``DET_TEMP_DN``,
        ``CASE_TEMP_DN`` in raw DN (NaN where the file held degC only).
    """
    out = table.copy(deep=False)
    for name, to_celsius in (("DET_TEMP", det_dn_to_celsius), ("CASE_TEMP", case_dn_to_celsius)):
        dn_col, c_col = f"{name}_DN", f"{name}_C"
        raw = out[name].astype(float) if name in out.columns else None
        if raw is not None and dn_col not in out.columns and _looks_like_celsius(raw):
            out[dn_col] = np.nan  # degC already, nothing raw to keep
            continue
        if raw is not None and dn_col in out.columns and c_col not in out.columns:
            continue  # calibrated before: DET_TEMP is degC and DET_TEMP_DN is kept
        dn = out[dn_col].astype(float) if dn_col in out.columns else (
            raw if raw is not None else pd.Series(np.nan, index=out.index))
        celsius = pd.Series(to_celsius(dn.to_numpy()), index=out.index)
        if c_col in out.columns:
            celsius = out[c_col].astype(float).where(out[c_col].notna(), celsius)
            out = out.drop(columns=c_col)
        out[dn_col] = dn
        out[name] = celsius
    return out


def select_single_images(table: pd.DataFrame) -> pd.DataFrame:
    """Mark rows of multi-integration files (``NAXIS3`` set) as excluded.

    The seed kept only single dark images, ``df[df.NAXIS3.isnull()]``.

    Parameters
    ----------
    table : pandas.DataFrame
        With ``NAXIS3`` (NaN for single images).

    Returns
    -------
    pandas.DataFrame
        A copy with the ``exclusion`` column updated.
    """
    return _exclude(table, table["NAXIS3"].notna().to_numpy(), EXCLUSION_REASONS["multi_image"])


def split_channels(table: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Split a table by channel, as the seed's ``fuv``/``muv`` frames.

    Parameters
    ----------
    table : pandas.DataFrame
        With ``XUV``.

    Returns
    -------
    dict of str to pandas.DataFrame
        ``{'FUV': ..., 'MUV': ...}`` for the channels present.
    """
    return {str(ch): part for ch, part in table.groupby("XUV", sort=True)}


def _exclude_duplicates(table: pd.DataFrame) -> pd.DataFrame:
    """A row seen twice (the same product and integration, e.g. two tables concatenated) counts once."""
    import warnings

    dup, keys = duplicated_rows(table)
    if dup.any():
        warnings.warn(f"calibrate: {int(dup.sum())} duplicated row(s) (same {' and '.join(keys)} and time) "
                      "excluded", UserWarning, stacklevel=3)
    return _exclude(table, dup, EXCLUSION_REASONS["duplicate"])


def _exclude_implausible(table: pd.DataFrame) -> pd.DataFrame:
    reason = implausible(table)
    current = table["exclusion"]
    return table.assign(exclusion=current.where(current.notna(), reason).astype("string"))


def calibrate(table: pd.DataFrame, *, keep_excluded: bool = False, single_images: bool = False) -> pd.DataFrame:
    """Run the standard calibration chain of the seed notebook.

    Parameters
    ----------
    table : pandas.DataFrame or ScanResult
        A summary from :func:`darkmodel.scan` (per integration or per file; the
        :class:`~darkmodel.ScanResult` itself will do) or the seed's own table
        (``pd.read_hdf('l1a_dark_stats.h5', 'df')``).
    keep_excluded : bool, optional
        Return every row, with the ``exclusion`` column naming why a row is out; by default
        only the rows that stay in are returned.
    single_images : bool, optional
        Also exclude multi-integration files (the seed's ``NAXIS3.isnull()`` subset).

    Returns
    -------
    pandas.DataFrame
        Indexed by ``Time`` and sorted, with ``pixelsum``, ``corrected_mean``,
        ``DN_per_s`` (DN/s/pixel), ``DET_TEMP``/``CASE_TEMP`` in degC, ``*_DN`` raw values
        and ``exclusion``.  Besides the seed's selections, rows with values outside the
        plausibility limits (:mod:`darkmodel.calibration.plausibility`), an unknown channel or a channel
        that disagrees with the file name are excluded with the reason.

    Raises
    ------
    KeyError
        If a column the chain needs is missing; the message lists them.

    Examples
    --------
    The seed's per-file row by hand: 4 x 80 pixels per bin, 1.4 s, raw detector DN 3000:

    >>> row = pd.DataFrame({"FILENAME": ["mvn_iuv_l1a_outbound-orbit01000-fuvdark_20150401T000000_v02_r01"],
    ...                     "XUV": ["FUV"], "INT_TIME": [1400], "MCP_VOLT": [-1.83], "DET_TEMP": [3000],
    ...                     "CASE_TEMP": [4000], "SPE_SIZE": [4], "SPA_SIZE": [80], "dark_mean": [448.0]})
    >>> out = calibrate(row)
    >>> float(out["DN_per_s"].iloc[0])  # 448 / 320 / 1.4
    1.0
    >>> round(float(out["DET_TEMP"].iloc[0]), 2)  # -0.0749 * 3000 + 174.08
    -50.62
    """
    if not isinstance(table, pd.DataFrame) and isinstance(getattr(table, "table", None), pd.DataFrame):
        table = table.table  # a ScanResult: dm.calibrate(dm.scan(path))
    needed = {"dark_mean", "INT_TIME", "MCP_VOLT", "XUV"}
    if "PIXELS_PER_BIN" not in table.columns:
        needed |= {"SPE_SIZE", "SPA_SIZE"}
    if "Time" not in table.columns and table.index.name != "Time":
        needed.add("FILENAME")
    missing = sorted(needed - set(table.columns))
    if missing:
        raise KeyError(f"calibrate needs the column(s) {missing}; is this a darkmodel scan or the seed table?")
    for col in ("SPE_SIZE", "SPA_SIZE"):
        if col not in table.columns:
            table = table.assign(**{col: np.nan})
    table = numeric_columns(plain_dtypes(table), _NUMERIC, "calibrate")
    table = table.assign(XUV=normalise_channels(table["XUV"]).to_numpy())
    out = correct_binning(table)
    out = normalise_integration_time(out)
    out = index_by_time(out)
    out = select_dark_mode(out)
    out = convert_temperatures(out)
    out = _exclude(out, out["DN_per_s"].isna().to_numpy(), EXCLUSION_REASONS["no_data"])
    out = _exclude(out, out["DET_TEMP"].isna().to_numpy(), EXCLUSION_REASONS["no_temperature"])
    out = _exclude_implausible(out)
    out = _exclude_duplicates(out)
    if "FILENAME" in out.columns:
        named = out["FILENAME"].astype(str).str.extract(r"-(fuv|muv)(?:dark)?_", expand=False).str.upper()
        out = _exclude(out, (named.notna() & (named != out["XUV"])).to_numpy(), EXCLUSION_REASONS["channel_mismatch"])
    if single_images:
        out = select_single_images(out)
    if not keep_excluded:
        out = out[out["exclusion"].isna()]
    return out
