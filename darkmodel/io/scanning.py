"""Scanning an archive of dark files into one summary table.

The work unit is a *batch* of files (:func:`scan_batch`, a plain module-level function
that returns small tables), so the same code runs in-process, on a local process pool,
or on a Dask cluster through ``distributed``'s ``concurrent.futures`` executor.  A file
that cannot be read becomes a row of the errors table and never stops the scan.
"""

from __future__ import annotations

import glob
import logging
import math
import os
import stat
from concurrent.futures import Executor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import pandas as pd

from ..parallel import n_workers, process_pool
from ..validation import N_JOBS, Interval, Options, check_scheduler, validate_arguments
from .read import DarkFileError, load_products, tabulate
from .storage import special_kind

__all__ = ["scan", "scan_batch", "find_files", "display_name", "deduplicate", "per_file_summary", "ScanResult",
           "ERROR_COLUMNS"]

log = logging.getLogger(__name__)

#: Columns of the errors table.
ERROR_COLUMNS = ["file", "reason"]
_FITS_SUFFIXES = (".fits", ".fits.gz", ".fit", ".fit.gz", ".fts", ".fts.gz")


@dataclass
class ScanResult:
    """The outcome of a scan.

    Attributes
    ----------
    table : pandas.DataFrame
        The summary: one row per dark integration (or per file with ``per='file'``).
    errors : pandas.DataFrame
        One row per file (or folder) that could not be read: ``file`` and ``reason``.
    counts : dict
        What happened, for messages: ``files`` (found), ``read`` (read in this run),
        ``products`` (dark products kept), ``integrations`` (rows kept), ``duplicates``
        (copies of a product skipped: L1B copies, older versions), ``errors``; with
        ``previous``: ``new``, ``changed``, ``removed`` and ``unchanged`` files.
    files : pandas.DataFrame
        Every file the summary stands for (``SOURCE_FILE``, ``SOURCE_SIZE``,
        ``SOURCE_MTIME_NS``), also those whose products were all duplicates or that
        could not be read: what ``--update`` compares against.

    Notes
    -----
    A ``ScanResult`` unpacks like a tuple: ``table, errors = scan(paths)``.
    """

    table: pd.DataFrame
    errors: pd.DataFrame
    counts: dict = field(default_factory=dict)
    files: pd.DataFrame | None = None

    def write(self, path) -> Path:
        """Save the summary with its file list, counts and errors in one file (one atomic write).

        The errors are also written beside it as ``<name>.errors.csv`` for reading by eye
        (removed when there are none).

        Parameters
        ----------
        path : path-like
            The summary (.parquet keeps the file list and errors inside; .h5 or .csv do not).

        Returns
        -------
        pathlib.Path
            The errors file's path (whether or not it exists).
        """
        from .storage import errors_path, write_table

        files = self.files.astype({"SOURCE_FILE": str}).to_dict("list") if self.files is not None else None
        write_table(self.table, path, metadata={"files": files, "errors": self.errors.to_dict("list"),
                                                "counts": self.counts})
        err_file = errors_path(path)
        if len(self.errors):
            write_table(self.errors, err_file)
        elif err_file.exists():
            err_file.unlink()
        return err_file

    @classmethod
    def read(cls, path) -> "ScanResult":
        """Read a summary written by :meth:`write` (for ``scan(previous=...)``).

        Parameters
        ----------
        path : path-like
            The summary.

        Returns
        -------
        ScanResult
            Table, errors (from inside the file, else the errors file beside it) and the
            file list where the summary holds one; ``counts`` empty.
        """
        from .storage import errors_path, read_metadata, read_table

        meta = read_metadata(path)
        if meta.get("errors") is not None:
            errors = pd.DataFrame(meta["errors"])
        elif errors_path(path).exists():
            errors = read_table(errors_path(path))
        else:
            errors = pd.DataFrame(columns=ERROR_COLUMNS)
        files = pd.DataFrame(meta["files"]) if meta.get("files") else None
        return cls(read_table(path), errors, {}, files)

    def message(self) -> str:
        """The counts in one line, e.g. ``9 files read: 4 dark products (20 integrations), ...``."""
        c = self.counts
        text = (f"{c.get('read', 0)} files read: {c.get('products', 0)} dark products "
                f"({c.get('integrations', 0)} integrations), {c.get('duplicates', 0)} duplicate copies skipped, "
                f"{c.get('errors', 0)} errors")
        if "unchanged" in c:
            text += (f"; update: {c['new']} new, {c['changed']} changed, {c['removed']} removed, "
                     f"{c['unchanged']} unchanged files")
        return text

    def __iter__(self):
        yield self.table
        yield self.errors

    def __repr__(self) -> str:
        rows, cols = self.table.shape
        return f"<ScanResult: {rows} rows x {cols} columns, {len(self.errors)} unreadable files; {self.message()}>"


