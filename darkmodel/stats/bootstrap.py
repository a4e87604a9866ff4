"""The parametric bootstrap of the family tests, with Besag and Clifford's sequential stop.

:func:`sequential_p` is the Monte Carlo p-value that stops after ``stop`` exceedances;
:class:`BootstrapReplicate` is one replicate of a likelihood-ratio test (picklable, so the
replicates run in worker processes); :class:`FamilyLRReplicate` is the test of one more
family; :func:`check_monte_carlo` refuses a replicate count that cannot reach a level.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from .mixture import Covariates, MixtureFit, fit_design, simulate_files

__all__ = ["sequential_p", "BootstrapReplicate", "FamilyLRReplicate", "check_monte_carlo"]

_EXCEED_STOP = 10  # sequential Monte Carlo: stop after this many exceedances


def sequential_p(observed: float, draw, n_boot: int, stop: int = _EXCEED_STOP, *,
                 replicate_pool=None) -> tuple[float, float, int]:
    """Monte-Carlo p-value with Besag and Clifford's (1991) sequential stop.

    Parameters
    ----------
    observed : float
        The observed statistic.
    draw : callable
        ``draw(b)`` returns the statistic of replicate ``b`` under the null; with a
        ``replicate_pool`` it must be picklable and draw from a stream of its own for each
        ``b``, so the p-value is the same wherever the replicates are computed.
    n_boot : int
        Most replicates.
    stop : int, optional
        Stop after this many replicates at or above ``observed``.
    replicate_pool : darkmodel.parallel.ReplicatePool, optional
        Compute the replicates in this pool (ahead of the stopping rule, which is applied
        in replicate order; replicates beyond the stop are discarded).

    Returns
    -------
    p : float
        ``stop / b`` when stopped early, else ``(exceedances + 1) / (n_boot + 1)``.
    mc_se : float
        Its Monte-Carlo standard error.
    used : int
        Replicates drawn.
    """
    exceed = 0
    done = 0
    values = (draw(b) for b in range(n_boot)) if replicate_pool is None else replicate_pool.imap(draw, range(n_boot))
    try:
        for b, value in enumerate(values):
            done = b + 1
            if value >= observed:
                exceed += 1
                if exceed >= stop:
                    p = exceed / done
                    return p, math.sqrt(p * (1 - p) / done), done
    finally:
        values.close()  # cancels replicates queued beyond the stop
    p = (exceed + 1) / (done + 1)
    return p, math.sqrt(p * (1 - p) / max(done, 1)), done


class BootstrapReplicate:
    """One bootstrap replicate of a test statistic, computable in any process.

    Subclasses are frozen dataclasses holding the null model and the data (so they pickle)
    and a ``seed`` field; replicate ``b`` draws from the stream ``(seed, b)`` alone, so its
    value is the same wherever and in whatever order it is computed
    (:func:`sequential_p` with a pool).  They implement ``_statistic(rng)``.
    """

    seed: int

    def __call__(self, b: int) -> float:
        """The statistic of replicate ``b``.

        Parameters
        ----------
        b : int
            Replicate index (selects the random stream).

        Returns
        -------
        float
        """
        return self._statistic(np.random.default_rng((self.seed, b)))

    def _statistic(self, rng) -> float:
        raise NotImplementedError


@dataclass(frozen=True)
class FamilyLRReplicate(BootstrapReplicate):
    """One bootstrap replicate of the likelihood ratio of ``k`` against ``k - 1`` families.

    Called with the replicate's index (see :class:`BootstrapReplicate`), it simulates the
    files from ``null`` and returns ``2 (loglik_k - loglik_{k-1})`` of the refits (0 where a
    refit fails).
    """

    null: MixtureFit
    t: np.ndarray
    counts: np.ndarray
    days: np.ndarray | None
    covariates: Covariates
    df: float
    excess: bool
    k: int
    seed: int

    @cached_property
    def _design(self) -> np.ndarray:
        """The shape's design matrix: the same in every replicate (built once per process)."""
        return self.covariates.matrix(self.t, self.days)

    def _statistic(self, rng) -> float:
        ys = simulate_files(self.null, self.t, self.counts, self.days, rng)
        if not np.all(np.isfinite(ys)):
            return 0.0
        try:
            a, bigger = (fit_design(self.t, ys, self.counts, self._design, self.covariates, k, df=self.df,
                                     excess=self.excess, n_init=3, rng=rng, max_iter=300) for k in (self.k - 1, self.k))
        except ValueError:
            return 0.0
        return max(2.0 * (bigger.loglik - a.loglik), 0.0)


def check_monte_carlo(n_boot: int, alpha: float) -> None:
    """Refuse a bootstrap that cannot reject: the p-value floor ``1/(n_boot+1)`` must be below ``alpha``.

    Parameters
    ----------
    n_boot : int
        Bootstrap replicates.
    alpha : float
        Significance level.

    Raises
    ------
    ValueError
        If ``1 / (n_boot + 1) >= alpha`` or ``alpha`` is not in (0, 1).
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie between 0 and 1, not {alpha}")
    if n_boot < 1 or 1.0 / (n_boot + 1) >= alpha:
        need = math.ceil(1.0 / alpha)
        raise ValueError(f"n_boot={n_boot} cannot reject at alpha={alpha}: the smallest Monte-Carlo p-value is "
                         f"1/(n_boot+1) = {1.0 / (max(n_boot, 0) + 1):.3g}; use n_boot >= {need}")
