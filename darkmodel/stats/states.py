r"""The family of each dark file in time: a hidden Markov chain over irregular gaps.

A file's family is uncertain where families overlap (a noisy short integration).  If the
instrument's state persists, its neighbours in time know something about it.  This module
treats the families as the states of a continuous-time Markov chain whose memory decays
with the gap ``dt`` between files:

.. math::

    P(s_i = b \mid s_{i-1} = a) = e^{-dt/\tau}\,[a = b] + (1 - e^{-dt/\tau})\, w_b,

(one dwell scale ``tau``; after a long gap the state is drawn afresh from the family weights
``w``).  ``tau`` is chosen by the marginal likelihood on a grid that includes ``tau = 0``, no
memory, where the labels are the mixture's own; so smoothing happens only where the data show
persistence.  Forward-backward in log space gives each file's family probabilities.

The labels serve :meth:`darkmodel.DarkRateModel.assign`; the flip-flop test's memory test
uses the mixture's own labels, which carry no memory by construction.
"""

from __future__ import annotations

import numpy as np

__all__ = ["smooth_posterior", "fit_dwell", "forward_backward", "log_transitions", "DWELL_GRID_HOURS"]

#: Dwell scales tried (hours); 0 is "no memory".
DWELL_GRID_HOURS = (0.0, 1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1000.0, 10000.0)


def log_transitions(gaps_hours, tau: float, log_w) -> np.ndarray:
    """The chain's log transition matrices for every gap, ``(n - 1, K, K)`` [from, to].

    Parameters
    ----------
    gaps_hours : array_like
        Gaps between consecutive files (hours).
    tau : float
        Dwell scale (hours); 0 is no memory.
    log_w : array_like
        Log stationary probabilities (the family weights).

    Returns
    -------
    numpy.ndarray

    Examples
    --------
    >>> m = np.exp(log_transitions([0.0, 1e9], 10.0, np.log([0.25, 0.75])))
    >>> m[0].round(3).tolist(), m[1].round(3).tolist()  # no gap: stay; a long gap: redraw
    ([[1.0, 0.0], [0.0, 1.0]], [[0.25, 0.75], [0.25, 0.75]])
    """
    k = len(log_w)
    if tau <= 0:
        return np.broadcast_to(log_w[None, None, :], (len(gaps_hours), k, k))
    stay = np.exp(-np.asarray(gaps_hours, float) / tau)[:, None, None]
    mats = (1.0 - stay) * np.exp(log_w)[None, None, :] + stay * np.eye(k)[None]
    return np.log(np.maximum(mats, 1e-300))


def _forward_backward(log_emission, gaps_hours, tau: float, log_w):
    return forward_backward(log_emission, log_transitions(gaps_hours, tau, log_w), log_w)


def forward_backward(log_emission, log_transitions, log_start) -> tuple[np.ndarray, float]:
    """State probabilities of every file given all files, for any transition law.

    Parameters
    ----------
    log_emission : numpy.ndarray
        Log density of each file (rows, in time order) under each state, ``(n, K)``.
    log_transitions : numpy.ndarray
        Log transition matrix from each file to the next, ``(n - 1, K, K)`` [from, to].
    log_start : array_like
        Log probabilities of the first file's state.

    Returns
    -------
    posterior : numpy.ndarray
        ``(n, K)`` probabilities.
    loglik : float
        Marginal log-likelihood.
    """
    n, k = log_emission.shape
    trans = log_transitions
    alpha = np.empty((n, k))
    alpha[0] = np.asarray(log_start, float) + log_emission[0]
    for i in range(1, n):
        alpha[i] = np.logaddexp.reduce(alpha[i - 1][:, None] + trans[i - 1], axis=0) + log_emission[i]
    loglik = float(np.logaddexp.reduce(alpha[-1]))
    beta = np.zeros((n, k))
    for i in range(n - 2, -1, -1):
        beta[i] = np.logaddexp.reduce(trans[i] + (log_emission[i + 1] + beta[i + 1])[None, :], axis=1)
    post = alpha + beta
    post = np.exp(post - np.logaddexp.reduce(post, axis=1)[:, None])
    return post, loglik


def fit_dwell(log_emission, hours, weights, grid=DWELL_GRID_HOURS) -> tuple[float, float]:
    """The dwell scale with the highest marginal likelihood.

    Parameters
    ----------
    log_emission : numpy.ndarray
        Log density of each file (rows, in time order) under each family, ``(n, K)``.
    hours : array_like
        Time of each file (hours, increasing).
    weights : array_like
        Family weights.
    grid : sequence of float, optional
        Dwell scales tried (hours).

    Returns
    -------
    tau : float
        The best dwell scale (0: no memory).
    gain : float
        Its log-likelihood gain over no memory.
    """
    gaps = np.diff(np.asarray(hours, float))
    log_w = np.log(np.asarray(weights, float))
    scores = [(_forward_backward(log_emission, gaps, tau, log_w)[1], tau) for tau in grid]
    base = next(s for s, tau in scores if tau == 0) if 0.0 in grid else scores[0][0]
    best, tau = max(scores)
    return float(tau), float(best - base)


def smooth_posterior(log_emission, hours, weights, tau: float) -> np.ndarray:
    """Family probabilities of each file given all files, under the dwell scale ``tau``.

    Parameters
    ----------
    log_emission : numpy.ndarray
        Log density of each file (rows, in time order) under each family, ``(n, K)``.
    hours : array_like
        Time of each file (hours, increasing).
    weights : array_like
        Family weights.
    tau : float
        Dwell scale (hours); 0 gives the mixture's own posterior.

    Returns
    -------
    numpy.ndarray
        ``(n, K)`` probabilities.

    Examples
    --------
    >>> emis = np.log([[0.9, 0.1], [0.45, 0.55], [0.9, 0.1]])
    >>> smooth_posterior(emis, [0.0, 1.0, 2.0], [0.5, 0.5], 0.0)[1].round(2).tolist()
    [0.45, 0.55]
    >>> bool(smooth_posterior(emis, [0.0, 1.0, 2.0], [0.5, 0.5], 100.0)[1, 0] > 0.9)
    True
    """
    log_emission = np.asarray(log_emission, float)
    gaps = np.diff(np.asarray(hours, float))
    return _forward_backward(log_emission, gaps, tau, np.log(np.asarray(weights, float)))[0]
