r"""The scatter of a dark file's rate around its family curve, estimated from the data.

A dark file's rate scatters around its family curve for several reasons at once:

* read-offset jitter and read noise, additive in DN per pixel, so a constant ``additive``
  (DN/s/pixel) per integration that averages down with the ``n`` integrations of a file;
* temperature error (DET_TEMP is quantised at 0.075 degC per DN, the detector lags its
  thermistor) and gain wander: at about 8 % per degC a scatter ``relative`` proportional to
  the level, the same for every integration of a file;
* anomalous frames: heavier tails than a Gaussian;
* particle hits: a one-sided positive excess in a share ``excess`` of the files,
  exponential with mean ``excess_scale`` (in the log dark current) on top of the scatter.

In the log dark current ``y = log(DN_per_s - offset/t)`` fitted by
:mod:`darkmodel.stats.families`, a file with mean log current ``mu`` and ``n`` integrations
therefore scatters with squared scale

.. math::

    s^2 = \frac{\text{additive}^2 e^{-2\mu}}{n} + \text{relative}^2

(delta method), and its standardised residual follows a Student-t with ``df`` degrees of
freedom (``inf``: Gaussian); the files with a particle excess follow an exponentially
modified Gaussian (the Gaussian scatter plus the exponential excess).  A small ``contamination`` share of files is uniform over the
data range (gross outliers that must not form a family of their own).  One
:class:`NoiseModel` drives the family fit, the choice of the number of families, the
bootstrap nulls of the flip-flop test and the prediction intervals.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy import special

__all__ = ["NoiseModel", "CONTAMINATION", "SCALE_FLOOR", "DF_GRID"]

#: Share of files in the uniform outlier part of every family's density.
CONTAMINATION = 0.01
#: Smallest relative scatter (0.1 %): keeps the fit away from collapse on quantised values.
SCALE_FLOOR = 1e-3
#: Student-t degrees of freedom tried when the tails are estimated (``inf``: Gaussian).
DF_GRID = (3.0, 5.0, 10.0, math.inf)


@dataclass(frozen=True)
class NoiseModel:
    """Scatter of a file's log dark current: additive, relative and heavy-tailed parts.

    Parameters
    ----------
    additive : float
        Scatter of one integration's dark rate that does not scale with the level (read
        offset jitter, read noise), DN/s/pixel.
    relative : float
        Scatter proportional to the level, shared by a file's integrations (temperature
        error, gain wander), as a fraction.
    df : float
        Student-t degrees of freedom of the standardised residuals (``inf``: Gaussian).
    contamination : float
        Share of files drawn from the uniform outlier part.
    excess : float
        Share of files with a one-sided (particle) excess; 0 switches the part off.
    excess_scale : float
        Mean of that excess in the log dark current.

    Examples
    --------
    >>> noise = NoiseModel(additive=0.0, relative=0.02, df=math.inf)
    >>> round(float(noise.scale(np.log(0.3))), 6)
    0.02
    """

    additive: float
    relative: float
    df: float = math.inf
    contamination: float = CONTAMINATION
    excess: float = 0.0
    excess_scale: float = 0.0

    def variance(self, mu, counts=1.0) -> np.ndarray:
        """Squared scale of the log dark current ``s**2``.

        Parameters
        ----------
        mu : array_like
            Mean log dark current (log DN/s/pixel); any shape.
        counts : array_like or float, optional
            Integrations behind each value, broadcastable against ``mu`` (a 1-D ``counts``
            against a 2-D ``mu`` applies along the first axis).

        Returns
        -------
        numpy.ndarray
            ``additive**2 exp(-2 mu) / counts + max(relative, SCALE_FLOOR)**2``.
        """
        mu = np.asarray(mu, float)
        c = np.asarray(counts, float)
        if c.ndim == 1 and mu.ndim == 2:
            c = c[:, None]
        rel = max(self.relative, SCALE_FLOOR)
        return self.additive**2 * np.exp(np.minimum(-2.0 * mu, 700.0)) / c + rel**2

    def scale(self, mu, counts=1.0) -> np.ndarray:
        """Scale ``s`` of the log dark current (the square root of :meth:`variance`)."""
        return np.sqrt(self.variance(mu, counts))

    def sd_factor(self) -> float:
        """Standard deviation per unit scale: ``sqrt(df / (df - 2))`` (1 for a Gaussian)."""
        if not math.isfinite(self.df):
            return 1.0
        return math.sqrt(self.df / (self.df - 2.0)) if self.df > 2 else math.inf

    def excess_sd(self) -> float:
        """Standard deviation the particle excess adds to a file's log dark current.

        A share ``excess`` of files carries an exponential excess of mean ``excess_scale``:
        its variance is ``excess * 2 * scale**2 - (excess * scale)**2``.

        Examples
        --------
        >>> round(NoiseModel(0.0, 0.01, excess=0.5, excess_scale=0.034).excess_sd(), 4)
        0.0294
        """
        if self.excess <= 0:
            return 0.0
        lam = self.excess_scale
        return math.sqrt(max(self.excess * 2.0 * lam**2 - (self.excess * lam) ** 2, 0.0))

    def logpdf(self, z) -> np.ndarray:
        """Log density of a standardised residual ``z = (y - mu) / s`` (without ``-log s``).

        Parameters
        ----------
        z : array_like
            Standardised residuals.

        Returns
        -------
        numpy.ndarray
            Student-t (or Gaussian) log density.
        """
        z = np.asarray(z, float)
        if not math.isfinite(self.df):
            return -0.5 * z * z - 0.5 * math.log(2.0 * math.pi)
        nu = self.df
        const = special.gammaln((nu + 1) / 2) - special.gammaln(nu / 2) - 0.5 * math.log(nu * math.pi)
        return const - 0.5 * (nu + 1) * np.log1p(z * z / nu)

    def tail_weights(self, z) -> np.ndarray:
        """EM weights of the Student-t's latent scale, ``(df + 1) / (df + z**2)`` (1 if Gaussian)."""
        z = np.asarray(z, float)
        if not math.isfinite(self.df):
            return np.ones_like(z)
        return (self.df + 1.0) / (self.df + z * z)

    def cdf(self, z) -> np.ndarray:
        """Distribution function of a standardised residual."""
        z = np.asarray(z, float)
        return special.ndtr(z) if not math.isfinite(self.df) else special.stdtr(self.df, z)

    def ppf(self, q) -> np.ndarray:
        """Quantile of a standardised residual."""
        q = np.asarray(q, float)
        return special.ndtri(q) if not math.isfinite(self.df) else special.stdtrit(self.df, q)

    def sample(self, size, rng) -> np.ndarray:
        """Standardised residuals drawn from the model's tail law.

        Parameters
        ----------
        size : int
            Number of draws.
        rng : numpy.random.Generator
            Random generator.

        Returns
        -------
        numpy.ndarray
            Student-t (or Gaussian) draws with unit scale.
        """
        return rng.standard_normal(size) if not math.isfinite(self.df) else rng.standard_t(self.df, size)

    def excess_logpdf(self, r, s) -> np.ndarray:
        """Log density of residual ``r`` of a file with a particle excess (exponentially modified Gaussian).

        Parameters
        ----------
        r : array_like
            Residual ``y - mu``.
        s : array_like
            Scale of the Gaussian scatter.

        Returns
        -------
        numpy.ndarray
            ``-log(lam) + s**2/(2 lam**2) - r/lam + log Phi(r/s - s/lam)``.
        """
        lam = max(self.excess_scale, 1e-6)
        r, s = np.asarray(r, float), np.asarray(s, float)
        return -math.log(lam) + s * s / (2 * lam * lam) - r / lam + special.log_ndtr(r / s - s / lam)

    def excess_given(self, r, s) -> np.ndarray:
        """Expected excess of a file with residual ``r``, given it has one (truncated-normal mean)."""
        lam = max(self.excess_scale, 1e-6)
        r, s = np.asarray(r, float), np.asarray(s, float)
        m = r - s * s / lam
        x = m / s
        mills = np.exp(-0.5 * x * x - 0.5 * math.log(2 * math.pi) - special.log_ndtr(x))
        return np.maximum(m + s * mills, 0.0)

    def predictive_cdf(self, r, s) -> np.ndarray:
        """Probability that a new file's residual is below ``r``, particle excess included.

        Parameters
        ----------
        r : array_like
            Residual ``y - mu``.
        s : array_like
            Scale of the scatter.

        Returns
        -------
        numpy.ndarray
            ``(1 - excess) F_t(r/s) + excess F_EMG(r; s, excess_scale)``.
        """
        r, s = np.asarray(r, float), np.asarray(s, float)
        core = self.cdf(r / s)
        if self.excess <= 0:
            return core
        lam = max(self.excess_scale, 1e-6)
        emg = special.ndtr(r / s) - np.exp(-r / lam + s * s / (2 * lam * lam) + special.log_ndtr(r / s - s / lam))
        return (1.0 - self.excess) * core + self.excess * np.clip(emg, 0.0, 1.0)

    def to_dict(self) -> dict:
        """Plain JSON-able data (``df`` infinite is stored as ``None``)."""
        d = asdict(self)
        d["df"] = None if not math.isfinite(self.df) else float(self.df)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "NoiseModel":
        """Rebuild from :meth:`to_dict` data."""
        return cls(float(d["additive"]), float(d["relative"]), math.inf if d.get("df") is None else float(d["df"]),
                   float(d.get("contamination", CONTAMINATION)), float(d.get("excess", 0.0)),
                   float(d.get("excess_scale", 0.0)))


