"""One fitted (XUV, INT_TIME) group: its families, their evidence, and its predictive distribution.

:class:`GroupFit` is the data :class:`~darkmodel.model.DarkRateModel` keeps per group (and
saves as JSON), together with the predictive distribution of a new integration's dark rate
that the model's :meth:`~darkmodel.model.DarkRateModel.predict_interval` asks it for: the
family's (or the mixture's) quantiles in log dark current, recalibrated by the group's PIT
maps (:mod:`darkmodel.intervals`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .families import MixtureFit
from .intervals import PitCalibration, bisect
from .perfile import days_since_epoch

__all__ = ["GroupFit"]


@dataclass
class GroupFit:
    """Everything fitted for one (XUV, INT_TIME) group.

    Attributes
    ----------
    xuv : str
        Channel.
    int_time : int
        Integration time (ms).
    n_rows, n_files : int
        Integrations and dark files in the group.
    status : str
        ``'fitted'``, or why not (``'too small to fit: ...'``, ``'not identifiable: ...'``).
    temp_range : tuple of float
        Temperature range of the group's files (degC).
    mixture : MixtureFit, optional
        The families and their noise model.
    selection : pandas.DataFrame, optional
        The evidence for the number of families (see :class:`~darkmodel.families.FamilySelection`).
    reason : str
        Why this number of families, in words.
    dwell_hours : float
        Dwell scale of the families in time (hours; 0: no memory), for the labels of
        :meth:`DarkRateModel.assign` (see :mod:`darkmodel.states`).
    pit : dict
        Recalibration maps of the prediction intervals (:mod:`darkmodel.intervals`):
        ``'mixture'`` from the mixture predictive, ``'family'`` from each integration's own
        family; ``None`` where the group has too few integrations.
    period_days : tuple of float
        Quantiles (0, 1/32, ..., 1) of the fitted files' times (days since 1970): the fitted
        period, for period-wide intervals and for flagging times outside it; empty where the
        files had no times (or the model was saved before they were recorded).
    """

    xuv: str
    int_time: int
    n_rows: int
    n_files: int
    status: str
    temp_range: tuple = (float("nan"), float("nan"))
    mixture: MixtureFit | None = None
    selection: pd.DataFrame | None = None
    reason: str = ""
    dwell_hours: float = 0.0
    pit: dict = field(default_factory=lambda: {"mixture": None, "family": None})
    period_days: tuple = ()

    @property
    def time_range(self) -> tuple | None:
        """First and last fitted time (days since 1970), or ``None`` where unknown."""
        if self.period_days:
            return float(self.period_days[0]), float(self.period_days[-1])
        cov = self.mixture.covariates if self.mixture is not None else None
        if cov is not None and cov.time_degree > 0:
            return float(cov.time_min), float(cov.time_max)
        return None

    @property
    def varies_in_time(self) -> bool:
        """Whether the group's level depends on time (a trend, or epochs before and after a step)."""
        m = self.mixture
        return m is not None and (m.covariates.time_degree > 0 or m.is_epochs)

    def period_grid(self) -> np.ndarray:
        """Times (days since 1970) that stand for the fitted period, equally weighted."""
        if self.period_days:
            return np.asarray(self.period_days, float)
        lo, hi = self.time_range
        return np.linspace(lo, hi, 33)

    @property
    def fitted(self) -> bool:
        """Whether the group has families to predict from."""
        return self.status == "fitted"

    def days(self, time, n: int):
        """Days since 1970 of ``time`` for the group's time trend, one per temperature.

        Parameters
        ----------
        time : datetime-like, array_like or None
            One time for every temperature, or one per temperature.
        n : int
            Number of temperatures.

        Returns
        -------
        numpy.ndarray or None
            ``None`` where no time is given or the families have no time trend.
        """
        if time is None or self.mixture.covariates.time_degree == 0:
            return None
        days = days_since_epoch(pd.to_datetime(np.atleast_1d(time)))
        return np.broadcast_to(days, (n,)) if days.size == 1 else days

    def log_predictive(self, temps, k: int, time=None) -> tuple[np.ndarray, np.ndarray]:
        """Centre and scale of a new integration's log dark current in family ``k``.

        Parameters
        ----------
        temps : numpy.ndarray
            Detector temperatures (degC).
        k : int
            Family index.
        time : datetime-like or array_like, optional
            Time(s) for the family's time trend.

        Returns
        -------
        mu, sd : numpy.ndarray
            The family's mean log dark current, and the noise model's scale at that mean
            widened by the standard error of the mean (the parameter uncertainty).
        """
        m = self.mixture
        days = self.days(time, temps.size)
        mu = m.mean_log_rate(temps, days)[:, k]
        se = m.mean_se(temps, k, days)
        return mu, np.sqrt(m.noise.variance(mu, 1.0) + se**2)

    def interval(self, temps, level: float, time, families, mapping) -> tuple[np.ndarray, np.ndarray]:
        """Central prediction interval of a new integration's dark rate (DN/s/pixel).

        Parameters
        ----------
        temps : numpy.ndarray
            Detector temperatures (degC).
        level : float
            Coverage, in (0, 1).
        time : datetime-like or array_like, optional
            Time(s) for the families' time trend.
        families : sequence of int
            The families predicted: one (its own distribution) or several (their mixture,
            weighted by the families' weights).
        mapping : PitCalibration or None
            Recalibration of the probabilities (``None``: as the noise model says).

        Returns
        -------
        lo, hi : numpy.ndarray
            The bounds: in closed form for one family without a particle excess, else both
            by one bisection of the predictive CDF (1e-11 in log rate).
        """
        m = self.mixture
        targets = _targets(level, temps, mapping)
        if len(families) == 1 and m.noise.excess <= 0:
            mu, sd = self.log_predictive(temps, families[0], time)
            q = m.noise.ppf(targets)
            base = m.offset / (self.int_time / 1000.0)
            return base + np.exp(mu + q[0] * sd), base + np.exp(mu + q[1] * sd)
        return self._mixture_interval(temps, targets, time, families)

    def period_interval(self, temps, level: float, families, mapping) -> tuple[np.ndarray, np.ndarray]:
        """Interval of a new integration taken anywhere in the fitted period (no time given).

        The predictive distribution is the equal mixture over the fitted period
        (:meth:`period_grid`) of the distribution at each time: the trend's spread in time
        (or, for epochs, the step) is part of the interval, as it is part of what an
        integration at an unknown time can show.

        Parameters
        ----------
        temps : numpy.ndarray
            Detector temperatures (degC).
        level : float
            Coverage, in (0, 1).
        families : sequence of int
            The families predicted (weighted by the families' weights); for epochs, the
            family in force at each time of the period.
        mapping : PitCalibration or None
            Recalibration of the probabilities.

        Returns
        -------
        lo, hi : numpy.ndarray
            The bounds (DN/s/pixel).
        """
        m = self.mixture
        days = self.period_grid()
        # weight of (family, time): the family's weight, or for epochs the family in force then
        if m.is_epochs:
            in_force = m.epoch_family(days)
            share = np.array([(in_force == k).astype(float) for k in families])
        else:
            share = np.repeat(np.asarray(m.weights, float)[list(families)][:, None], days.size, axis=1)
        share /= share.sum()
        if m.covariates.time_degree == 0:  # no trend: a family's distribution is the same at every time
            items = [(k, None, w) for k, w in zip(families, share.sum(axis=1))]
        else:
            when = pd.Timestamp("1970-01-01") + pd.to_timedelta(days, unit="D")
            items = [(k, t, w) for k, row in zip(families, share) for t, w in zip(when, row)]
        items = [item for item in items if item[2] > 0]
        parts = [self.log_predictive(temps, k, t) for k, t, _ in items]
        return self._solve_mixture(temps, _targets(level, temps, mapping), parts, np.array([w for *_, w in items]))

    def _mixture_interval(self, temps, targets, time, families):
        m = self.mixture
        parts = [self.log_predictive(temps, k, time) for k in families]
        weights = np.asarray(m.weights)[list(families)]
        return self._solve_mixture(temps, targets, parts, weights / weights.sum())

    def _solve_mixture(self, temps, targets, parts, weights):
        m = self.mixture
        base = m.offset / (self.int_time / 1000.0)
        targets = np.asarray(targets, float).reshape(2, -1)
        if m.noise.excess > 0:  # a bracket beyond every target
            tail = float(min(np.min(targets[0]), np.min(1 - targets[1])))
            q = m.noise.ppf(1 - 0.1 * tail)
            reach = 20.0 * m.noise.excess_scale
            lo = np.min([mu - q * sd for mu, sd in parts], axis=0)
            hi = np.max([mu + q * sd + reach for mu, sd in parts], axis=0)
        else:  # the mixture's quantile lies between its families' own quantiles
            q = m.noise.ppf(targets)
            each = np.stack([mu + q * sd for mu, sd in parts])
            lo, hi = each.min(axis=0), each.max(axis=0)

        # both bounds in one bisection: rows 0 and 1 of a (2, n) problem
        stacked = [(np.broadcast_to(mu, (2, mu.size)), np.broadcast_to(sd, (2, sd.size))) for mu, sd in parts]

        def cdf(v):
            return sum(w * m.noise.predictive_cdf(v - mu, sd) for w, (mu, sd) in zip(weights, stacked))

        lo, hi = np.broadcast_to(lo, (2, lo.shape[-1])), np.broadcast_to(hi, (2, hi.shape[-1]))
        both = bisect(cdf, lo, hi, targets, tol=1e-11)  # in log rate: 1e-11 relative
        return base + np.exp(both[0]), base + np.exp(both[1])

    def to_dict(self) -> dict:
        """Plain JSON-able data."""
        entry = {"XUV": self.xuv, "INT_TIME": self.int_time, "n_rows": self.n_rows, "n_files": self.n_files,
                 "status": self.status, "temp_range": [float(v) for v in self.temp_range], "reason": self.reason,
                 "dwell_hours": self.dwell_hours,
                 "pit": {k: (None if v is None else v.to_dict()) for k, v in self.pit.items()},
                 "period_days": [float(v) for v in self.period_days]}
        if self.fitted:
            entry["mixture"] = self.mixture.to_dict()
            entry["selection"] = json.loads(self.selection.to_json(orient="records"))
        return entry

    @classmethod
    def from_dict(cls, entry: dict) -> "GroupFit":
        """Rebuild from :meth:`to_dict` data."""
        g = cls(entry["XUV"], int(entry["INT_TIME"]), entry["n_rows"], entry["n_files"], entry["status"],
                tuple(entry["temp_range"]), reason=entry.get("reason", ""),
                dwell_hours=float(entry.get("dwell_hours", 0.0)),
                period_days=tuple(float(v) for v in entry.get("period_days") or ()))
        pit = entry.get("pit") or {}
        g.pit = {k: PitCalibration.from_dict(pit.get(k)) for k in ("mixture", "family")}
        if g.fitted:
            g.mixture = MixtureFit.from_dict(entry["mixture"])
            g.selection = pd.DataFrame(entry["selection"])
        return g


def _targets(level: float, temps, mapping) -> np.ndarray:
    """The probabilities of a central interval's bounds, ``(2, n)``, recalibrated by ``mapping`` if given."""
    p = np.array([(1 - level) / 2, (1 + level) / 2])
    return np.repeat(p[:, None], temps.size, axis=1) if mapping is None else mapping.targets(p, temps)
