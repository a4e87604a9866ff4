"""Arguments checked before any work: counts, real numbers, header text, scheduler addresses.

Every command of the CLI and every entry point of the Python API checks its arguments
here, before it reads a file or starts a worker, so that a bad argument costs nothing and
ends with one line naming it (scikit-learn's parameter constraints, with
:func:`sklearn.utils.check_scalar` under the numbers).  Outputs are checked the same way
in :mod:`darkmodel.io.outputs`.
"""

from __future__ import annotations

import functools
import inspect
import math
import numbers
from dataclasses import dataclass
from typing import Callable
from urllib.parse import urlsplit

import numpy as np
from sklearn.utils import check_scalar

__all__ = ["check_count", "check_real", "check_header_text", "check_scheduler", "Interval", "Options", "check_parameters",
           "validate_arguments", "RANDOM_STATE", "N_JOBS"]

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


# ------------------------------------------------------------------ parameter constraints
@dataclass(frozen=True)
class Interval:
    """Numbers of one kind in an interval: a constraint of a parameter table.

    Parameters
    ----------
    kind : {'int', 'real'}
        Whole numbers (a bool is not one) or finite real numbers.
    low, high : float, optional
        Bounds; ``None``: none.
    closed : {'both', 'left', 'right', 'neither'}, optional
        Which bounds belong to the interval.

    Examples
    --------
    >>> 0.05 in Interval("real", 0, 1, closed="neither"), 1 in Interval("real", 0, 1, closed="neither")
    (True, False)
    >>> str(Interval("int", 1, None))
    'a whole number in [1, inf)'
    """

    kind: str
    low: float | None = None
    high: float | None = None
    closed: str = "both"

    def __contains__(self, value) -> bool:
        if isinstance(value, bool) or not isinstance(value, numbers.Integral if self.kind == "int" else numbers.Real):
            return False
        if not math.isfinite(value):
            return False
        v = float(value)
        low_ok = self.low is None or (v >= self.low if self.closed in ("both", "left") else v > self.low)
        high_ok = self.high is None or (v <= self.high if self.closed in ("both", "right") else v < self.high)
        return low_ok and high_ok

    def __str__(self) -> str:
        left = "[" if self.closed in ("both", "left") and self.low is not None else "("
        right = "]" if self.closed in ("both", "right") and self.high is not None else ")"
        low = "-inf" if self.low is None else f"{self.low:g}"
        high = "inf" if self.high is None else f"{self.high:g}"
        return f"{'a whole number' if self.kind == 'int' else 'a finite number'} in {left}{low}, {high}{right}"


@dataclass(frozen=True)
class Options:
    """One of a few values (compared with ``==``, so ``True`` and ``1`` are kept apart by type).

    Parameters
    ----------
    values : tuple
        The allowed values.

    Examples
    --------
    >>> "gmm" in Options(("mixreg", "gmm")), str(Options((-1,)))
    (True, '-1')
    """

    values: tuple

    def __contains__(self, value) -> bool:
        return any(type(value) is type(v) and value == v for v in self.values) or (
            isinstance(value, numbers.Integral) and not isinstance(value, bool)
            and any(isinstance(v, int) and not isinstance(v, bool) and value == v for v in self.values))

    def __str__(self) -> str:
        return " or ".join(repr(v) for v in self.values)


#: ``random_state``: a whole number >= 0 (every stream of the work is spawned from it).
RANDOM_STATE: list = [Interval("int", 0, None)]
#: ``n_jobs`` in scikit-learn's convention: ``None`` one process, ``-1`` all cores, or a count.
N_JOBS: list = [None, Options((-1,)), Interval("int", 1, None)]


def _allowed(value, constraint) -> bool:
    if constraint is None:
        return value is None
    if constraint is bool:
        return isinstance(value, (bool, np.bool_))
    if constraint is str:
        return isinstance(value, str)
    if isinstance(constraint, type):
        return isinstance(value, constraint)
    return value in constraint


def _describe(constraint) -> str:
    if constraint is None:
        return "None"
    if isinstance(constraint, type):
        return {bool: "True or False", str: "text"}.get(constraint, f"a {constraint.__name__}")
    return str(constraint)


def check_parameters(constraints: dict, values: dict, owner: str) -> None:
    """Refuse, before any work, the first value that meets none of its constraints.

    Parameters
    ----------
    constraints : dict of str to list
        Per parameter, what it may be: :class:`Interval`, :class:`Options`, ``None``,
        ``bool``, ``str`` or another type (scikit-learn's ``_parameter_constraints``).
    values : dict
        The values, by parameter name (those without a constraint are not checked).
    owner : str
        The estimator or function, for the message.

    Raises
    ------
    darkmodel.exceptions.InvalidParameterError
        Naming the parameter, its value and what it may be.

    Examples
    --------
    >>> check_parameters({"k_max": [Interval("int", 1, 10)]}, {"k_max": 3}, "DarkRateModel")
    >>> check_parameters({"k_max": [Interval("int", 1, 10)]}, {"k_max": 2.5}, "DarkRateModel")
    Traceback (most recent call last):
    ...
    darkmodel.exceptions.InvalidParameterError: DarkRateModel: k_max must be a whole number in [1, 10]; got 2.5
    """
    from .exceptions import InvalidParameterError

    for name, allowed in constraints.items():
        if name not in values:
            continue
        value = values[name]
        if not any(_allowed(value, c) for c in allowed):
            raise InvalidParameterError(f"{owner}: {name} must be {' or '.join(_describe(c) for c in allowed)}; "
                                        f"got {value!r}")


def validate_arguments(constraints: dict) -> Callable:
    """Decorate a public function so that its arguments are checked before it runs.

    Parameters
    ----------
    constraints : dict of str to list
        As :func:`check_parameters`, by argument name.

    Returns
    -------
    callable
        The decorator; the function keeps its name, signature and docstring, and gains
        ``parameter_constraints`` (the table).

    Examples
    --------
    >>> @validate_arguments({"n": [Interval("int", 1, None)]})
    ... def twice(n):
    ...     return 2 * n
    >>> twice(3), twice.parameter_constraints["n"][0].low
    (6, 1)
    """
    def decorate(func: Callable) -> Callable:
        signature = inspect.signature(func)
        unknown = set(constraints) - set(signature.parameters)
        if unknown:
            raise TypeError(f"{func.__name__}: constraints for unknown arguments {sorted(unknown)}")

        @functools.wraps(func)
        def checked(*args, **kwargs):
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            check_parameters(constraints, bound.arguments, func.__name__)
            return func(*args, **kwargs)

        checked.parameter_constraints = constraints  # type: ignore[attr-defined]
        return checked

    return decorate