def variance_step(a, e, w, floor: float = SCALE_FLOOR) -> tuple[float, float]:
    """One Fisher-scoring step for the variance components ``(additive**2, relative**2)``.

    The squared scale is linear in the two components, ``v = A a + R`` with
    ``a = exp(-2 mu) / n``; given the (tail-weighted) squared residuals ``e`` and EM
    weights ``w``, the scoring step is the weighted least squares of ``e`` on ``(a, 1)``
    with weights ``w / v**2`` (``v`` from the previous step, folded into ``w`` by the
    caller).  Components are kept non-negative (``R >= floor**2``).

    Parameters
    ----------
    a : numpy.ndarray
        ``exp(-2 mu) / n`` per observation.
    e : numpy.ndarray
        Squared residuals times the Student-t weights.
    w : numpy.ndarray
        Weights ``responsibility / v**2``.

    Returns
    -------
    additive_sq, relative_sq : float
        The updated components.
    """
    sw, swa, swaa = w.sum(), (w * a).sum(), (w * a * a).sum()
    swe, swae = (w * e).sum(), (w * a * e).sum()
    det = swaa * sw - swa * swa
    low = floor**2
    if det > 1e-300 * max(swaa * sw, 1e-300):
        add_sq = (sw * swae - swa * swe) / det
        rel_sq = (swaa * swe - swa * swae) / det
        if add_sq >= 0 and rel_sq >= low:
            return float(add_sq), float(rel_sq)
    # a boundary: one component alone (the other at its bound), the better of the two
    cands = []
    rel_only = max(swe / max(sw, 1e-300), low)
    cands.append((0.0, rel_only))
    add_only = max((swae - low * swa) / max(swaa, 1e-300), 0.0)
    cands.append((add_only, low))

    def objective(c):
        v = c[0] * a + c[1]
        return float((w * (v - e) ** 2).sum())

    return min(cands, key=objective)


def robust_scale(x, floor: float = 0.0) -> float:
    """Robust scale: 1.4826 times the median absolute deviation (NaN for no values).

    Parameters
    ----------
    x : array_like
        Values.
    floor : float, optional
        Smallest value returned.

    Returns
    -------
    float
        The scale (the standard deviation for Gaussian data).

    Examples
    --------
    >>> robust_scale([1.0, 2.0, 3.0, 4.0, 100.0])
    1.4826
    """
    x = np.asarray(x, float)
    if not len(x):
        return float("nan")
    return max(float(1.4826 * np.median(np.abs(x - np.median(x)))), floor)


def tail_df(df: float) -> float:
    """Degrees of freedom of the tails as a plain float (``inf`` for Gaussian tails), for reasons and tables.

    Parameters
    ----------
    df : float
        Student-t degrees of freedom (``inf``: Gaussian).

    Returns
    -------
    float
    """
    return float(df) if math.isfinite(df) else np.inf
