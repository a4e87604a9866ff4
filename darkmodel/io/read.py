"""Reading IUVS dark files into one record per dark integration.

Two kinds of file carry dark integrations:

* **Level-1A dark files** (``...-fuvdark_...``, ``...-muvdark_...``) in three layouts:

  - ``v01``: ``DET_TEMP``/``CASE_TEMP`` (raw DN) are one value per file, in ``Engineering``;
  - ``v02``: ``DET_TEMP``/``CASE_TEMP`` (raw DN) per integration, in ``Integration``;
  - ``v13``: ``DET_TEMP_C``/``CASE_TEMP_C`` (already degC) per integration, in ``Integration``.

  The primary HDU is the image: a 2-D single frame (no ``NAXIS3``) or a cube
  ``(n_int, n_spa, n_spe)``, int32 with ``BLANK``, possibly with ``BSCALE``/``BZERO``.
* **Level-1B files**, which carry copies of the L1A darks used to calibrate them:
  ``detector_dark`` (several dark products stacked along the first axis),
  ``Dark_Integration``, ``Dark_Engineering`` and ``Dark_Observation``.

The reader is built on ``fitsio`` (CFITSIO): a complete read of a small ``.fits.gz`` dark
costs a few times its bare gzip decompression, against tens of times with astropy's
table machinery, and the scan of a whole archive is dominated by this function.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import shutil
import stat as stat_module
import tempfile
import warnings
import zlib
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import fitsio
import numpy as np
import pandas as pd
from astropy.stats import sigma_clipped_stats
from astropy.utils.exceptions import AstropyUserWarning

from ..exceptions import DarkFileError
from ..instrument import case_dn_to_celsius, det_dn_to_celsius, mcp_gain_to_volt
from .filenames import parse_filename
from .storage import special_kind

__all__ = ["read_dark", "load_products", "tabulate", "DarkProduct", "DarkFileError",
           "integration_statistics", "INTEGRATION_COLUMNS", "MAX_FILE_SIZE", "max_file_size"]

log = logging.getLogger(__name__)

#: Columns of the per-integration table, in order.
INTEGRATION_COLUMNS = [
    "FILENAME", "PRODUCT_ID", "INTEGRATION", "Time", "XUV", "INT_TIME", "MCP_VOLT", "MCP_GAIN",
    "DET_TEMP_DN", "CASE_TEMP_DN", "DET_TEMP_C", "CASE_TEMP_C",
    "NAXIS1", "NAXIS2", "NAXIS3", "N_INT",
    "SPA_OFS", "SPA_SIZE", "SPE_OFS", "SPE_SIZE", "PIXELS_PER_BIN", "BIN_TBL", "MIR_DEG",
    "dark_mean", "dark_median", "dark_std", "dark_clipped_mean", "n_blank", "n_bins",
    "SEGMENT", "ORBIT", "VERSION", "PRODUCTION", "REVISION",
    "LAYOUT", "SOURCE_KIND", "SOURCE_FILE", "SOURCE_SIZE", "SOURCE_MTIME_NS", "SIMULATED",
]

_UTC_FORMAT = "%Y/%j %b %d %H:%M:%S.%fUTC"

#: Largest (uncompressed) file the reader accepts, bytes; far above any real dark file
#: (a 21-frame unbinned cube is 88 MB).  A gzip file is inflated as a stream to a private
#: temporary file and stopped at this size, so a scan's memory never depends on what a
#: file claims (``darkmodel scan --max-file-size``; environment ``DARKMODEL_MAX_FILE_SIZE``).
#: An image must also fit in it once read as float64 (a small BITPIX=8 file can hold a
#: cube eight times its size in memory): both are checked before anything is allocated.
MAX_FILE_SIZE = 256 * 2**20
_CHUNK = 1 << 20


def _text(path) -> str:
    """A path as text any table can store (see :func:`darkmodel.io.scanning.display_name`)."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")




