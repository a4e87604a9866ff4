"""Arguments checked before any work: counts, real numbers, header text, outputs, addresses.

Every command of the CLI and every entry point of the Python API checks its arguments
here, before it reads a file or starts a worker, so that a bad argument costs nothing and
ends with one line naming it (scikit-learn's parameter constraints, with
:func:`sklearn.utils.check_scalar` under the numbers).  Outputs are checked the same
way: a known suffix, a folder that exists or can be made and can be written, room on its
disk, not a special file, not a read-only file and not one of the inputs.
"""

from __future__ import annotations

import math
import numbers
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterable, Sequence
from urllib.parse import urlsplit

from sklearn.utils import check_scalar

__all__ = ["check_count", "check_real", "check_header_text", "check_output", "check_output_folder",
           "check_scheduler", "MIN_FREE_BYTES"]

#: Free space an output's disk must have before the work starts (bytes); a write that
#: needs more still fails cleanly (atomic writes) when the disk fills.
MIN_FREE_BYTES = 4 * 2**20

#: Schemes of a Dask scheduler address that reach another process.
SCHEDULER_SCHEMES = ("tcp", "tls", "ws", "wss", "ucx")


def check_count(value, name: str, *, minimum: int = 1, maximum: int | None = None) -> int:
    """An integer in ``[minimum, maximum]``.

    Parameters
    ----------
    value : int
        The argument.
    name : str
        Its name, for the message.
    minimum, maximum : int, optional
        Bounds (inclusive); ``maximum=None``: none.

    Returns
    -------
    int

    Raises
    ------
    ValueError
        If ``value`` is not an integer (a bool is not) or lies outside the bounds.

    Examples
    --------
    >>> check_count(3, "k_max", maximum=10)
    3
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be a whole number, not {value!r}")
    try:
        check_scalar(value, name, numbers.Integral, min_val=minimum, max_val=maximum)
    except (TypeError, ValueError) as exc:
        raise ValueError(str(exc)) from None
    return int(value)


def check_real(value, name: str, *, low: float | None = None, high: float | None = None,
               inclusive: str = "both") -> float:
    """A finite real number in an interval.

    Parameters
    ----------
    value : float
        The argument.
    name : str
        Its name, for the message.
    low, high : float, optional
        Bounds; ``None``: none.
    inclusive : {'both', 'neither', 'left', 'right'}, optional
        Which bounds belong to the interval (as :func:`sklearn.utils.check_scalar`).

    Returns
    -------
    float

    Raises
    ------
    ValueError
        If ``value`` is not a number, is NaN or infinite, or lies outside the interval.

    Examples
    --------
    >>> check_real(0.05, "alpha", low=0, high=1, inclusive="neither")
    0.05
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number, not {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, not {value}")
    try:
        check_scalar(value, name, numbers.Real, min_val=low, max_val=high, include_boundaries=inclusive)
    except (TypeError, ValueError) as exc:
        raise ValueError(str(exc)) from None
    return float(value)


def check_header_text(value: str, name: str, *, max_length: int = 68) -> str:
    """Text a FITS header card can hold: printable ASCII, at most ``max_length`` characters.

    Parameters
    ----------
    value : str
        The text.
    name : str
        Its name, for the message.
    max_length : int, optional
        Longest value (68: one card's string value).

    Returns
    -------
    str

    Raises
    ------
    ValueError
        If the text is empty, too long, or holds a character outside ASCII 32-126 (a
        newline, a tab, an accented letter).

    Examples
    --------
    >>> check_header_text("INFLIGHT 2014-2015", "pedigree")
    'INFLIGHT 2014-2015'
    """
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name} must be non-empty text")
    bad = sorted({c for c in value if not 32 <= ord(c) <= 126})
    if bad:
        raise ValueError(f"{name} must be printable ASCII (a FITS header holds nothing else); it contains "
                         + ", ".join(repr(c) for c in bad))
    if len(value) > max_length:
        raise ValueError(f"{name} is {len(value)} characters; a FITS header card holds at most {max_length}")
    return value


def _existing_ancestor(folder: Path) -> Path:
    """The nearest existing ancestor of ``folder``; refuses a file where a folder is needed."""
    for candidate in (folder, *folder.parents):
        if candidate.exists():
            if not candidate.is_dir():
                raise NotADirectoryError(f"{candidate} is a file, not a folder")
            return candidate
    return Path.cwd()  # pragma: no cover - a relative path always ends at '.'