def display_name(path) -> str:
    r"""A file name as text any table, log or terminal can hold.

    Names that are not valid UTF-8 (the bytes Python keeps as surrogates) show their odd
    bytes as ``\xNN``; every other name is itself.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    str

    Examples
    --------
    >>> display_name(b"/data/caf\xe9.fits".decode("utf-8", "surrogateescape"))
    '/data/caf\\xe9.fits'
    """
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def _entry_problem(path: str) -> str | None:
    """Why a matching directory entry cannot be read as a file (``None``: it can).

    Special files are never opened: a FIFO would block, a device never end.
    """
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return "dangling symbolic link (its target does not exist)" if os.path.islink(path) else "vanished"
    except OSError as exc:
        return f"cannot access file: {exc.strerror or exc}"
    if stat.S_ISREG(st.st_mode):
        return None
    via = " (through a symbolic link)" if os.path.islink(path) else ""
    return f"is {special_kind(st.st_mode)}{via}, not a regular file"


def find_files(paths: Iterable, errors: list | None = None) -> list[str]:
    """Expand folders, glob patterns and file names into a sorted list of FITS files.

    Parameters
    ----------
    paths : iterable of str or path-like
        Folders (searched recursively for ``.fits``/``.fits.gz``, skipping hidden files
        such as partial writes, and following symbolic links to folders, each folder
        once), glob patterns (``**`` allowed) or files.  A file named explicitly is kept
        whatever its suffix.
    errors : list, optional
        Receives ``{"file": entry, "reason": ...}`` for every folder that cannot be listed,
        every link that loops back to a folder already searched, and every matching entry
        that is not a regular file (FIFO, socket, device, dangling link), named as the
        archive names it (not its link target) in :func:`display_name` form.

    Returns
    -------
    list of str
        Canonical paths (absolute, symbolic links resolved: one identity per file),
        sorted and without duplicates.

    Raises
    ------
    FileNotFoundError
        If a path is neither an existing file or folder nor a pattern that matches.
    """
    found: set[str] = set()
    sink = errors if errors is not None else []

    def report(entry, reason):
        log.warning("skipped %r: %s", display_name(entry), reason)
        sink.append({"file": display_name(os.path.abspath(entry)), "reason": reason})

    def consider(entry):
        problem = _entry_problem(entry)
        if problem is None:
            found.add(entry)
        else:
            report(entry, problem)

    for entry in paths:
        entry = os.fspath(entry)
        if os.path.isdir(entry):
            seen = set()

            def unreadable(exc):
                report(exc.filename, f"cannot list folder: {exc.strerror or exc}")

            for root, dirs, names in os.walk(entry, onerror=unreadable, followlinks=True):
                st = os.stat(root)
                if (st.st_dev, st.st_ino) in seen:  # a link back to a folder already searched
                    report(root, "symbolic link loops back to a folder already searched; not searched again")
                    dirs[:] = []
                    continue
                seen.add((st.st_dev, st.st_ino))
                for name in names:
                    if name.lower().endswith(_FITS_SUFFIXES) and not name.startswith("."):
                        consider(os.path.join(root, name))
        elif os.path.exists(entry) or os.path.islink(entry):
            consider(entry)
        else:
            matches = glob.glob(entry, recursive=True)
            if not matches:
                raise FileNotFoundError(f"{display_name(entry)}: no such file or folder, and no file matches it "
                                        "as a pattern")
            for match in matches:
                if not os.path.isdir(match):
                    consider(match)
    return sorted({os.path.realpath(p) for p in found})


