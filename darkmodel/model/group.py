"""One fitted (XUV, INT_TIME) group: its families, their evidence, and its predictive distribution.

:class:`GroupFit` is the data :class:`~darkmodel.model.estimator.DarkRateModel` keeps per group (and
saves as JSON), together with the predictive distribution of a new integration's dark rate
that the model's :meth:`~darkmodel.model.estimator.DarkRateModel.predict_interval` asks it for: the
family's (or the mixture's) quantiles in log dark current, recalibrated by the group's PIT
maps (:mod:`darkmodel.stats.intervals`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..stats.intervals import PitCalibration, solve_increasing
from ..stats.mixture import MixtureFit
from ..stats.perfile import days_since_epoch

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
        The evidence for the number of families (see :class:`~darkmodel.stats.families.FamilySelection`).
    reason : str
        Why this number of families, in words.
    dwell_hours : float
        Dwell scale of the families in time (hours; 0: no memory), for the labels of
        :meth:`DarkRateModel.assign` (see :mod:`darkmodel.stats.states`).
    pit : dict
        Recalibration maps of the prediction intervals (:mod:`darkmodel.stats.intervals`):
        ``'mixture'`` from the mixture predictive, ``'family'`` from each integration's own
        family; ``None`` where the group has too few integrations.
    period_days : tuple of float
        Quantiles (0, 1/32, ..., 1) of the fitted files' times (days since 1970): the fitted
        period, for period-wide intervals and for flagging times outside it; empty where the
        files had no times (or the model was saved before they were recorded).
    period_by_temperature : dict
        The fitted period as seen at each temperature: ``edges`` (quantiles of the files'
        temperatures, five bins) and ``days`` (17 quantiles of the times of the files in each
        bin).  A detector's temperature follows the seasons, so the times an integration at
        a given temperature can come from are those of the files near it; empty where
        unknown (then the whole period stands for every temperature).
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
    period_by_temperature: dict = field(default_factory=dict)

    def record_period(self, days, temps, n_bins: int = 5) -> None:
        """Keep the fitted period: ``period_days`` and ``period_by_temperature``.

        Parameters
        ----------
        days : array_like
            The fitted files' times (days since 1970); nothing is kept unless all are finite.
        temps : array_like
            Their temperatures (degC).
        n_bins : int, optional
            Temperature bins (quantiles of ``temps``).
        """
        days, temps = np.asarray(days, float), np.asarray(temps, float)
        if not days.size or not np.isfinite(days).all():
            return
        self.period_days = tuple(float(v) for v in np.quantile(days, np.linspace(0.0, 1.0, 33)))
        edges = np.quantile(temps, np.linspace(0.0, 1.0, n_bins + 1))
        where = np.clip(np.searchsorted(edges[1:-1], temps, side="right"), 0, n_bins - 1)
        self.period_by_temperature = {
            "edges": [float(v) for v in edges],
            "days": [[float(v) for v in np.quantile(days[where == b] if np.any(where == b) else days,
                                                    np.linspace(0.0, 1.0, 17))] for b in range(n_bins)]}

    @property
    def law(self) -> MixtureFit:
        """The fitted mixture; a group that was not fitted has none, and says why.

        Raises
        ------
        ValueError
            If the group was not fitted (its ``status`` and ``reason`` say why).
        """
        if self.mixture is None:
            raise ValueError(f"{self.xuv} {self.int_time} ms was not fitted ({self.status}): {self.reason}")
        return self.mixture

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

    def period_grid(self, temps) -> tuple[list, np.ndarray]:
        """Times (days since 1970) that stand for the fitted period at each temperature.

        Parameters
        ----------
        temps : numpy.ndarray
            Temperatures (degC) the times are for (see ``period_by_temperature``).

        Returns
        -------
        grids : list of numpy.ndarray
            Sets of equally weighted times: one per temperature bin, or the whole period.
        weights : numpy.ndarray
            ``(len(grids), temps.size)``: how much each set counts at each temperature, by
            smooth (smoothstep) interpolation between the bins' centres, so the answer
            changes smoothly with temperature; each column sums to 1.
        """
        temps = np.atleast_1d(np.asarray(temps, float))
        by_temp = self.period_by_temperature
        if by_temp:
            edges = np.asarray(by_temp["edges"], float)
            grids = [np.asarray(d, float) for d in by_temp["days"]]
            centres = 0.5 * (edges[:-1] + edges[1:])
            pos = np.interp(temps, centres, np.arange(len(grids), dtype=float))
            below = np.floor(pos).astype(int)
            frac = pos - below
            frac = frac * frac * (3.0 - 2.0 * frac)  # smoothstep: weights without kinks at the centres
            weights = np.zeros((len(grids), temps.size))
            weights[below, np.arange(temps.size)] = 1.0 - frac
            above = np.minimum(below + 1, len(grids) - 1)
            np.add.at(weights, (above, np.arange(temps.size)), frac)
            return grids, weights
        if self.period_days:
            return [np.asarray(self.period_days, float)], np.ones((1, temps.size))
        span = self.time_range
        if span is None:
            raise ValueError(f"{self.xuv} {self.int_time} ms: no fitted period to spread a time-free prediction over")
        return [np.linspace(span[0], span[1], 33)], np.ones((1, temps.size))

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
        if time is None or self.law.covariates.time_degree == 0:
            return None
        days = days_since_epoch(pd.to_datetime(np.atleast_1d(time)))
        return np.broadcast_to(days, (n,)) if days.size == 1 else days

    def log_predictive(self, temps, k: int, time=None, *, days=None) -> tuple[np.ndarray, np.ndarray]:
        """Centre and scale of a new integration's log dark current in family ``k``.

        Parameters
        ----------
        temps : numpy.ndarray
            Detector temperatures (degC).
        k : int
            Family index.
        time : datetime-like or array_like, optional
            Time(s) for the family's time trend.
        days : float or numpy.ndarray, optional
            The same as days since 1970 (instead of ``time``; no conversion).

        Returns
        -------
        mu, sd : numpy.ndarray
            The family's mean log dark current, and the noise model's scale at that mean
            widened by the standard error of the mean (the parameter uncertainty).
        """
        m = self.law
        if days is None:
            days = self.days(time, temps.size)
        elif m.covariates.time_degree == 0:
            days = None
        else:
            days = np.broadcast_to(np.asarray(days, float), (temps.size,))
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
            by one bracketed root finding on the predictive CDF (1e-11 in log rate).
        """
        m = self.law
        targets = _targets(level, temps, mapping)
        if len(families) == 1 and m.noise.excess <= 0:
            mu, sd = self.log_predictive(temps, families[0], time)
            q = m.noise.ppf(targets)
            base = m.offset / (self.int_time / 1000.0)
            return base + np.exp(mu + q[0] * sd), base + np.exp(mu + q[1] * sd)
        return self._mixture_interval(temps, targets, time, families)

    def period_interval(self, temps, level: float, families, mapping) -> tuple[np.ndarray, np.ndarray]:
        """Interval of a new integration taken anywhere in the fitted period (no time given).

        The predictive distribution is the equal mixture over the fitted period, as the
        files near each temperature saw it (:meth:`period_grid`), of the distribution at
        each time: the trend's spread in time (or, for epochs, the step) is part of the
        interval, as it is part of what an integration at an unknown time can show.

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
        m = self.law
        grids, at_temp = self.period_grid(temps)
        w = np.asarray(m.weights, float)[list(families)]
        items: dict = {}  # (family, time or None) -> weight at each temperature
        for days, weight in zip(grids, at_temp):
            if not weight.any():
                continue
            # weight of (family, time): the family's weight, or for epochs the family in force then
            share = (np.array([(m.epoch_family(days) == k).astype(float) for k in families]) if m.is_epochs
                     else np.repeat((w / w.sum())[:, None], days.size, axis=1))
            share /= share.sum()
            when = [None] * days.size if m.covariates.time_degree == 0 else [float(d) for d in days]
            for k, row in zip(families, share):
                for t, s in zip(when, row):  # no trend: one item per family, whatever the time
                    if s > 0:
                        items[(k, t)] = items.get((k, t), 0.0) + s * weight
        parts = [self.log_predictive(temps, k, days=t) for k, t in items]
        return self._solve_mixture(temps, _targets(level, temps, mapping), parts, list(items.values()))

    def _mixture_interval(self, temps, targets, time, families):
        m = self.law
        parts = [self.log_predictive(temps, k, time) for k in families]
        weights = np.asarray(m.weights)[list(families)]
        return self._solve_mixture(temps, targets, parts, weights / weights.sum())

    def _solve_mixture(self, temps, targets, parts, weights):
        m = self.law
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

        # both bounds in one root finding: rows 0 and 1 of a (2, n) problem, every part at once
        n = targets.shape[-1]

        def flat(values):  # (parts, 2 * n): each part's value at every element of the (2, n) problem
            return np.stack([np.broadcast_to(np.asarray(v, float), (2, n)).ravel() for v in values])

        centres, scales = flat([mu for mu, _ in parts]), flat([sd for _, sd in parts])
        shares = flat(weights)

        def cdf(v, index):  # the weighted sum over the parts, at the elements ``index`` still unsolved
            return (shares[:, index] * m.noise.predictive_cdf(v[None] - centres[:, index], scales[:, index])).sum(0)

        lo, hi = np.broadcast_to(lo, (2, lo.shape[-1])), np.broadcast_to(hi, (2, hi.shape[-1]))
        both = solve_increasing(cdf, lo, hi, targets)  # in log rate: 1e-11 relative
        return base + np.exp(both[0]), base + np.exp(both[1])

    def to_dict(self) -> dict:
        """Plain JSON-able data."""
        entry = {"XUV": self.xuv, "INT_TIME": self.int_time, "n_rows": self.n_rows, "n_files": self.n_files,
                 "status": self.status, "temp_range": [float(v) for v in self.temp_range], "reason": self.reason,
                 "dwell_hours": self.dwell_hours,
                 "pit": {k: (None if v is None else v.to_dict()) for k, v in self.pit.items()},
                 "period_days": [float(v) for v in self.period_days],
                 "period_by_temperature": self.period_by_temperature}
        if self.fitted:
            entry["mixture"] = self.law.to_dict()
            selection = self.selection if self.selection is not None else pd.DataFrame()
            entry["selection"] = json.loads(selection.to_json(orient="records"))
        return entry

    @classmethod
    def from_dict(cls, entry: dict) -> "GroupFit":
        """Rebuild from :meth:`to_dict` data."""
        g = cls(entry["XUV"], int(entry["INT_TIME"]), entry["n_rows"], entry["n_files"], entry["status"],
                tuple(entry["temp_range"]), reason=entry.get("reason", ""),
                dwell_hours=float(entry.get("dwell_hours", 0.0)),
                period_days=tuple(float(v) for v in entry.get("period_days") or ()),
                period_by_temperature=dict(entry.get("period_by_temperature") or {}))
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
