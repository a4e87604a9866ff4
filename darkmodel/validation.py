"""Arguments checked before any work: counts, real numbers, header text, scheduler addresses.

Every command of the CLI and every entry point of the Python API checks its arguments
here, before it reads a file or starts a worker, so that a bad argument costs nothing and
ends with one line naming it (scikit-learn's parameter constraints, with
:func:`sklearn.utils.check_scalar` under the numbers).  Outputs are checked the same way
in :mod:`darkmodel.io.outputs`.
"""

from __future__ import annotations

import math
import numbers
from urllib.parse import urlsplit

from sklearn.utils import check_scalar

__all__ = ["check_count", "check_real", "check_header_text", "check_scheduler"]

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