def _check_writable_folder(folder: Path, need_bytes: int) -> None:
    base = _existing_ancestor(folder)
    try:  # a real probe: permissions, a read-only mount and ACLs all answer here (root too)
        with tempfile.TemporaryFile(dir=base, prefix=".darkmodel-probe-"):
            pass
    except OSError as exc:
        raise PermissionError(f"{base}: cannot write here ({exc.strerror or exc})") from None
    free = shutil.disk_usage(base).free
    if free < need_bytes:
        raise OSError(f"{base}: only {free / 2**20:.1f} MiB free on its disk; at least "
                      f"{need_bytes / 2**20:.0f} MiB needed")


def _not_an_input(path: Path, inputs: Iterable, name: str) -> None:
    for source in inputs:
        if source is not None and _same_file(path, Path(source)):
            raise ValueError(f"{name} {path} is also an input; write elsewhere")


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.realpath(a) == os.path.realpath(b) or (a.exists() and b.exists() and a.samefile(b))
    except OSError:
        return False


def check_output(path, *, suffixes: Sequence[str] | None = None, inputs: Iterable = (),
                 name: str = "output", need_bytes: int = MIN_FREE_BYTES) -> Path:
    """An output file that can be written: checked before the work that produces it.

    Parameters
    ----------
    path : path-like
        The output file.
    suffixes : sequence of str, optional
        The endings a writer knows (e.g. ``(".parquet", ".h5", ".csv")``); ``None``: any.
    inputs : iterable of path-like, optional
        The command's inputs: the output may not be one of them.
    name : str, optional
        What the output is, for the message.
    need_bytes : int, optional
        Free space its disk must have.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    ValueError
        Unknown suffix, or the output is one of the inputs.
    IsADirectoryError, NotADirectoryError, PermissionError, OSError
        A folder where the file should be, a file where a folder should be, a folder or
        read-only file that cannot be written, a special file (FIFO, device), or too
        little room on the disk.
    """
    from .storage import replaceable_mode

    path = Path(path)
    if suffixes is not None and not path.name.lower().endswith(tuple(suffixes)):
        raise ValueError(f"{name} {path}: unknown file type; use a name ending in " + ", ".join(suffixes))
    _not_an_input(path, inputs, name)
    if path.is_symlink() and not path.exists():
        raise OSError(f"{name} {path} is a dangling link; give another name")
    try:  # the rule atomic_write applies: no folder, no special file, no read-only file is replaced
        replaceable_mode(path)
    except OSError as exc:
        raise type(exc)(f"{name} {path} {exc.strerror}") from None
    _check_writable_folder(path.parent, need_bytes)
    return path


def check_output_folder(path, *, inputs: Iterable = (), name: str = "output folder",
                        need_bytes: int = MIN_FREE_BYTES) -> Path:
    """An output folder that exists or can be made, and can be written.

    Parameters
    ----------
    path : path-like
        The folder.
    inputs : iterable of path-like, optional
        Input files, which may not be the folder.
    name : str, optional
        What the folder is, for the message.
    need_bytes : int, optional
        Free space its disk must have.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    ValueError, NotADirectoryError, PermissionError, OSError
        As :func:`check_output`.
    """
    path = Path(path)
    _not_an_input(path, inputs, name)
    if path.exists() and not path.is_dir():
        raise NotADirectoryError(f"{name} {path} is a file, not a folder")
    _check_writable_folder(path, need_bytes)
    return path


def check_scheduler(address: str | None) -> str | None:
    """A Dask scheduler address that names another process: ``tcp://host:port`` and kin.

    Parameters
    ----------
    address : str or None
        The address (``None`` or empty: none).

    Returns
    -------
    str or None

    Raises
    ------
    ValueError
        If the scheme is not one Dask reaches another process by (``inproc://`` lives in
        one process; ``http://`` is a dashboard, not a scheduler) or the port is missing
        or out of range.

    Examples
    --------
    >>> check_scheduler("tcp://10.0.0.2:8786")
    'tcp://10.0.0.2:8786'
    """
    if not address:
        return None
    parts = urlsplit(address if "://" in address else f"tcp://{address}")
    if parts.scheme not in SCHEDULER_SCHEMES:
        raise ValueError(f"scheduler {address!r}: use one of {', '.join(s + '://' for s in SCHEDULER_SCHEMES)} "
                         "and the scheduler's port (8786 by default), not its dashboard")
    try:
        port = parts.port
    except ValueError:
        port = -1
    if not parts.hostname or port is None or not 0 < port < 65536:
        raise ValueError(f"scheduler {address!r}: give a host and a port, e.g. tcp://host:8786")
    return address