def integration_statistics(cube: np.ndarray, *, sigma: float = 3.0, maxiters: int = 5) -> dict:
    """Statistics of the binned values of every integration in a dark cube.

    Parameters
    ----------
    cube : numpy.ndarray
        Float array of shape ``(n_int, n_spa, n_spe)``; missing bins are NaN.
    sigma : float, optional
        Clipping threshold in standard deviations for the cosmic-ray-robust mean.
    maxiters : int, optional
        Maximum number of clipping iterations.

    Returns
    -------
    dict of numpy.ndarray
        ``dark_mean``, ``dark_median``, ``dark_std`` (population, ``ddof=0``),
        ``dark_clipped_mean`` (astropy ``sigma_clipped_stats`` with median centre),
        ``n_blank`` (NaN bins) and ``n_bins`` (all bins), one value per integration.
        An integration whose bins are all missing gets NaN statistics.
    """
    cube = np.asarray(cube, dtype=float)
    n_int = cube.shape[0]
    flat = cube.reshape(n_int, -1)
    blank = np.isnan(flat)
    n_blank = blank.sum(axis=1)
    out = {
        "dark_mean": np.full(n_int, np.nan),
        "dark_median": np.full(n_int, np.nan),
        "dark_std": np.full(n_int, np.nan),
        "dark_clipped_mean": np.full(n_int, np.nan),
        "n_blank": n_blank.astype(np.int64),
        "n_bins": np.full(n_int, flat.shape[1], dtype=np.int64),
    }
    good = n_blank < flat.shape[1]
    if not good.any():
        return out
    sub = flat[good]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.simplefilter("ignore", AstropyUserWarning)  # NaN bins are expected and skipped
        if n_blank.any():
            out["dark_mean"][good] = np.nanmean(sub, axis=1)
            out["dark_median"][good] = np.nanmedian(sub, axis=1)
            out["dark_std"][good] = np.nanstd(sub, axis=1)
        else:  # the common case; the NaN-aware versions are several times slower
            out["dark_mean"][good] = sub.mean(axis=1)
            out["dark_median"][good] = np.median(sub, axis=1)
            out["dark_std"][good] = sub.std(axis=1)
        clipped, _, _ = sigma_clipped_stats(sub, axis=1, sigma=sigma, maxiters=maxiters)
    out["dark_clipped_mean"][good] = np.asarray(clipped, dtype=float)
    return out


def _image(hdu, hdr, path) -> np.ndarray:
    """Read an image HDU as float ``(n_int, n_spa, n_spe)`` with BLANK bins as NaN."""
    naxis = int(hdr.get("NAXIS", 0))
    if naxis not in (2, 3):
        raise DarkFileError(path, f"image HDU {hdu.get_extname() or 'PRIMARY'!r} has NAXIS={naxis}, "
                                  "expected 2 (single frame) or 3 (cube)")
    shape = [int(hdr.get(f"NAXIS{i}", 0)) for i in range(1, naxis + 1)]
    in_memory = 8 * math.prod(shape)  # read as float64, whatever BITPIX the file stores
    limit = max_file_size()
    if in_memory > limit:
        raise DarkFileError(path, f"the image ({' x '.join(map(str, reversed(shape)))}) takes "
                                  f"{in_memory / 2**20:.0f} MiB in memory as float64, above the "
                                  f"{limit / 2**20:.0f} MiB limit (raise --max-file-size)")
    data = hdu.read()  # fitsio applies BSCALE/BZERO but leaves BLANK values in place
    if data is None:
        raise DarkFileError(path, "image HDU holds no data")
    data = np.asarray(data)
    if data.ndim == 2:
        data = data[np.newaxis]
    out = data.astype(float)
    blank = hdr.get("BLANK")
    if blank is not None and int(hdr.get("BITPIX", 0)) > 0:  # BLANK applies to integer images only
        scaled_blank = float(blank) * float(hdr.get("BSCALE", 1.0)) + float(hdr.get("BZERO", 0.0))
        out[out == scaled_blank] = np.nan
    return out


def _column(table: np.ndarray | None, name: str):
    if table is None or table.dtype.names is None or name not in table.dtype.names:
        return None
    return table[name]


def _parse_utc(values) -> np.ndarray:
    strings = pd.Series(np.char.strip(np.asarray(values).astype(str)))
    return pd.to_datetime(strings, format=_UTC_FORMAT, errors="coerce").to_numpy(dtype="datetime64[ns]")


