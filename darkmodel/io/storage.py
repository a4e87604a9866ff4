"""Reading and writing summary tables: Parquet by default, the seed's HDF5, CSV.

Every write is atomic: the table goes to a temporary file in the target folder, which is
then renamed over the target, so a crash never leaves a half-written summary behind.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import stat
import tempfile
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from ..exceptions import FileChangedError, OutputLockedError

__all__ = ["staged_folder", "special_kind",
           "read_table", "write_table", "errors_path", "table_format", "atomic_write", "file_stamp", "FileChangedError",
           "replaceable_mode"]

_FORMATS = {".parquet": "parquet", ".pq": "parquet", ".h5": "hdf5", ".hdf5": "hdf5", ".hdf": "hdf5",
            ".csv": "csv"}


def table_format(path) -> str:
    """The storage format implied by a file name.

    Parameters
    ----------
    path : path-like
        A file name ending in ``.parquet``/``.pq``, ``.h5``/``.hdf5``/``.hdf`` or ``.csv``.

    Returns
    -------
    str
        ``'parquet'``, ``'hdf5'`` or ``'csv'``.

    Raises
    ------
    ValueError
        For any other suffix.
    """
    suffix = Path(path).suffix.lower()
    try:
        return _FORMATS[suffix]
    except KeyError:
        raise ValueError(f"{path}: unknown table format {suffix!r}; use .parquet, .h5 or .csv") from None


def errors_path(path) -> Path:
    """Where the errors table of a summary is written: ``<name>.errors.csv`` beside it.

    Parameters
    ----------
    path : path-like
        The summary file.

    Returns
    -------
    pathlib.Path
        The errors file.
    """
    path = Path(path)
    return path.with_name(path.name.rsplit(".", 1)[0] + ".errors.csv")




def file_stamp(path) -> tuple | None:
    """What identifies a file's current content cheaply: device, inode, size and mtime.

    Parameters
    ----------
    path : path-like
        A file.

    Returns
    -------
    tuple or None
        ``(st_dev, st_ino, st_size, st_mtime_ns)``; ``None`` if there is no such file.
    """
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


@contextmanager
def atomic_write(path, *, unchanged_since: tuple | None = None):
    """Write a file atomically: yield a temporary path beside ``path``, then rename it over.

    If the block raises, the temporary file is removed and ``path`` is left as it was.
    A new file gets the usual permissions (``0o666`` minus the umask), not the private
    ones of a temporary file; a file that is replaced keeps its own.  A read-only file
    (no write permission bit, whoever runs this) is never replaced: that is refused
    before anything is written.

    Parameters
    ----------
    path : path-like
        The file to write.
    unchanged_since : tuple, optional
        A :func:`file_stamp` taken when ``path`` was read: if the file has changed since
        (another process rewrote it), it is not replaced and :class:`FileChangedError` is
        raised.

    Yields
    ------
    pathlib.Path
        The temporary file to write to (same folder, same suffix).
    """
    path = Path(path)
    mode = replaceable_mode(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp" + path.suffix)
    os.close(fd)
    try:
        yield Path(tmp)
        if mode is None:
            mode = 0o666 & ~_current_umask()
        os.chmod(tmp, mode)
        replaceable_mode(path)  # made read-only while we wrote: still not replaced
        if unchanged_since is not None and file_stamp(path) != unchanged_since:
            raise FileChangedError(errno.EBUSY, "changed since it was read; not replaced", str(path))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def special_kind(mode: int) -> str:
    """What a file that is not a regular file is, in words (``'a FIFO'``, ``'a socket'``, ...).

    Parameters
    ----------
    mode : int
        ``st_mode`` from :func:`os.stat` or :func:`os.lstat`.

    Returns
    -------
    str

    Examples
    --------
    >>> import stat
    >>> special_kind(stat.S_IFIFO)
    'a FIFO (named pipe)'
    """
    kinds = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
             (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
             (stat.S_ISBLK, "a block device"), (stat.S_ISLNK, "a symbolic link"),
             (stat.S_ISREG, "a regular file"))
    return next((text for test, text in kinds if test(mode)), "a special file")


def replaceable_mode(path) -> int | None:
    """The permission bits of a file :func:`atomic_write` may replace; refuses a read-only one.

    Parameters
    ----------
    path : path-like
        The file to be replaced.

    Returns
    -------
    int or None
        The mode bits of an existing regular file (kept by the replacement), ``None`` where
        there is none.

    Raises
    ------
    PermissionError
        If the file has no write permission bit (whoever runs this, root included).
    IsADirectoryError, OSError
        If ``path`` is a folder or a special file (a device, a FIFO): never replaced by a
        rename (as root, that would replace ``/dev/null``).
    """
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    if stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(errno.EISDIR, "is a folder; give a file name", str(path))
    if not stat.S_ISREG(st.st_mode):
        raise OSError(errno.EINVAL, f"is {special_kind(st.st_mode)}, not a regular file; not replaced", str(path))
    mode = stat.S_IMODE(st.st_mode)
    if not mode & 0o222:
        raise PermissionError(errno.EACCES, "is read-only; not replaced (make it writable or write elsewhere)",
                              str(path))
    return mode


def _hdf5_module():
    try:
        import tables  # noqa: F401  (PyTables, pandas' HDF5 engine)
    except ImportError as exc:
        raise ImportError("HDF5 tables need PyTables: pip install 'darkmodel[hdf5]'") from exc


def read_table(path, key: str = "df") -> pd.DataFrame:
    """Read a summary table.

    Parameters
    ----------
    path : path-like
        A Parquet, HDF5 (the seed's ``pd.read_hdf(path, 'df')``) or CSV file.
    key : str, optional
        The HDF5 key.

    Returns
    -------
    pandas.DataFrame
        The table.  A seed HDF5 table keeps its index (``Time`` after calibration).

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If the suffix names no known format, or an HDF5 file holds no table under ``key``.
    """
    path = Path(path)
    fmt = table_format(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such summary table")
    if fmt == "parquet":
        return pd.read_parquet(path)
    if fmt == "hdf5":
        _hdf5_module()
        with pd.HDFStore(path, mode="r") as store:
            keys = [k.lstrip("/") for k in store.keys()]
        if key not in keys:
            raise ValueError(f"{path}: no table under the HDF5 key {key!r}; the file holds "
                             f"{', '.join(map(repr, keys)) or 'no table'} (darkmodel reads the seed's key 'df')")
        return pd.read_hdf(path, key)
    return pd.read_csv(path)


def write_table(table: pd.DataFrame, path, key: str = "df", metadata: dict | None = None) -> Path:
    """Write a summary table atomically.

    Parameters
    ----------
    table : pandas.DataFrame
        The table.
    path : path-like
        Target file; the suffix chooses Parquet, HDF5 (key ``key``) or CSV.
    key : str, optional
        The HDF5 key (``'df'`` as in the seed notebook).
    metadata : dict, optional
        JSON-able data stored with a Parquet table (:func:`read_metadata`), in the same
        file and so in the same atomic write; ignored by the other formats.

    Returns
    -------
    pathlib.Path
        The written file.
    """
    path = Path(path)
    fmt = table_format(path)
    if fmt == "hdf5":
        _hdf5_module()
    with atomic_write(path) as tmp:
        if fmt == "parquet" and metadata is not None:
            import pyarrow as pa
            import pyarrow.parquet as pq

            arrow = pa.Table.from_pandas(table)
            meta = {**(arrow.schema.metadata or {}), _META_KEY: json.dumps(metadata).encode()}
            pq.write_table(arrow.replace_schema_metadata(meta), tmp)
        elif fmt == "parquet":
            table.to_parquet(tmp)
        elif fmt == "hdf5":
            table.to_hdf(tmp, key=key, mode="w")
        else:
            csv_safe(table).to_csv(tmp, index=False)
    return path


def csv_safe(table: pd.DataFrame) -> pd.DataFrame:
    """Text cells that a spreadsheet would run as a formula (``=``, ``+``, ``-``, ``@``, tab,
    carriage return first), prefixed with ``'`` (OWASP's CSV-injection rule).

    Parameters
    ----------
    table : pandas.DataFrame

    Returns
    -------
    pandas.DataFrame
        A copy where needed; numbers are untouched.

    Examples
    --------
    >>> csv_safe(pd.DataFrame({"file": ["=cmd|calc", "ok"], "n": [-1, 2]}))["file"].tolist()
    ["'=cmd|calc", 'ok']
    """
    fixed = {}
    for col in table.columns:
        if pd.api.types.is_object_dtype(table[col]) or pd.api.types.is_string_dtype(table[col]):
            text = table[col].astype("string")
            risky = text.str.match(r"[=+\-@\t\r]").fillna(False).to_numpy(bool)
            if risky.any():
                fixed[col] = table[col].where(~risky, "'" + text)
    return table.assign(**fixed) if fixed else table


_META_KEY = b"darkmodel"


def read_metadata(path) -> dict:
    """The ``metadata`` that :func:`write_table` stored with a Parquet table.

    Parameters
    ----------
    path : path-like
        A table file.

    Returns
    -------
    dict
        The stored data; empty for other formats or a table written without it.
    """
    if table_format(path) != "parquet" or not Path(path).exists():
        return {}
    import pyarrow.parquet as pq

    meta = pq.read_schema(path).metadata or {}
    return json.loads(meta[_META_KEY]) if _META_KEY in meta else {}




@contextmanager
def output_lock(path):
    """Hold ``<path>.lock`` while writing ``path``; clean up what a killed writer left.

    The lock file holds the writer's process id.  A lock whose process is gone is stale
    and taken over; so are the hidden temporary files of :func:`atomic_write` for ``path``
    (a writer killed mid-write leaves them behind).

    Parameters
    ----------
    path : path-like
        The output file.

    Raises
    ------
    OutputLockedError
        If a live process holds the lock.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = path.with_name(path.name + ".lock")
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            break
        except FileExistsError:
            try:
                pid = int(lock.read_text().strip() or 0)
            except (OSError, ValueError):
                pid = 0
            if pid and _alive(pid):
                raise OutputLockedError(f"{path}: another darkmodel process (pid {pid}) is writing it; "
                                        f"wait for it, or remove {lock} if it is gone") from None
            lock.unlink(missing_ok=True)  # stale: its writer died
    else:  # pragma: no cover - lost a race twice
        raise OutputLockedError(f"{path}: could not take the lock {lock}")
    try:
        os.write(fd, str(os.getpid()).encode())
        os.close(fd)
        for stale in path.parent.glob(f".{path.name}.*.tmp*"):
            stale.unlink(missing_ok=True)
        yield path
    finally:
        lock.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextmanager
def staged_folder(target):
    """Yield an empty staging folder beside ``target``; swap it in for ``target`` if the block succeeds.

    The staging folder lives in ``target``'s parent (one file system, so the swap is two
    renames); if the block raises, it is removed and ``target`` is untouched.  An earlier
    ``target`` is moved aside, replaced, then removed.

    Parameters
    ----------
    target : path-like
        The folder to (re)place.

    Yields
    ------
    pathlib.Path
        The staging folder to write into.
    """
    target = Path(target)
    parent = target.parent
    parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(dir=parent, prefix=f".{target.name}.staging-"))
    try:
        yield stage
        os.chmod(stage, 0o777 & ~_current_umask())
        old = None
        if target.exists():
            old = Path(tempfile.mkdtemp(dir=parent, prefix=f".{target.name}.old-"))
            os.rename(target, old / "previous")
        try:
            os.rename(stage, target)
        except BaseException:
            if old is not None:
                os.rename(old / "previous", target)
            raise
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if stage.exists():
            shutil.rmtree(stage, ignore_errors=True)


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
