"""Finding the families in dark rate versus detector temperature.

The unit is the dark file (all its integrations share an instrument state; see
:mod:`darkmodel.stats.perfile`): per file the median log dark current
``y = median log(DN_per_s - offset/t)`` (read offset from the joint model), its mean
temperature, time and the effective number of integrations behind it.

:func:`~darkmodel.stats.mixture.fit_mixreg` fits a **mixture of parallel regressions**: family intercepts
``alpha_k`` and one shared shape, a polynomial in ``T - T0`` plus a smooth trend in time
(Legendre polynomials of the scaled time, centred on the files: detector aging is a trend,
not a state).  The scatter is a :class:`~darkmodel.stats.noise.NoiseModel` estimated with the
families: additive and relative parts, Student-t tails and a uniform outlier part, so a
scatter wider than a Gaussian, or growing with the level, is not mistaken for families.

:func:`select_families` chooses the number of families with a calibrated procedure: one
more family is accepted only if

1. its likelihood ratio against one family fewer is significant at ``alpha`` under a
   **parametric bootstrap** of the fitted smaller model (noise model, tails and outliers
   included; the chi-square approximation does not hold for mixtures), with Besag and
   Clifford's sequential stop;
2. every pair of neighbouring families is at least ``min_separation`` within-family
   standard deviations apart (closer "families" describe the shape of the scatter);
3. every family holds at least ``min_files`` files and ``min_weight`` of them.

Where one family is kept and the files have times, two families as **epochs in time** (one
step at an unknown time, :mod:`darkmodel.stats.epochs`) are tested against it by the same
bootstrap: a step smaller than the per-file scatter leaves no gap for a mixture to find, and
the smooth time trend half absorbs it, but time itself labels the files.

Each choice comes with a ``reason`` in words.  The mixture itself is :mod:`darkmodel.stats.mixture`,
its bootstrap :mod:`darkmodel.stats.bootstrap`; the scikit-learn baseline :mod:`darkmodel.stats.gmm`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .bootstrap import FamilyLRReplicate, check_monte_carlo, sequential_p
from .mixture import Covariates, MixtureFit, fit_mixreg, prepare_design
from .noise import tail_df

__all__ = ["FamilySelection", "select_families", "rounding_sd", "MIN_SEPARATION", "MIN_FAMILY_FILES",
           "MIN_FAMILY_WEIGHT", "FAMILY_ALPHA", "MIN_EPOCH_STEP"]

#: Smallest distance between neighbouring families, in within-family standard deviations.
MIN_SEPARATION = 2.5
#: Fewest files a family must hold.
MIN_FAMILY_FILES = 5
#: Smallest share of the files a family must hold.
MIN_FAMILY_WEIGHT = 0.05
#: Significance level of the bootstrap test for one more family.
FAMILY_ALPHA = 0.02
#: Smallest step in time (fraction of the dark current) taken for two epochs: below it, a
#: temperature-local misfit of the shape in a short period (0.075 degC of quantisation is
#: 0.6 %) can pass the bootstrap, which cannot reproduce misfit.
MIN_EPOCH_STEP = 0.02


def _smallest_family(fit: MixtureFit, t, y, cnt, days) -> int:
    labels = fit.posterior(t, y, cnt, days).argmax(axis=1)
    return int(np.bincount(labels, minlength=fit.k).min())


# ---------------------------------------------------------------------------- selection
@dataclass
class FamilySelection:
    """The chosen number of families of one group, with the evidence for it.

    Attributes
    ----------
    fit : MixtureFit
        The chosen fit.
    fits : dict of int to MixtureFit
        Every fit tried, by number of families.
    table : pandas.DataFrame
        One row per number of families: ``K``, ``model`` (``'mixture'``, or ``'epochs'`` for
        two families as epochs in time), ``loglik``, ``bic``, ``df``, ``lr`` (against
        one family fewer), ``p_value`` with ``p_mc_se`` and ``n_boot_used``, ``separation``
        (within-family standard deviations), ``smallest_family`` (files), ``admissible``.
    reason : str
        Why this number of families, in words.
    settings : dict
        ``alpha``, ``n_boot``, ``min_separation``, ``min_files``, ``min_weight``, ``k_max``.
    """

    fit: MixtureFit
    fits: dict
    table: pd.DataFrame
    reason: str
    settings: dict

    @property
    def k(self) -> int:
        """The chosen number of families."""
        return self.fit.k


def rounding_sd(slope: float, step: float) -> float:
    """Scatter of the log dark current from recording the temperature on a grid.

    A file's true temperature lies uniformly within half a ``step`` of the recorded one, so
    its log dark current scatters uniformly over ``|slope| * step``: a standard deviation
    of ``|slope| * step / sqrt(12)`` (an upper bound where a file's integrations were
    recorded at different grid values and average part of it out).

    Parameters
    ----------
    slope : float
        Slope of the log dark current in temperature (1/degC).
    step : float
        Recording step (degC; :func:`darkmodel.instrument.recording_step`).

    Returns
    -------
    float

    Examples
    --------
    >>> round(rounding_sd(math.log(2) / 7.5, 0.0749) * 100, 3)  # per cent of the rate
    0.2
    """
    return abs(float(slope)) * float(step) / math.sqrt(12.0) if np.isfinite(slope) else 0.0


def select_families(temperature, log_current, *, counts=None, days=None, k_max: int = 3, alpha: float = FAMILY_ALPHA,
                    n_boot: int = 199, min_separation: float = MIN_SEPARATION, min_files: int = MIN_FAMILY_FILES,
                    min_weight: float = MIN_FAMILY_WEIGHT, covariates: Covariates | None = None, n_init: int = 6,
                    epochs: bool = True, min_epoch_step: float = MIN_EPOCH_STEP, temperature_step: float = 0.0,
                    random_state: int = 0, rng=None, replicate_pool=None) -> FamilySelection:
    """Choose the number of families by bootstrap likelihood-ratio tests and separation.

    Starting from one family, one more is accepted while (1) its likelihood ratio against
    the current number is significant at ``alpha`` under a parametric bootstrap of the
    current fit, (2) neighbouring families are at least ``min_separation`` within-family
    standard deviations apart, the scatter from the recorded temperature's rounding
    included (``temperature_step``; so a split of that flat-topped scatter is not taken for
    states), and (3) every family holds ``min_files`` files and
    ``min_weight`` of them.  The tails (Student-t degrees of freedom) are estimated with one
    family and kept for the larger fits and the replicates.

    Parameters
    ----------
    temperature, log_current : array_like
        Per-file mean detector temperature (degC) and log dark current.
    counts : array_like, optional
        Effective integrations per file.
    days : array_like, optional
        Time of each file (days since 1970), for the time trend.
    k_max : int, optional
        Largest number of families tried.
    alpha : float, optional
        Significance level of each test.
    n_boot : int, optional
        Most bootstrap replicates per test (``1/(n_boot+1)`` must be below ``alpha``).
    min_separation : float, optional
        Smallest gap between neighbouring families in within-family standard deviations.
    min_files : int, optional
        Fewest files per family.
    min_weight : float, optional
        Smallest family weight.
    covariates : Covariates, optional
        The shape's design (default: :meth:`Covariates.for_data`).
    n_init : int, optional
        EM starts for more than one family.
    epochs : bool, optional
        Where one family is kept and the files have times, also test two families as the
        epochs before and after one step in time (:mod:`darkmodel.stats.epochs`), by the same
        bootstrap; a mixture cannot separate a step smaller than the per-file scatter.
    min_epoch_step : float, optional
        Smallest step (fraction of the dark current) that makes two epochs.
    temperature_step : float, optional
        Grid on which the temperatures were recorded (degC;
        :func:`darkmodel.instrument.recording_step`; 0: none).
    random_state : int, optional
        Random seed (unless ``rng`` is given).
    rng : numpy.random.Generator, optional
        Random generator for starts and the replicates' seeds (each replicate draws from a
        stream of its own).
    replicate_pool : darkmodel.parallel.ReplicatePool, optional
        Compute the bootstrap replicates in this pool; the result is the same without it.

    Returns
    -------
    FamilySelection
        The chosen fit, every fit tried, the evidence table and the reason.
    """
    check_monte_carlo(n_boot, alpha)
    rng = np.random.default_rng(random_state) if rng is None else rng
    t, y, cnt, _, covariates = prepare_design(temperature, log_current, counts, days, covariates)
    d = None if covariates.time_degree == 0 else np.asarray(days, float)
    settings = {"alpha": alpha, "n_boot": n_boot, "min_separation": min_separation, "min_files": min_files,
                "min_weight": min_weight, "k_max": k_max, "epochs": bool(epochs),
                "min_epoch_step": min_epoch_step, "temperature_step": temperature_step}
    one = fit_mixreg(t, y, 1, counts=cnt, days=d, covariates=covariates, rng=rng)
    known_sd = rounding_sd(one.coef[0], temperature_step)
    one.extra["rounding_sd"] = known_sd
    df = one.noise.df
    excess = one.noise.excess > 0
    fits = {1: one}
    rows = [{"K": 1, "model": "mixture", "loglik": one.loglik, "bic": one.bic, "df": tail_df(df), "lr": np.nan, "p_value": np.nan,
             "p_mc_se": np.nan, "n_boot_used": 0, "separation": np.inf, "smallest_family": len(y),
             "admissible": True}]
    chosen = one
    reason = ""
    for k in range(2, k_max + 1):
        if len(y) < 2 * min_files or len(y) < covariates.n_columns + k + 2:
            reason = (f"{chosen.k} {_families(chosen.k)}: {len(y)} files cannot hold {k} families of at least "
                      f"{min_files} files")
            break
        try:
            bigger = fit_mixreg(t, y, k, counts=cnt, days=d, covariates=covariates, df=df, excess=excess,
                                n_init=n_init, rng=rng)
        except ValueError as exc:
            reason = f"{chosen.k} {_families(chosen.k)}: the {k}-family fit failed ({exc})"
            break
        fits[k] = bigger
        lr = max(2.0 * (bigger.loglik - chosen.loglik), 0.0)
        smaller = chosen

        draw = FamilyLRReplicate(smaller, t, cnt, d, covariates, df, excess, k, int(rng.integers(2**63)))
        p, se, used = sequential_p(lr, draw, n_boot, replicate_pool=replicate_pool)
        bigger.extra["rounding_sd"] = known_sd
        sep = bigger.separation()
        smallest = _smallest_family(bigger, t, y, cnt, d)
        admissible = bool(sep >= min_separation and smallest >= min_files and bigger.weights.min() >= min_weight)
        rows.append({"K": k, "model": "mixture", "loglik": bigger.loglik, "bic": bigger.bic, "df": tail_df(df),
                     "lr": lr, "p_value": p, "p_mc_se": se, "n_boot_used": used, "separation": sep, "smallest_family": smallest,
                     "admissible": admissible})
        head = f"{k} families vs {k - 1}: bootstrap p={p:.3g}"
        lead = f"{reason}; " if reason else f"{chosen.k} {_families(chosen.k)}: "
        if p >= alpha:
            reason = f"{lead}{head} >= alpha {alpha:g}"
            break
        if sep < min_separation:
            known = [f"the recorded temperature's rounding ({100 * known_sd:.2f} % sd)"] if known_sd > 0 else []
            if bigger.noise.excess > 0:
                known.append(f"the particle excess ({100 * bigger.noise.excess_sd():.2f} % sd)")
            included = f", {' and '.join(known)} included" if known else ""
            reason = (f"{lead}{head} < alpha {alpha:g}, but the families are only "
                      f"{sep:.2f} within-family sd apart (need {min_separation:g}{included}): the scatter's shape, "
                      "not states")
            break
        if smallest < min_files or bigger.weights.min() < min_weight:
            reason = (f"{lead}{head} < alpha {alpha:g}, but the smallest family has "
                      f"{smallest} files, weight {bigger.weights.min():.3f} (need {min_files} files, {min_weight:g})")
            break
        if not excess:  # hits that the noise model left out are no family: the excess tried in its place
            hits = _excess_alternative(t, y, cnt, d, covariates, df, chosen, n_init, rng)
            if hits is not None and hits.bic <= bigger.bic:
                hits.extra["rounding_sd"] = known_sd
                rows.append({"K": chosen.k, "model": "excess", "loglik": hits.loglik, "bic": hits.bic,
                             "df": tail_df(df), "lr": np.nan, "p_value": np.nan, "p_mc_se": np.nan,
                             "n_boot_used": 0, "separation": hits.separation(), "smallest_family": np.nan,
                             "admissible": True})
                fits[chosen.k] = chosen = hits
                reason = (f"{lead}{head} < alpha {alpha:g}, but {chosen.k} {_families(chosen.k)} with a one-sided "
                          f"particle excess ({100 * hits.noise.excess:.0f} % of files, mean "
                          f"{100 * hits.noise.excess_scale:.1f} %) fit at least as well (BIC {hits.bic:.1f} <= "
                          f"{bigger.bic:.1f}): hits, not a family")
                break
        chosen = bigger
        reason = (f"{k} families: {head} < alpha {alpha:g}, {sep:.1f} within-family sd apart, smallest family "
                  f"{smallest} files")
    if not reason:
        reason = f"{chosen.k} {_families(chosen.k)}"
    if epochs and chosen.k == 2 and d is not None and not chosen.is_epochs:
        # two levels that a step in time explains better are a change of state, not families that recur
        from .epochs import fit_epochs

        step = fit_epochs(one, t, y, counts=cnt, days=d, min_files=min_files)
        if step is not None and step.bic < chosen.bic:
            step.extra["rounding_sd"] = known_sd
            rows.append({"K": 2, "model": "epochs", "loglik": step.loglik, "bic": step.bic, "df": tail_df(df),
                         "lr": np.nan, "p_value": np.nan, "p_mc_se": np.nan, "n_boot_used": 0,
                         "separation": step.separation(), "smallest_family": np.nan, "admissible": True})
            when = pd.Timestamp(step.extra["epoch_cut"] * 86400.0, unit="s").strftime("%Y-%m-%d %H:%M")
            size = 100.0 * (math.exp(step.intercepts[1] - step.intercepts[0]) - 1.0)
            reason = (f"2 families as epochs in time: a {size:.1f} % step at {when} fits better than two families "
                      f"that mix in time (BIC {step.bic:.1f} < {chosen.bic:.1f}) ({reason})")
            chosen = fits[2] = step
    if epochs and chosen.k == 1 and d is not None and k_max >= 2 and len(y) >= 2 * min_files:
        from .epochs import select_epochs  # the epochs build on this module

        chosen, reason = select_epochs(one, t, y, cnt, d, rows, reason, alpha=alpha, n_boot=n_boot, min_files=min_files,
                                      min_weight=min_weight, min_step=min_epoch_step, rng=rng,
                                      replicate_pool=replicate_pool)
    table = pd.DataFrame(rows)
    return FamilySelection(chosen, fits, table, reason, settings)


def _excess_alternative(t, y, cnt, d, covariates, df, chosen, n_init, rng):
    """The current number of families with a one-sided particle excess (``None`` if the fit fails)."""
    try:
        return fit_mixreg(t, y, chosen.k, counts=cnt, days=d, covariates=covariates, df=df, excess=True,
                          n_init=n_init, rng=rng)
    except ValueError:
        return None

def _families(k: int) -> str:
    return "family" if k == 1 else "families"