def _binning(hdr, binning: np.ndarray | None, n_spa: int, n_spe: int, path) -> dict:
    """Linear-binning keys from the header, falling back to the Binning table."""
    out = {k: hdr.get(k) for k in ("SPA_OFS", "SPA_SIZE", "SPE_OFS", "SPE_SIZE")}
    pixels_per_bin = np.nan
    table_name = None
    if binning is not None and len(binning):
        row = binning[0]
        widths = {}
        for axis, n in (("SPA", n_spa), ("SPE", n_spe)):
            width = np.asarray(row[f"{axis}BINWIDTH"], dtype=float).ravel()
            send = np.asarray(row[f"{axis}BINTRANSMIT"]).ravel().astype(bool)
            if width.size != send.size or send.sum() != n:
                raise DarkFileError(path, f"Binning table: {axis} transmits {int(send.sum())} bins "
                                          f"but the image has {n}")
            sent = width[send]
            widths[axis] = sent
            if out[f"{axis}_SIZE"] is None:
                out[f"{axis}_SIZE"] = float(sent[0]) if np.all(sent == sent[0]) else np.nan
            if out[f"{axis}_OFS"] is None:
                out[f"{axis}_OFS"] = float(width[: np.argmax(send)].sum())
        pixels_per_bin = float(np.outer(widths["SPA"], widths["SPE"]).mean())
        if "BINTABLENAME" in (binning.dtype.names or ()):
            table_name = str(row["BINTABLENAME"]).strip()
    for key, value in out.items():
        try:
            out[key] = np.nan if value is None else float(value)
        except (TypeError, ValueError):
            raise DarkFileError(path, f"header keyword {key}={value!r} is not a number") from None
        if np.isfinite(out[key]) and (out[key] < 0 or (key.endswith("SIZE") and out[key] == 0)):
            raise DarkFileError(path, f"header keyword {key}={value!r} is not a valid binning value")
    if np.isnan(pixels_per_bin):
        pixels_per_bin = out["SPA_SIZE"] * out["SPE_SIZE"]
    out["PIXELS_PER_BIN"] = pixels_per_bin
    bin_tbl = hdr.get("BIN_TBL")
    out["BIN_TBL"] = str(bin_tbl).strip() if bin_tbl is not None else (table_name or "")
    return out


def _channel(value, path) -> str:
    xuv = str(value).strip().upper()
    if xuv not in ("FUV", "MUV"):
        raise DarkFileError(path, f"channel XUV={value!r} is neither 'FUV' nor 'MUV'")
    return xuv


def _int_time_ms(eng_value, header_seconds, path) -> int:
    if eng_value is not None:
        value = float(eng_value)
    elif header_seconds is not None:
        try:
            value = round(float(header_seconds) * 1000.0)
        except (TypeError, ValueError):
            raise DarkFileError(path, f"header INT_TIME={header_seconds!r} is not a number") from None
    else:
        raise DarkFileError(path, "no INT_TIME in the header or the Engineering table")
    if not np.isfinite(value) or value <= 0:
        raise DarkFileError(path, f"INT_TIME={value!r} ms is not a positive integration time")
    return int(round(value))


def _per_int(values, n_int: int, name: str, path) -> np.ndarray:
    """Broadcast per-file or per-integration values to ``n_int`` entries (NaN-padded)."""
    arr = np.asarray(values, dtype=float).ravel()
    if arr.size == 1:
        return np.repeat(arr, n_int)
    if arr.size < n_int:
        log.warning("%s: %s has %d rows for %d integrations; padding with NaN", path, name, arr.size, n_int)
        return np.concatenate([arr, np.full(n_int - arr.size, np.nan)])
    return arr[:n_int]


def _name_parts(name: str) -> dict:
    try:
        f = parse_filename(name)
    except ValueError:
        return {"SEGMENT": "", "ORBIT": np.nan, "VERSION": np.nan, "PRODUCTION": True, "REVISION": np.nan}
    return {"SEGMENT": f.phase, "ORBIT": np.nan if f.orbit is None else float(f.orbit),
            "VERSION": float(f.version), "PRODUCTION": f.production, "REVISION": float(f.revision)}


@dataclass
class DarkProduct:
    """One dark product as loaded from a file, before its statistics are computed.

    Attributes
    ----------
    product_id : str
        L1A product name without extension.
    columns : dict
        Per-product scalars and per-integration arrays (length ``n_int``).
    values : numpy.ndarray
        The binned values, float, shape ``(n_int, n_spa, n_spe)``; missing bins are NaN.
    utc : numpy.ndarray or None
        UTC strings of the integrations (parsed for a whole batch at once), or None when
        ``columns['Time']`` already holds times.
    """

    product_id: str
    columns: dict
    values: np.ndarray
    utc: np.ndarray | None = None


