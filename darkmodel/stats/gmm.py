"""The baseline: scikit-learn's Gaussian mixture on ``(T, log DN/s)``, chosen by BIC.

Kept as the comparison the families are measured against (benchmarks/accuracy_families.py).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .mixture import REFERENCE_TEMPERATURE, Covariates, MixtureFit
from .noise import NoiseModel

__all__ = ["fit_gmm", "select_gmm"]


def fit_gmm(temperature, dn_per_s, k: int, *, random_state: int = 0, n_init: int = 3) -> MixtureFit:
    """Baseline: a 2-D Gaussian mixture on standardised ``(T, log DN/s)``.

    Parameters
    ----------
    temperature, dn_per_s : array_like
        Detector temperature (degC) and dark rate (DN/s/pixel, positive).
    k : int
        Number of components.
    random_state : int, optional
        ``random_state`` of scikit-learn's ``GaussianMixture``.
    n_init : int, optional
        Initialisations.

    Returns
    -------
    MixtureFit
        ``method='gmm'``; components sorted by mean log rate (label 0 lowest).  The shared
        shape is that of a quadratic least-squares fit, for a comparable curve.
    """
    from sklearn.mixture import GaussianMixture

    t = np.asarray(temperature, float)
    y = np.log(np.asarray(dn_per_s, float))
    data = np.column_stack([t, y])
    centre, scale = data.mean(axis=0), data.std(axis=0)
    scale[scale == 0] = 1.0
    gmm = GaussianMixture(k, covariance_type="full", random_state=random_state, n_init=n_init).fit((data - centre) / scale)
    order = np.argsort(gmm.means_[:, 1])
    means = gmm.means_[order] * scale + centre
    covs = gmm.covariances_[order] * np.outer(scale, scale)
    coef = np.polynomial.polynomial.polyfit(t - REFERENCE_TEMPERATURE, y, 2)
    dm = means[:, 0] - REFERENCE_TEMPERATURE
    shape_at_mean = coef[1] * dm + coef[2] * dm**2
    n = len(y)
    loglik = float(gmm.score(((data - centre) / scale)) * n - n * np.log(scale).sum())
    p = k * 2 + k * 3 + (k - 1)
    resid = y - np.polynomial.polynomial.polyval(t - REFERENCE_TEMPERATURE, coef)
    return MixtureFit(means[:, 1] - shape_at_mean, coef[1:], Covariates(2, 0),
                      NoiseModel(0.0, float(np.std(resid)), math.inf), gmm.weights_[order], loglik, n, 0.0,
                      method="gmm", extra={"means": means, "covariances": covs, "n_params": p,
                                           "temp_range": [float(t.min()), float(t.max())]})




def select_gmm(temperature, dn_per_s, *, k_max: int = 3, bic_margin: float = 6.0, random_state: int = 0) -> tuple:
    """The baseline's choice of K: the lowest BIC, one more component only if BIC drops by ``bic_margin``.

    Parameters
    ----------
    temperature, dn_per_s : array_like
        Detector temperature (degC) and dark rate (DN/s/pixel).
    k_max : int, optional
        Largest number of components.
    bic_margin : float, optional
        BIC drop needed per added component.
    random_state : int, optional
        Random seed.

    Returns
    -------
    fit : MixtureFit
        The chosen fit.
    table : pandas.DataFrame
        ``K``, ``bic``, ``loglik`` per number of components.
    """
    fits = [fit_gmm(temperature, dn_per_s, k, random_state=random_state) for k in range(1, k_max + 1)]
    best = 0
    for i in range(1, len(fits)):
        if fits[i].bic < fits[best].bic - bic_margin:
            best = i
    table = pd.DataFrame({"K": range(1, k_max + 1), "bic": [f.bic for f in fits], "loglik": [f.loglik for f in fits]})
    return fits[best], table
