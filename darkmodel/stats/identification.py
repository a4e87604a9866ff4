"""Whether the data identify an estimate, and how to show it when they do not.

Every number darkmodel shows is an estimate the data identify, or it says why not.  An
estimate is *not identified* when the fit it comes from is not identified (the joint model
with one INT_TIME, a group over too short a span), when its standard error is not finite or
exceeds its size (the data cannot tell it from zero, nor its sign), or, for the doubling
temperature ``ln 2 / q``, when the slope ``q`` is not positive (a dark current that does not
grow with temperature has no doubling temperature).  Tables then hold NaN with the reason in
a ``*_status`` column, text shows ``not identified: <reason>``, and figures say it in place
of the number.  A value pinned at an estimator's floor is labelled as a bound.
"""

from __future__ import annotations

import math

__all__ = ["NOT_IDENTIFIED", "IDENTIFIED", "estimate_status", "doubling_status", "shown", "floor_label"]

#: Status of an estimate the data identify.
IDENTIFIED = "identified"
#: Prefix of the status of one they do not.
NOT_IDENTIFIED = "not identified"


def estimate_status(value: float, se: float, *, fit_reason: str = "") -> str:
    """Whether an estimate with standard error ``se`` is identified.

    Parameters
    ----------
    value : float
        The estimate.
    se : float
        Its standard error.
    fit_reason : str, optional
        Why the fit it comes from is not identified (empty if it is).

    Returns
    -------
    str
        :data:`IDENTIFIED`, or ``'not identified: <reason>'``.

    Examples
    --------
    >>> estimate_status(0.85, 0.02)
    'identified'
    >>> estimate_status(4.75e-14, 20.5)
    'not identified: its standard error (20.5) exceeds its size (4.75e-14)'
    """
    if fit_reason:
        return f"{NOT_IDENTIFIED}: {fit_reason}"
    if not (math.isfinite(value) and math.isfinite(se)):
        return f"{NOT_IDENTIFIED}: no finite estimate or standard error"
    if se > abs(value):
        return f"{NOT_IDENTIFIED}: its standard error ({se:.3g}) exceeds its size ({abs(value):.3g})"
    return IDENTIFIED


def doubling_status(q: float, se_q: float, *, fit_reason: str = "") -> str:
    """Whether the doubling temperature ``ln 2 / q`` is identified by a slope ``q`` (1/degC).

    Parameters
    ----------
    q : float
        Slope of the log dark current in temperature (1/degC).
    se_q : float
        Its standard error (NaN where unknown: then only the sign is checked).
    fit_reason : str, optional
        Why the fit is not identified (empty if it is).

    Returns
    -------
    str
        :data:`IDENTIFIED`, or ``'not identified: <reason>'``.

    Examples
    --------
    >>> doubling_status(0.0866, 0.004)
    'identified'
    >>> doubling_status(-0.0048, 0.01)
    'not identified: the dark current does not rise with temperature in these data (slope -0.0048 per degC)'
    """
    if fit_reason:
        return f"{NOT_IDENTIFIED}: {fit_reason}"
    if not math.isfinite(q) or q <= 0:
        return (f"{NOT_IDENTIFIED}: the dark current does not rise with temperature in these data "
                f"(slope {q:.2g} per degC)")
    if math.isfinite(se_q) and se_q > q:
        return (f"{NOT_IDENTIFIED}: the slope's standard error ({se_q:.2g} per degC) exceeds the slope "
                f"({q:.2g} per degC)")
    return IDENTIFIED


def shown(value: float, status: str) -> float:
    """The value where identified, else NaN (for tables; the reason goes beside it).

    Parameters
    ----------
    value : float
        The estimate.
    status : str
        Its status (:func:`estimate_status`).

    Returns
    -------
    float
    """
    return float(value) if status == IDENTIFIED else float("nan")


def floor_label(value: float, floor: float, *, scale: float = 100.0, unit: str = " %",
                note: str = " (the estimator floor: below what the data resolve)") -> str:
    """A scatter estimate as text, labelled as a bound where it sits at the estimator's floor.

    Parameters
    ----------
    value : float
        The estimate.
    floor : float
        The smallest value the estimator returns.
    scale : float, optional
        Display factor (100: a fraction shown in per cent).
    unit : str, optional
        Unit text.
    note : str, optional
        What a value at the floor is called.

    Returns
    -------
    str

    Examples
    --------
    >>> floor_label(0.001, 0.001)
    '<= 0.10 % (the estimator floor: below what the data resolve)'
    >>> floor_label(0.012, 0.001)
    '1.20 %'
    """
    if value <= floor * (1 + 1e-6):
        return f"<= {scale * floor:.2f}{unit}{note}"
    return f"{scale * value:.2f}{unit}"