def tabulate(products) -> pd.DataFrame:
    """Turn loaded dark products into the per-integration table.

    Statistics are computed for all integrations with the same number of bins in one
    vectorised call, and UTC strings are parsed in one call, so a batch of many small files
    costs little more than its largest pieces.

    Parameters
    ----------
    products : sequence of DarkProduct
        Products from :func:`load_products`.

    Returns
    -------
    pandas.DataFrame
        One row per integration, columns :data:`INTEGRATION_COLUMNS`.
    """
    products = list(products)
    if not products:
        return _empty_table()
    n_ints = np.array([p.values.shape[0] for p in products])
    total = int(n_ints.sum())
    starts = np.concatenate([[0], np.cumsum(n_ints)])
    stats = {k: np.empty(total, dtype=np.int64 if k.startswith("n_") else float) for k in _STAT_COLUMNS}
    n_bins = np.array([p.values.shape[1] * p.values.shape[2] for p in products])
    for size in np.unique(n_bins):
        members = np.flatnonzero(n_bins == size)
        block = np.concatenate([products[i].values.reshape(n_ints[i], -1) for i in members])
        rows = np.concatenate([np.arange(starts[i], starts[i + 1]) for i in members])
        for key, value in integration_statistics(block).items():
            stats[key][rows] = value
    cols = {}
    for name in _PRODUCT_COLUMNS:
        values = [p.columns[name] for p in products]
        if all(np.ndim(v) == 0 for v in values):  # one value per product: repeat it
            cols[name] = np.repeat(np.asarray(values), n_ints)
        else:
            cols[name] = np.concatenate([np.broadcast_to(v, (n,)) for v, n in zip(values, n_ints)])
    cols["FILENAME"] = np.repeat([p.product_id + ".fits" for p in products], n_ints)
    cols["PRODUCT_ID"] = np.repeat([p.product_id for p in products], n_ints)
    cols["INTEGRATION"] = np.concatenate([np.arange(n) for n in n_ints]).astype(np.int64)
    cols["N_INT"] = np.repeat(n_ints, n_ints).astype(np.int64)
    cols["NAXIS1"] = np.repeat([p.values.shape[2] for p in products], n_ints).astype(np.int64)
    cols["NAXIS2"] = np.repeat([p.values.shape[1] for p in products], n_ints).astype(np.int64)
    names = [_name_parts(p.product_id) for p in products]
    for key in ("SEGMENT", "ORBIT", "VERSION", "PRODUCTION", "REVISION"):
        cols[key] = np.repeat([n[key] for n in names], n_ints)
    utc_rows = [i for i, p in enumerate(products) if p.utc is not None]
    if utc_rows:
        parsed = _parse_utc(np.concatenate([products[i].utc for i in utc_rows]))
        edges = np.concatenate([[0], np.cumsum(n_ints[utc_rows])])
        for j, i in enumerate(utc_rows):
            cols["Time"][starts[i]:starts[i + 1]] = parsed[edges[j]:edges[j + 1]]
    cols.update(stats)
    df = pd.DataFrame(cols, columns=INTEGRATION_COLUMNS)
    df["PRODUCTION"] = df["PRODUCTION"].astype(bool)
    return df


def _empty_table() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=_EMPTY_DTYPES.get(c, float)) for c in INTEGRATION_COLUMNS})


_STAT_COLUMNS = ("dark_mean", "dark_median", "dark_std", "dark_clipped_mean", "n_blank", "n_bins")
_PRODUCT_COLUMNS = (
    "Time", "XUV", "INT_TIME", "MCP_VOLT", "MCP_GAIN", "DET_TEMP_DN", "CASE_TEMP_DN", "DET_TEMP_C",
    "CASE_TEMP_C", "NAXIS3", "SPA_OFS", "SPA_SIZE", "SPE_OFS", "SPE_SIZE", "PIXELS_PER_BIN", "BIN_TBL",
    "MIR_DEG", "LAYOUT", "SOURCE_KIND", "SOURCE_FILE", "SOURCE_SIZE", "SOURCE_MTIME_NS", "SIMULATED",
)
_EMPTY_DTYPES = {"Time": "datetime64[ns]", "XUV": object, "FILENAME": object, "PRODUCT_ID": object,
                 "BIN_TBL": object, "SEGMENT": object, "LAYOUT": object, "SOURCE_KIND": object,
                 "SOURCE_FILE": object, "INTEGRATION": np.int64, "INT_TIME": np.int64, "N_INT": np.int64,
                 "NAXIS1": np.int64, "NAXIS2": np.int64, "n_blank": np.int64, "n_bins": np.int64,
                 "SOURCE_SIZE": np.int64, "SOURCE_MTIME_NS": np.int64, "PRODUCTION": bool,
                 "SIMULATED": bool}


def _hdu_index(fits) -> dict:
    """EXTNAME (lower case) -> HDU number, built once per file (fitsio's ``in`` rescans)."""
    return {hdu.get_extname().lower(): i for i, hdu in enumerate(fits) if hdu.get_extname()}


def _table(fits, index: dict, extname: str, wanted=None):
    """Read a table extension (only the ``wanted`` columns that exist), or None if absent."""
    i = index.get(extname.lower())
    if i is None:
        return None
    hdu = fits[i]
    if wanted is None:
        return hdu.read()
    present = set(hdu.get_colnames())
    columns = [c for c in wanted if c in present]
    return hdu.read(columns=columns) if columns else np.zeros(hdu.get_nrows(), dtype=[("_", "i1")])