def scan_batch(paths: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read a batch of files: the unit of work sent to a worker.

    Parameters
    ----------
    paths : list of str
        Files to read.

    Returns
    -------
    table : pandas.DataFrame
        One row per dark integration of the files that could be read.
    errors : pandas.DataFrame
        ``file`` and ``reason`` for each file that could not.
    """
    products, errors = [], []
    for path in paths:
        try:
            products.extend(load_products(path))
        except DarkFileError as exc:
            errors.append({"file": exc.path, "reason": exc.reason})
        except Exception as exc:  # a reader bug must not lose the rest of the batch
            errors.append({"file": display_name(path), "reason": f"unexpected {type(exc).__name__}: {exc}"})
    try:
        table = tabulate(products)
    except Exception as exc:  # isolate the product that breaks the batch, keep the others
        log.debug("batch tabulation failed (%s); tabulating file by file", exc)
        parts = []
        for source in dict.fromkeys(p.columns["SOURCE_FILE"] for p in products):
            mine = [p for p in products if p.columns["SOURCE_FILE"] == source]
            try:
                parts.append(tabulate(mine))
            except Exception as inner:
                errors.append({"file": source, "reason": f"cannot summarise: {type(inner).__name__}: {inner}"})
        table = pd.concat(parts, ignore_index=True) if parts else tabulate([])
    return table, pd.DataFrame(errors, columns=ERROR_COLUMNS)


def _batches(items: list[str], size: int) -> list[list[str]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


#: Seconds a Dask scheduler has to answer the handshake.
SCHEDULER_DEADLINE = 20.0


def _connect(client_class, address: str, deadline: float):
    """``client_class(address)`` within ``deadline`` seconds, on a daemon thread.

    A port that accepts a connection but never speaks Dask (an HTTP server, a dashboard)
    would otherwise hold the handshake for minutes.
    """
    import threading

    box: dict = {}

    def connect():
        try:
            box["client"] = client_class(address, timeout=f"{deadline / 2:g}s")
        except BaseException as exc:  # handed to the caller
            box["error"] = exc

    thread = threading.Thread(target=connect, name="darkmodel-dask-connect", daemon=True)
    thread.start()
    thread.join(deadline)
    if thread.is_alive():
        raise TimeoutError(f"no Dask handshake within {deadline:g} s: is this a scheduler's port?")
    if "error" in box:
        raise box["error"]
    return box["client"]


def _executor_for(workers: int | None, scheduler: str | None):
    """Return ``(executor, owned, cleanup)`` for the requested back end."""
    if scheduler:
        try:
            from distributed import Client
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError("a Dask scheduler needs the 'dask' extra: pip install 'darkmodel[dask]'") from exc
        try:
            client = _connect(Client, scheduler, deadline=SCHEDULER_DEADLINE)
        except Exception as exc:  # refused, timed out, or not a scheduler (an HTTP port answers garbage)
            raise ConnectionError(f"cannot reach the Dask scheduler at {scheduler} ({type(exc).__name__}: "
                                  f"{str(exc).splitlines()[0] if str(exc) else 'timed out'}); unset "
                                  "DASK_SCHEDULER_ADDRESS or pass --workers to scan here") from None
        return client.get_executor(pure=False), True, client.close
    pool = process_pool(n_workers(workers))
    return pool, True, lambda: None


@validate_arguments({"n_jobs": N_JOBS, "batch_size": [None, Interval("int", 1, None)],
                     "per": [Options(("integration", "file"))]})
def scan(
    paths,
    *,
    n_jobs: int | None = None,
    executor: Executor | None = None,
    scheduler: str | None = None,
    batch_size: int | None = None,
    per: str = "integration",
    previous: pd.DataFrame | None = None,
    progress: Callable[[int], None] | None = None,
) -> ScanResult:
    """Scan dark files into a summary table, in parallel, without losing good data.

    Parameters
    ----------
    paths : str, path-like or iterable of them
        Folders, glob patterns or files (see :func:`find_files`).
    n_jobs : int, optional
        Worker processes for the local pool (scikit-learn's convention): ``None`` or ``1``
        reads in this process (deterministic, easy to debug), ``-1`` uses all cores (more
        are capped at the cores).
    executor : concurrent.futures.Executor, optional
        Run the batches on this executor instead (e.g. ``Client.get_executor()``).
    scheduler : str, optional
        Address of a running Dask scheduler (``tcp://host:8786``); the batches run on its
        workers through ``distributed``.
    batch_size : int, optional
        Files per task (at least 1); default: enough batches to keep every worker busy,
        at most 200 files each.
    per : {'integration', 'file'}, optional
        One row per dark integration, or one per file in the seed notebook's format
        (see :func:`per_file_summary`).
    previous : ScanResult or pandas.DataFrame, optional
        An earlier per-integration scan: files whose size and modification time are
        unchanged are not read again, and rows of files that are gone are dropped
        (``darkmodel scan --update``).  A :class:`ScanResult` also knows the files that
        gave no row (all duplicates, unreadable); with a bare table those are re-read.
    progress : callable, optional
        Called with the number of files finished after each batch (the CLI wires a
        progress bar to it).

    Returns
    -------
    ScanResult
        ``table`` (sorted by ``Time``, ``FILENAME``, ``INTEGRATION``; each dark product
        kept once, see :func:`deduplicate`) and ``errors``.

    Raises
    ------
    ValueError
        A bad argument (``n_jobs`` 0 or below -1, ``batch_size`` below 1, a scheduler
        address that names no scheduler), before any file is read.
    FileNotFoundError
        If a path is neither a file, nor a folder, nor a pattern that matches.
    ConnectionError
        If the Dask scheduler cannot be reached.

    Examples
    --------
    >>> from pathlib import Path
    >>> real = Path(__file__).parents[2] / "tests" / "data" / "real"  # in a source checkout
    >>> result = scan(real, n_jobs=1)
    >>> result.message()
    '9 files read: 4 dark products (20 integrations), 14 duplicate copies skipped, 0 errors'
    """
    n_workers_ = n_workers(n_jobs, default_all=False)  # checked before any file is read (and the table above)
    check_scheduler(scheduler)
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    folder_errors: list = []
    files = find_files(paths, errors=folder_errors)
    inventory = _inventory(files)
    counts = {"files": len(files)}
    kept = tabulate([])
    if previous is not None:
        raw = {display_name(f): f for f in files}  # the tables hold display names; files are opened by their own
        files, kept, still, update = _plan_update(inventory, previous)
        files = [raw.get(f, f) for f in files]
        counts.update(update)
        if isinstance(previous, ScanResult) and len(previous.errors):  # unchanged unreadable files stay listed
            old = previous.errors
            folder_errors += old[old["file"].isin(still["SOURCE_FILE"])].to_dict("records")
    counts["read"] = len(files)
    if batch_size is None:
        batch_size = max(1, min(200, math.ceil(len(files) / (4 * n_workers_))))
    batches = _batches(files, batch_size)
    in_process = executor is None and not scheduler and (n_workers_ == 1 or len(batches) <= 1)
    tables, errors = (_read_here(batches, progress) if in_process
                      else _read_in_pool(batches, executor, n_jobs, scheduler, progress))
    return _assemble([kept, *tables], [pd.DataFrame(folder_errors, columns=ERROR_COLUMNS), *errors], counts,
                     inventory, per)


def _read_here(batches: list, progress) -> tuple[list, list]:
    """Every batch read in this process: the tables and the error tables."""
    tables, errors = [], []
    for batch in batches:
        table, err = scan_batch(batch)
        tables.append(table)
        errors.append(err)
        if progress:
            progress(len(batch))
    return tables, errors


def _read_in_pool(batches: list, executor, n_jobs, scheduler, progress) -> tuple[list, list]:
    """Every batch read by workers (a local pool, a Dask scheduler or the caller's executor).

    A worker that dies costs only its batch, reported file by file; an interrupt ends the
    workers at once, not after their batches.
    """
    tables, errors = [], []
    own, cleanup = None, None
    if executor is None:
        executor, _, cleanup = _executor_for(n_jobs, scheduler)
        own = executor
    try:
        futures = {executor.submit(scan_batch, batch): batch for batch in batches}
        for future in as_completed(futures):
            batch = futures[future]
            try:
                table, err = future.result()
            except Exception as exc:  # a worker died: report its files, keep the rest
                log.error("a worker failed on %d files: %s", len(batch), exc)
                table = None
                err = pd.DataFrame({"file": batch, "reason": f"worker failed: {type(exc).__name__}: {exc}"})
            if table is not None:
                tables.append(table)
            errors.append(err)
            if progress:
                progress(len(batch))
    except BaseException:  # an interrupt: end the workers now, not after their batches
        if own is not None and hasattr(own, "terminate"):
            own.terminate()
        raise
    finally:
        if own is not None:
            own.shutdown(wait=True)
        if cleanup is not None:
            cleanup()
    return tables, errors


def _assemble(tables: list, errors: list, counts: dict, inventory: pd.DataFrame, per: str) -> "ScanResult":
    """One table from the batches' (each dark product once), the errors sorted and logged, the counts."""
    errors_df = pd.concat(errors, ignore_index=True) if errors else pd.DataFrame(columns=ERROR_COLUMNS)
    errors_df = errors_df.sort_values("file", kind="stable").reset_index(drop=True)
    for row in errors_df.itertuples(index=False):
        log.warning("skipped %r: %s", row.file, row.reason)  # repr: a newline in a name cannot forge a line
    parts = [t for t in tables if len(t)]
    table = pd.concat(parts, ignore_index=True) if parts else tabulate([])
    copies = table[["SOURCE_FILE", "PRODUCT_ID"]].drop_duplicates() if len(table) else table
    table = deduplicate(table)
    products = table[["SOURCE_FILE", "PRODUCT_ID"]].drop_duplicates() if len(table) else table
    counts.update(products=len(products), integrations=len(table), duplicates=len(copies) - len(products),
                  errors=len(errors_df))
    if per == "file":
        table = per_file_summary(table)
    return ScanResult(table, errors_df, counts, inventory)


def _inventory(files: list[str]) -> pd.DataFrame:
    """Size and modification time of each file (a file that vanished in between is left out)."""
    rows = []
    for f in files:
        try:
            st = os.stat(f)
        except OSError:
            continue
        rows.append((display_name(f), st.st_size, st.st_mtime_ns))
    return pd.DataFrame(rows, columns=list(_IDENTITY)).astype({"SOURCE_SIZE": np.int64, "SOURCE_MTIME_NS": np.int64})


_IDENTITY = ("SOURCE_FILE", "SOURCE_SIZE", "SOURCE_MTIME_NS")


def _plan_update(current: pd.DataFrame, previous) -> tuple[list[str], pd.DataFrame, pd.DataFrame, dict]:
    """Split files into those to (re)read and the previous rows that stay valid.

    Files are identified by their canonical path (see :func:`find_files`) with size and
    modification time; rows of files that are gone (deleted, moved, renamed) are dropped.
    ``previous`` is a :class:`ScanResult` (its ``files`` list every file it stands for) or
    a bare summary table (then only the files with rows are known).
    """
    table = previous.table if isinstance(previous, ScanResult) else previous
    if {"DN_per_s", "exclusion"} & set(table.columns):
        raise ValueError("--update needs the scan's own summary; this is a calibrated table (it has "
                         "DN_per_s): scan into another file, then calibrate that")
    if not set(_IDENTITY) <= set(table.columns):
        raise ValueError("--update needs a per-integration summary from darkmodel scan "
                         f"(missing columns {sorted(set(_IDENTITY) - set(table.columns))})")
    known = previous.files if isinstance(previous, ScanResult) and previous.files is not None else None
    if known is None or not len(known):
        known = table[list(_IDENTITY)]
    known = known.assign(SOURCE_FILE=[os.path.realpath(p) for p in known["SOURCE_FILE"].astype(str)])
    known = known.drop_duplicates("SOURCE_FILE")
    table = table.assign(SOURCE_FILE=[os.path.realpath(p) for p in table["SOURCE_FILE"].astype(str)])
    merged = current.merge(known, on="SOURCE_FILE", how="left", suffixes=("", "_old"))
    seen = merged["SOURCE_SIZE_old"].notna()
    unchanged = seen & (merged["SOURCE_SIZE"] == merged["SOURCE_SIZE_old"]) & (
        merged["SOURCE_MTIME_NS"] == merged["SOURCE_MTIME_NS_old"])
    to_read = merged.loc[~unchanged, "SOURCE_FILE"].tolist()
    kept = table[table["SOURCE_FILE"].isin(merged.loc[unchanged, "SOURCE_FILE"])]
    counts = {"new": int((~seen).sum()), "changed": int((seen & ~unchanged).sum()),
              "removed": int((~known["SOURCE_FILE"].isin(current["SOURCE_FILE"])).sum()),
              "unchanged": int(unchanged.sum())}
    log.info("update: %(new)d new, %(changed)d changed, %(removed)d removed, %(unchanged)d unchanged files", counts)
    return to_read, kept, current[unchanged.to_numpy()], counts


def deduplicate(table: pd.DataFrame) -> pd.DataFrame:
    """Keep each dark product once, choosing the current version and the original file.

    The same dark product can be seen several times: as copies inside L1B files, and as
    older versions or stage revisions.  Products are grouped by their name without
    version and revision; the LASP rule picks the version (highest version, then
    production ``r`` over stage ``s``, then highest revision), and among copies of that
    version the L1A file is preferred over an L1B copy (then the first path).

    Parameters
    ----------
    table : pandas.DataFrame
        A per-integration table from :func:`darkmodel.read_dark` or :func:`scan`.

    Returns
    -------
    pandas.DataFrame
        The rows of the chosen copy of every product, sorted by ``Time``, ``FILENAME``
        and ``INTEGRATION``, with a fresh index.
    """
    if not len(table):
        return table.reset_index(drop=True)
    pid = table["PRODUCT_ID"].astype(str)
    versioned = table["VERSION"].notna()
    key = pid.where(~versioned, pid.str.slice(0, -8))
    ranks = pd.DataFrame({
        "key": key, "PRODUCT_ID": pid, "SOURCE_FILE": table["SOURCE_FILE"],
        "v": table["VERSION"].fillna(-1), "p": table["PRODUCTION"].astype(int),
        "r": table["REVISION"].fillna(-1), "copy": (table["SOURCE_KIND"] != "l1a").astype(int),
    })
    best = (ranks.sort_values(["key", "v", "p", "r", "copy", "SOURCE_FILE"],
                              ascending=[True, False, False, False, True, True], kind="stable")
            .drop_duplicates("key")[["key", "PRODUCT_ID", "SOURCE_FILE"]])
    chosen = ranks[["key", "PRODUCT_ID", "SOURCE_FILE"]].merge(best, how="left", on="key", suffixes=("", "_best"))
    keep = ((chosen["PRODUCT_ID"] == chosen["PRODUCT_ID_best"]) &
            (chosen["SOURCE_FILE"] == chosen["SOURCE_FILE_best"])).to_numpy()
    out = table[keep]
    return out.sort_values(["Time", "FILENAME", "INTEGRATION"], kind="stable").reset_index(drop=True)


#: Per-file columns that are the same for every integration of a product.
_FILE_FIRST = ["XUV", "INT_TIME", "MCP_VOLT", "MCP_GAIN", "NAXIS1", "NAXIS2", "NAXIS3", "N_INT",
               "SPE_OFS", "SPE_SIZE", "SPA_OFS", "SPA_SIZE", "PIXELS_PER_BIN", "BIN_TBL", "MIR_DEG", "SEGMENT",
               "ORBIT", "VERSION", "PRODUCTION", "REVISION", "LAYOUT", "SOURCE_KIND", "SOURCE_FILE",
               "SOURCE_SIZE", "SOURCE_MTIME_NS"]


def per_file_summary(table: pd.DataFrame) -> pd.DataFrame:
    """One row per dark file, in the seed notebook's format.

    Parameters
    ----------
    table : pandas.DataFrame
        A per-integration table.

    Returns
    -------
    pandas.DataFrame
        Columns ``FILENAME``, ``Time`` (first integration), the file's constant keys
        (``XUV``, ``INT_TIME`` in ms, ``MCP_VOLT``, ``NAXIS1..3``, ``SPE_SIZE``,
        ``SPA_SIZE``, ...), ``DET_TEMP`` and ``CASE_TEMP`` as the seed had them (raw DN,
        mean over integrations; NaN where the file stores degC only), their degC means
        ``DET_TEMP_C``/``CASE_TEMP_C``, ``dark_mean`` (mean of every valid binned value in
        the file, as the seed computed it), ``dark_clipped_mean`` (the integrations'
        clipped means, weighted by valid bins), and ``n_blank``.
    """
    if not len(table):
        cols = ["FILENAME", "Time", *_FILE_FIRST, "DET_TEMP", "CASE_TEMP", "DET_TEMP_C", "CASE_TEMP_C",
                "dark_mean", "dark_clipped_mean", "n_blank"]
        return pd.DataFrame(columns=cols)
    valid = (table["n_bins"] - table["n_blank"]).astype(float)
    work = table.assign(_w=valid, _sum=table["dark_mean"].fillna(0) * valid,
                        _csum=table["dark_clipped_mean"].fillna(0) * valid)
    grouped = work.groupby("FILENAME", sort=False)
    first = grouped[["Time", *_FILE_FIRST]].first()
    means = grouped[["DET_TEMP_DN", "CASE_TEMP_DN", "DET_TEMP_C", "CASE_TEMP_C"]].mean()
    sums = grouped[["_w", "_sum", "_csum", "n_blank"]].sum()
    weight = sums["_w"].where(sums["_w"] > 0)
    out = first.assign(
        DET_TEMP=means["DET_TEMP_DN"], CASE_TEMP=means["CASE_TEMP_DN"],
        DET_TEMP_C=means["DET_TEMP_C"], CASE_TEMP_C=means["CASE_TEMP_C"],
        dark_mean=sums["_sum"] / weight, dark_clipped_mean=sums["_csum"] / weight,
        n_blank=sums["n_blank"].astype(np.int64),
    ).reset_index()
    return out.sort_values(["Time", "FILENAME"], kind="stable").reset_index(drop=True)