_ENGINEERING_COLUMNS = ("XUV", "INT_TIME", "MCP_GAIN", "CADENCE", "DET_TEMP", "CASE_TEMP", "SET_TOTAL", "NUMBER")
_INTEGRATION_TABLE_COLUMNS = ("UTC", "DET_TEMP", "CASE_TEMP", "DET_TEMP_C", "CASE_TEMP_C")


_NAT = np.datetime64("NaT", "ns")


def _read_l1a(fits, index: dict, path: Path, stat: dict) -> list[DarkProduct]:
    hdr = fits[0].read_header()
    cube = _image(fits[0], hdr, path)
    n_int, n_spa, n_spe = cube.shape
    eng = _table(fits, index, "Engineering", _ENGINEERING_COLUMNS)
    integ = _table(fits, index, "Integration", _INTEGRATION_TABLE_COLUMNS)
    binning = _table(fits, index, "Binning")

    xuv_hdr = hdr.get("XUV")
    xuv = _channel(xuv_hdr if xuv_hdr is not None else _first(_column(eng, "XUV")), path)
    int_time = _int_time_ms(_first(_column(eng, "INT_TIME")), hdr.get("INT_TIME"), path)
    mcp_gain = _first(_column(eng, "MCP_GAIN"))
    mcp_volt = hdr.get("MCP_VOLT")
    try:
        mcp_volt = float(mcp_volt) if mcp_volt is not None else float(mcp_gain_to_volt(mcp_gain))
    except (TypeError, ValueError):
        raise DarkFileError(path, f"MCP_VOLT={mcp_volt!r} is not a number") from None

    nan = np.full(n_int, np.nan)
    if _column(integ, "DET_TEMP_C") is not None:
        layout = "v13"
        det_dn = case_dn = nan
        det_c = _per_int(integ["DET_TEMP_C"], n_int, "Integration", path)
        case = _column(integ, "CASE_TEMP_C")
        case_c = nan if case is None else _per_int(case, n_int, "Integration", path)
    elif _column(integ, "DET_TEMP") is not None:
        layout = "v02"
        det_dn = _per_int(integ["DET_TEMP"], n_int, "Integration", path)
        case = _column(integ, "CASE_TEMP")
        case_dn = nan if case is None else _per_int(case, n_int, "Integration", path)
        det_c, case_c = det_dn_to_celsius(det_dn), case_dn_to_celsius(case_dn)
    elif _column(eng, "DET_TEMP") is not None:
        layout = "v01"
        det_dn = _per_int(eng["DET_TEMP"][:1], n_int, "Engineering", path)
        case = _column(eng, "CASE_TEMP")
        case_dn = nan if case is None else _per_int(case[:1], n_int, "Engineering", path)
        det_c, case_c = det_dn_to_celsius(det_dn), case_dn_to_celsius(case_dn)
    else:
        missing = [name for name, t in (("Integration", integ), ("Engineering", eng)) if t is None]
        detail = f"missing extension(s) {', '.join(missing)}" if missing else "no DET_TEMP/DET_TEMP_C column"
        raise DarkFileError(path, f"no detector temperature: {detail}")
    if not np.isfinite(det_c).any():
        raise DarkFileError(path, "detector temperature is missing (NaN) for every integration")

    utc = _column(integ, "UTC")
    if utc is not None and len(utc) >= n_int:
        utc, times = np.asarray(utc[:n_int]).astype(str), np.full(n_int, _NAT)
    else:
        utc, times = None, _capture_times(hdr, eng, n_int, path)

    columns = {"Time": times, "XUV": xuv, "INT_TIME": int_time, "MCP_VOLT": mcp_volt,
               "MCP_GAIN": np.nan if mcp_gain is None else float(mcp_gain),
               "DET_TEMP_DN": det_dn, "CASE_TEMP_DN": case_dn,
               "DET_TEMP_C": np.asarray(det_c, float), "CASE_TEMP_C": np.asarray(case_c, float),
               "NAXIS3": float(hdr["NAXIS3"]) if "NAXIS3" in hdr else np.nan,
               **_binning(hdr, binning, n_spa, n_spe, path), "MIR_DEG": _float_or_nan(hdr.get("MIR_DEG")),
               "LAYOUT": layout, "SOURCE_KIND": "l1a", "SIMULATED": bool(hdr.get("SIMULATE", False)), **stat}
    product_id = _text(path.name).removesuffix(".gz").removesuffix(".fits")
    return [DarkProduct(product_id, columns, cube, utc)]


def _float_or_nan(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def _first(values):
    if values is None or len(values) == 0:
        return None
    v = values[0]
    return v.strip() if isinstance(v, str) else v


def _capture_times(hdr, eng, n_int: int, path) -> np.ndarray:
    capture = hdr.get("CAPTURE")
    if capture is None:
        raise DarkFileError(path, "no integration times: no Integration UTC column and no CAPTURE keyword")
    start = _parse_utc([capture])[0]
    if np.isnat(start):
        raise DarkFileError(path, f"CAPTURE={capture!r} is not a 'YYYY/DOY Mon DD HH:MM:SS.sssssUTC' time")
    cadence = _first(_column(eng, "CADENCE"))
    step = np.timedelta64(int(round(float(cadence if cadence is not None else 0) * 1e6)), "ns")
    return start + np.arange(n_int) * step


def _read_l1b_copies(fits, index: dict, path: Path, stat: dict) -> list[DarkProduct]:
    hdr = fits[0].read_header()
    dark = fits[index["detector_dark"]]
    cube = _image(dark, dark.read_header(), path)
    n_total, n_spa, n_spe = cube.shape
    tables = {}
    for ext in ("Dark_Integration", "Dark_Engineering", "Dark_Observation"):
        tables[ext] = _table(fits, index, ext)
        if tables[ext] is None:
            raise DarkFileError(path, f"L1B file has detector_dark but no {ext} extension")
    integ, eng, obs = tables["Dark_Integration"], tables["Dark_Engineering"], tables["Dark_Observation"]
    n_prod = len(eng)
    if len(obs) != n_prod or n_prod == 0:
        raise DarkFileError(path, f"{n_prod} Dark_Engineering rows but {len(obs)} Dark_Observation rows")
    counts = np.asarray(eng["SET_TOTAL"] if "SET_TOTAL" in eng.dtype.names else eng["NUMBER"], dtype=int)
    if counts.sum() != n_total:
        if n_total % n_prod:
            raise DarkFileError(path, f"cannot split {n_total} dark frames among {n_prod} dark products")
        counts = np.full(n_prod, n_total // n_prod)
    if len(integ) != n_total:
        raise DarkFileError(path, f"Dark_Integration has {len(integ)} rows for {n_total} dark frames")
    bins = _binning(hdr, _table(fits, index, "Binning"), n_spa, n_spe, path)
    edges = np.concatenate([[0], np.cumsum(counts)])
    utc = np.asarray(integ["UTC"]).astype(str)
    products = []
    for i in range(n_prod):
        sl = slice(edges[i], edges[i + 1])
        n_int = int(counts[i])
        gain = float(eng["MCP_GAIN"][i])
        columns = {"Time": np.full(n_int, _NAT), "XUV": _channel(eng["XUV"][i], path),
                   "INT_TIME": _int_time_ms(eng["INT_TIME"][i], None, path),
                   "MCP_VOLT": float(mcp_gain_to_volt(gain)), "MCP_GAIN": gain,
                   "DET_TEMP_DN": np.full(n_int, np.nan), "CASE_TEMP_DN": np.full(n_int, np.nan),
                   "DET_TEMP_C": np.asarray(integ["DET_TEMP_C"][sl], float),
                   "CASE_TEMP_C": np.asarray(integ["CASE_TEMP_C"][sl], float),
                   "NAXIS3": float(n_int) if n_int > 1 else np.nan, **bins,
                   "MIR_DEG": float(integ["MIRROR_DEG"][sl][0]) if "MIRROR_DEG" in integ.dtype.names else np.nan,
                   "LAYOUT": "v13", "SOURCE_KIND": "l1b-copy", "SIMULATED": False, **stat}
        products.append(DarkProduct(str(obs["PRODUCT_ID"][i]).strip(), columns, cube[sl], utc[sl]))
    return products


def _check_complete(fits, path: Path, size: int) -> None:
    """Refuse a truncated file, which CFITSIO would otherwise read partly without a word.

    The HDUs found must end exactly where the (uncompressed) data end.
    """
    end = max(hdu.get_offsets()["data_end"] for hdu in fits)
    end = -(-end // 2880) * 2880
    if size < end or size % 2880:
        raise DarkFileError(path, f"truncated FITS file: {size} bytes, but the HDUs end at byte {end} "
                                  "(FITS files are multiples of 2880 bytes)")


def max_file_size() -> int:
    """The reader's size limit: ``DARKMODEL_MAX_FILE_SIZE`` (bytes) if set, else :data:`MAX_FILE_SIZE`."""
    value = os.environ.get("DARKMODEL_MAX_FILE_SIZE")
    try:
        return int(value) if value else MAX_FILE_SIZE
    except ValueError:
        return MAX_FILE_SIZE


def _inflate(path: Path, out, limit: int) -> int:
    """Inflate a gzip file (all members) into ``out``; stop with an error past ``limit`` bytes."""
    written = 0
    with open(path, "rb") as fh:
        fh.seek(-4, os.SEEK_END)  # what the (last) member claims: refuse before inflating anything,
        claimed = int.from_bytes(fh.read(4), "little")  # if deflate (at most 1032:1) can reach it at all;
        compressed = fh.tell()  # a truncated file ends in arbitrary bytes, and inflating tells
        if limit < claimed <= 1032 * compressed:
            raise DarkFileError(path, f"claims {claimed / 2**20:.0f} MiB uncompressed, above the "
                                      f"{limit / 2**20:.0f} MiB limit (a gzip bomb, or raise --max-file-size)")
        fh.seek(0)
        inflater = zlib.decompressobj(wbits=31)
        pending = b""
        while True:
            data = pending or fh.read(_CHUNK)
            pending = b""
            if not data:
                break
            try:
                while True:  # bounded output per call: memory never holds more than _CHUNK * 8
                    chunk = inflater.decompress(data, _CHUNK * 8)
                    written += len(chunk)
                    if written > limit:
                        raise DarkFileError(path, f"inflates to more than the {limit / 2**20:.0f} MiB limit "
                                                  "(a gzip bomb, or raise --max-file-size)")
                    out.write(chunk)
                    data = inflater.unconsumed_tail
                    if not data and len(chunk) < _CHUNK * 8:
                        break
            except zlib.error as exc:
                raise DarkFileError(path, f"truncated or corrupt gzip stream ({exc})") from None
            if inflater.eof:  # another gzip member may follow
                pending = inflater.unused_data
                if not pending.strip(b"\0"):
                    pending = b""
                    rest = fh.read(_CHUNK)
                    if not rest.strip(b"\0"):
                        break
                    pending = rest
                inflater = zlib.decompressobj(wbits=31)
        if not inflater.eof and written:
            raise DarkFileError(path, "truncated or corrupt gzip stream: it ends before its trailer")
    return written


_COUNTER = 0
_PRIVATE: dict = {}


def _private_dir() -> str:
    """The private temporary folder of this process, made once and removed at its exit.

    No folder is created and removed per file (that cost 7 % of a scan of small files).
    multiprocessing's finalizer also runs in pool workers, which leave without ``atexit``.
    """
    from multiprocessing import util

    pid = os.getpid()
    if pid not in _PRIVATE:  # a forked worker makes its own
        _remove_stale_folders()
        folder = tempfile.mkdtemp(prefix=f"darkmodel-{pid}-")
        util.Finalize(None, shutil.rmtree, args=(folder, True), exitpriority=0)
        _PRIVATE[pid] = folder
    return _PRIVATE[pid]


def _remove_stale_folders() -> None:
    """Remove the private folders of darkmodel processes that are gone (killed with ``kill -9``)."""
    for folder in Path(tempfile.gettempdir()).glob("darkmodel-*-*"):
        try:
            pid = int(folder.name.split("-")[1])
            os.kill(pid, 0)
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
        except (ValueError, IndexError, PermissionError, OSError):
            continue


@contextmanager
def _plain_copy(path: Path, size: int):
    """A path CFITSIO can open literally: the file itself seen through a private, plainly
    named link (its own name could hold ``[``, ``$`` or other extended-file-name syntax),
    or, for gzip, its stream inflated into a private temporary file within the size limit.

    ``path`` is a regular file (:func:`_regular_stat`).  Yields ``(fitsio-safe path,
    uncompressed size)``.
    """
    limit = max_file_size()
    with open(path, "rb") as fh:
        gz = fh.read(2) == b"\x1f\x8b"
    if not gz and size > limit:
        raise DarkFileError(path, f"{size / 2**20:.0f} MiB is above the {limit / 2**20:.0f} MiB file-size limit "
                                  "(raise --max-file-size)")
    global _COUNTER
    _COUNTER += 1
    safe = os.path.join(_private_dir(), f"{_COUNTER}.fits")
    try:
        if gz:
            with open(safe, "wb") as out:
                n = _inflate(path, out, limit)
            if n == 0:
                raise DarkFileError(path, "empty or corrupt gzip stream")
        else:
            os.symlink(os.path.realpath(path), safe)
            n = size
        yield safe, n
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(safe)


def _regular_stat(path: Path) -> os.stat_result:
    """``os.stat(path)`` of a non-empty regular file, else a :class:`DarkFileError` saying what it is.

    A special file is never opened: a FIFO would block, a device never end.
    """
    try:
        st = os.stat(path)
    except OSError as exc:
        raise DarkFileError(path, f"cannot access file: {exc.strerror or exc}") from None
    if not stat_module.S_ISREG(st.st_mode):
        raise DarkFileError(path, f"is {special_kind(st.st_mode)}, not a regular file")
    if st.st_size == 0:
        raise DarkFileError(path, "file is empty")
    return st


@contextmanager
def open_fits(path, st: os.stat_result | None = None):
    """Open one file with fitsio through :func:`_plain_copy`; every failure names ``path``.

    Parameters
    ----------
    path : path-like
        A FITS file (plain or gzip), a regular file.
    st : os.stat_result, optional
        Its :func:`os.stat`, where the caller has it already.

    Yields
    ------
    fits : fitsio.FITS
    size : int
        The uncompressed size of the file (bytes).

    Raises
    ------
    DarkFileError
        If the file is missing, empty, special (FIFO, device), above the size limit or not
        FITS; the message names ``path``, never the private copy.
    """
    path = Path(path)
    st = st if st is not None else _regular_stat(path)
    with _plain_copy(path, st.st_size) as (safe, size):
        try:
            fits = fitsio.FITS(safe)
        except Exception as exc:  # CFITSIO reports every failure as OSError with its own text
            raise DarkFileError(path, f"not a readable FITS file ({_first_line(exc).replace(safe, path.name)})") \
                from None
        with fits:
            yield fits, size


def load_products(path) -> list[DarkProduct]:
    """Load the dark products of one file without computing statistics.

    Parameters
    ----------
    path : path-like
        An L1A dark file or an L1B file with dark copies.

    Returns
    -------
    list of DarkProduct
        One entry for an L1A file, one per stacked dark product for an L1B file.

    Raises
    ------
    DarkFileError
        If the file cannot be opened as FITS or lacks what a dark record needs.
    """
    path = Path(path)
    st = _regular_stat(path)
    stat = {"SOURCE_FILE": _text(path.resolve()), "SOURCE_SIZE": int(st.st_size),
            "SOURCE_MTIME_NS": int(st.st_mtime_ns)}
    try:
        with open_fits(path, st) as (fits, size):
            index = _hdu_index(fits)
            _check_complete(fits, path, size)
            if "detector_dark" in index:
                return _read_l1b_copies(fits, index, path, stat)
            return _read_l1a(fits, index, path, stat)
    except DarkFileError:
        raise
    except OSError as exc:
        raise DarkFileError(path, f"cannot read file: {exc.strerror or _first_line(exc)}") from None
    except Exception as exc:
        raise DarkFileError(path, f"{type(exc).__name__}: {_first_line(exc)}") from exc


def read_dark(path) -> pd.DataFrame:
    """Read every dark integration in one IUVS file.

    Parameters
    ----------
    path : path-like
        An L1A dark file (``.fits`` or ``.fits.gz``; layouts v01, v02, v13; single frame or
        cube) or an L1B file carrying dark copies (``detector_dark``).

    Returns
    -------
    pandas.DataFrame
        One row per dark integration with the columns of :data:`INTEGRATION_COLUMNS`:
        the dark product (``FILENAME``, ``PRODUCT_ID``, ``INTEGRATION``), its UTC ``Time``,
        channel ``XUV``, ``INT_TIME`` in ms, ``MCP_VOLT`` (V) and ``MCP_GAIN`` (DN),
        temperatures as raw DN (``DET_TEMP_DN``, ``CASE_TEMP_DN``; NaN where the file
        stores degC only) and in degC (``DET_TEMP_C``, ``CASE_TEMP_C``), the binning
        (``SPA_OFS``, ``SPA_SIZE``, ``SPE_OFS``, ``SPE_SIZE``, mean ``PIXELS_PER_BIN`` from
        the Binning table), statistics of the binned values (``dark_mean``, ``dark_median``,
        ``dark_std``, sigma-clipped ``dark_clipped_mean``, ``n_blank`` missing bins), the
        file-name parts and where the row came from (``SOURCE_FILE``, ``SOURCE_KIND``).
        ``NAXIS3`` is NaN where the file has no third axis, as in the seed table.

    Raises
    ------
    DarkFileError
        If the file cannot be opened as FITS or lacks what a dark record needs; the
        message names the file and the problem.

    Examples
    --------
    >>> from pathlib import Path
    >>> real = Path(__file__).parents[2] / "tests" / "data" / "real"  # in a source checkout
    >>> rows = read_dark(sorted(real.glob("*muv*071804*"))[0])  # an L1B file with its dark copies
    >>> row = rows.iloc[0]
    >>> str(row["XUV"]), int(row["INT_TIME"]), str(row["SOURCE_KIND"])
    ('MUV', 400, 'l1b-copy')
    """
    return tabulate(load_products(path))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
