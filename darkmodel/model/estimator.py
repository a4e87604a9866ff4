"""``DarkRateModel``: dark-rate families per channel and INT_TIME, fitted, saved, predicted.

The model has two layers, fitted in this order by :meth:`DarkRateModel.fit`:

1. **The joint physical model per channel** (:mod:`darkmodel.stats.joint`), across integration times:
   ``DN_per_s = offset / t + exp(p + q (T - T0))`` -- the per-read offset ``offset``
   (DN/pixel) is why DN/s differs between INT_TIMEs at the same temperature (reference
   section 5.6).  Fitted by robust non-linear least squares (``scipy.optimize.least_squares``,
   soft-L1 loss) on the lowest family of every group.  It is *identified* only with at
   least two INT_TIMEs (a factor of 1.5 apart) over a temperature span of at least
   :data:`MIN_TEMPERATURE_SPAN`; otherwise the offset is not separable from the dark
   current, the groups model ``log DN_per_s`` directly and no INT_TIME outside the fitted
   ones can be predicted.
2. **The families per group** (``XUV``, ``INT_TIME``) on per-file summaries: a mixture of
   parallel regressions of the log dark current with its noise model, the number of families
   chosen by bootstrap tests and separation (:mod:`darkmodel.stats.families`).  A group is fitted
   only with at least ``min_files`` files over ``min_temperature_span`` degC.

Predictions and their intervals come from the families and their noise model; an INT_TIME
that was never fitted is predicted from the joint model and flagged; temperatures outside
a group's fitted range warn (:class:`ExtrapolationWarning`) and their intervals widen with
the parameter uncertainty.  Models are saved as JSON with a schema version, a checksum and
provenance -- never as pickles.
"""

from __future__ import annotations

import math
import warnings
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import special
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.validation import check_is_fitted

from ..exceptions import ExtrapolationWarning, ModelFileError, UnfittedIntTimeWarning, UnidentifiedModelError
from ..parallel import n_workers, run_tasks
from ..stats.families import (
    FAMILY_ALPHA,
    MIN_EPOCH_STEP,
    MIN_FAMILY_FILES,
    MIN_FAMILY_WEIGHT,
    MIN_SEPARATION,
    rounding_sd,
    select_families,
)
from ..stats.gmm import select_gmm
from ..stats.intervals import PitCalibration, interp_pair
from ..stats.joint import MIN_INT_TIME_RATIO, MIN_TEMPERATURE_SPAN, JointModel, fit_joint  # noqa: F401 (re-exported)
from ..stats.mixture import REFERENCE_TEMPERATURE, MixtureFit, fit_mixreg, log_dark_current
from ..stats.perfile import days_since_epoch, file_summaries, usable_mask, usable_rows
from ..stats.states import fit_dwell, smooth_posterior
from ..validation import N_JOBS, RANDOM_STATE, Interval, Options, check_parameters
from .fingerprint import rows_fingerprint
from .group import GroupFit
from .persistence import SCHEMA_VERSION, load_model, model_document, model_from_document, save_model
from .verdicts import FlipFlopResult
from .views import families_table, groups_table, joint_table, model_summary

__all__ = ["DarkRateModel", "fit", "ModelFileError", "UnfittedIntTimeWarning", "ExtrapolationWarning",
           "UnidentifiedModelError", "SCHEMA_VERSION", "MIN_TEMPERATURE_SPAN", "EXTRAPOLATION_MARGIN"]

#: How far (degC) outside a group's fitted temperature range a prediction may go without a warning.
EXTRAPOLATION_MARGIN = 1.0
#: Log-likelihood gain over no memory from which the families' dwell time smooths the labels.
DWELL_MIN_GAIN = 5.0
#: The columns a fit reads (``Time`` comes from the index or a column).
_FIT_COLUMNS = ("XUV", "INT_TIME", "DET_TEMP", "DN_per_s", "FILENAME", "Time", "CASE_TEMP")
#: Above this many temperatures at one time, intervals are solved on a grid every
#: ``_GRID_STEP`` degC (between 64 and 2048 points) and interpolated.
_GRID_ABOVE, _GRID_STEP = 4096, 0.05










# --------------------------------------------------------------------------------------
# the model
# --------------------------------------------------------------------------------------
class DarkRateModel(BaseEstimator):
    """Dark-rate families per channel and integration time, in scikit-learn style.

    Parameters
    ----------
    method : {'mixreg', 'gmm'}, optional
        Family finder: the mixture of parallel regressions with its noise model (default) or
        the 2-D Gaussian-mixture baseline (K by BIC).
    k_max : int, optional
        Largest number of families tried per group.
    min_files : int, optional
        Groups with fewer dark files are not fitted.
    min_temperature_span : float, optional
        Groups (and joint models) spanning fewer degC are not identifiable.
    alpha : float, optional
        Significance level of the bootstrap test for one more family.
    n_boot : int, optional
        Most bootstrap replicates per test (``1/(n_boot+1)`` must be below ``alpha``).
    min_separation : float, optional
        Smallest gap between families in within-family standard deviations.
    min_family_files : int, optional
        Fewest files per family.
    min_weight : float, optional
        Smallest family weight.
    n_init : int, optional
        EM starts per number of families.
    epochs : bool, optional
        Where one family is kept, also test two families as the epochs before and after one
        step in time (a change of state that the per-file scatter hides from a mixture; see
        :mod:`darkmodel.stats.epochs`).
    min_epoch_step : float, optional
        Smallest step (fraction of the dark current) taken for two epochs.
    nominal_bic_margin : float, optional
        BIC gain of two families over one from which a group's upper family is left out of
        the joint offset fit (which uses the nominal, lowest family only).
    min_nominal_rows : int, optional
        Fewest nominal rows for that refit of the joint model.
    dwell_min_gain : float, optional
        Log-likelihood gain over no memory from which the families' dwell time smooths the
        labels of :meth:`assign`.
    random_state : int, optional
        Random seed; every group gets its own stream, so results do not depend on ``n_jobs``.
    n_jobs : int, optional
        Worker processes for the groups (scikit-learn's convention: ``None`` one, ``-1`` all
        cores).

    Attributes
    ----------
    joint_ : dict of str to JointModel
        The joint offset model per channel.
    groups_ : dict of (str, int) to GroupFit
        The fitted groups.
    provenance_ : dict
        Package version, input (file name and hash, see ``source`` in :meth:`fit`), time
        and row counts.
    flipflop_ : FlipFlopResult or None
        Verdicts saved with the model (``save(path, flipflop=result)``) and read back by
        :meth:`load`; ``None`` after :meth:`fit`.

    Examples
    --------
    >>> from sklearn.base import clone
    >>> clone(DarkRateModel(alpha=0.01, n_boot=199)).get_params()["alpha"]
    0.01
    """

    #: What every parameter may be (scikit-learn's ``_parameter_constraints``), checked by
    #: :meth:`fit` before any work.
    _parameter_constraints: dict = {
        "method": [Options(("mixreg", "gmm"))],
        "k_max": [Interval("int", 1, 10)],
        "min_files": [Interval("int", 2, None)],
        "min_temperature_span": [Interval("real", 0, None)],
        "alpha": [Interval("real", 0, 1, closed="neither")],
        "n_boot": [Interval("int", 1, None)],
        "min_separation": [Interval("real", 0, None)],
        "min_family_files": [Interval("int", 1, None)],
        "min_weight": [Interval("real", 0, 0.5, closed="left")],
        "n_init": [Interval("int", 1, None)],
        "epochs": [bool],
        "min_epoch_step": [Interval("real", 0, 1, closed="left")],
        "nominal_bic_margin": [Interval("real", 0, None)],
        "min_nominal_rows": [Interval("int", 1, None)],
        "dwell_min_gain": [Interval("real", 0, None)],
        "random_state": RANDOM_STATE,
        "n_jobs": N_JOBS,
    }

    def __init__(self, method: str = "mixreg", k_max: int = 3, min_files: int = 8,
                 min_temperature_span: float = MIN_TEMPERATURE_SPAN, alpha: float = FAMILY_ALPHA, n_boot: int = 99,
                 min_separation: float = MIN_SEPARATION, min_family_files: int = MIN_FAMILY_FILES,
                 min_weight: float = MIN_FAMILY_WEIGHT, n_init: int = 6, epochs: bool = True,
                 min_epoch_step: float = MIN_EPOCH_STEP, nominal_bic_margin: float = 10.0,
                 min_nominal_rows: int = 10, dwell_min_gain: float = DWELL_MIN_GAIN, random_state: int = 0,
                 n_jobs: int | None = None):
        self.method = method
        self.k_max = k_max
        self.min_files = min_files
        self.min_temperature_span = min_temperature_span
        self.alpha = alpha
        self.n_boot = n_boot
        self.min_separation = min_separation
        self.min_family_files = min_family_files
        self.min_weight = min_weight
        self.n_init = n_init
        self.epochs = epochs
        self.min_epoch_step = min_epoch_step
        self.nominal_bic_margin = nominal_bic_margin
        self.min_nominal_rows = min_nominal_rows
        self.dwell_min_gain = dwell_min_gain
        self.random_state = random_state
        self.n_jobs = n_jobs

    def __repr__(self, N_CHAR_MAX=700) -> str:
        base = super().__repr__(N_CHAR_MAX)
        if not hasattr(self, "groups_"):
            return base
        fitted = sum(g.fitted for g in self.groups_.values())
        families = sum(g.law.k for g in self.groups_.values() if g.fitted)
        return f"{base}  # fitted: {fitted} of {len(self.groups_)} groups, {families} families"

    # ---------------------------------------------------------------- fitting
    def fit(self, calibrated: pd.DataFrame, *, progress=None, source: dict | None = None) -> "DarkRateModel":
        """Fit the joint models and the families.

        Parameters
        ----------
        calibrated : pandas.DataFrame
            Output of :func:`darkmodel.calibrate` (rows with an ``exclusion`` are ignored):
            ``XUV``, ``INT_TIME`` (ms), ``DET_TEMP`` (degC), ``DN_per_s`` and, if present,
            ``FILENAME`` (integrations of one file share their family) and ``Time``.
        progress : callable, optional
            Called with 1 as each group's fit finishes (e.g. ``tqdm.update``); if it has a
            ``replicates`` method, that is called with 1 as each bootstrap replicate of the
            largest group is done (see :func:`darkmodel.parallel.run_tasks`).
        source : dict, optional
            What the table came from, for ``provenance_`` (e.g. ``{"input":
            "calibrated.parquet", "input_sha256": ...}``): file names and hashes, not paths.

        Warns
        -----
        sklearn.exceptions.ConvergenceWarning
            For each group whose EM stopped at its iteration limit (``groups`` shows
            ``converged`` and ``n_iter``).

        Returns
        -------
        DarkRateModel
            ``self``.

        Raises
        ------
        KeyError
            If a needed column is missing.
        ValueError
            If the table has no usable row or the settings are invalid.
        """
        check_parameters(self._parameter_constraints, self.get_params(), type(self).__name__)
        from ..stats.bootstrap import check_monte_carlo

        check_monte_carlo(self.n_boot, self.alpha)
        data = usable_rows(calibrated, columns=_FIT_COLUMNS)
        if data.empty:
            raise ValueError("no usable rows to fit (every row is excluded, non-finite or non-positive)")
        rng = np.random.default_rng(self.random_state)
        joint_, groups_ = {}, {}
        tasks = []
        for channel, rows in data.groupby("XUV", sort=True):
            joint = fit_joint(rows["DET_TEMP"], rows["DN_per_s"], rows["INT_TIME"],
                              min_temperature_span=self.min_temperature_span)
            if joint.identified:  # refit on the lowest family of every group
                nominal = self._nominal_rows(rows, joint.offset, rng)
                if len(nominal) >= self.min_nominal_rows:
                    joint = fit_joint(nominal["DET_TEMP"], nominal["DN_per_s"], nominal["INT_TIME"],
                                      min_temperature_span=self.min_temperature_span)
                else:
                    nominal = rows
                # the scatter about the law, for INT_TIMEs that were never fitted
                joint = joint.with_scatter(nominal["DET_TEMP"], nominal["DN_per_s"], nominal["INT_TIME"])
            joint_[str(channel)] = joint
            offset = joint.offset if joint.identified else 0.0
            for int_time, g in rows.groupby("INT_TIME", sort=True):
                tasks.append((str(channel), int(int_time), g, offset))
        streams = np.random.SeedSequence(self.random_state).spawn(len(tasks))
        jobs = [(self, *task, stream) for task, stream in zip(tasks, streams)]
        workers = n_workers(self.n_jobs, default_all=False)
        if workers > 1 and self.method == "mixreg":
            from ..stats.em_compiled import warm_up

            warm_up()  # the forked workers inherit the loaded kernel
        fitted = run_tasks(_fit_group_task, jobs, workers=workers, size=lambda job: len(job[3]), progress=progress,
                           share_largest=True)
        for group in fitted:
            groups_[(group.xuv, group.int_time)] = group
            if group.fitted and not group.mixture.converged:
                warnings.warn(f"{group.xuv} {group.int_time} ms: EM stopped at its iteration limit "
                              f"({group.mixture.n_iter} iterations) before converging", ConvergenceWarning,
                              stacklevel=2)
        self.joint_, self.groups_ = joint_, groups_
        self.provenance_ = {
            "package_version": _version(), "fitted_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "n_rows_input": int(len(calibrated)), "n_rows_used": int(len(data)), **(source or {}),
            "data_fingerprint": rows_fingerprint(data),
        }
        if "Time" in data.columns and data["Time"].notna().any():
            self.provenance_["data_start"] = pd.Timestamp(data["Time"].min()).strftime("%Y-%m-%dT%H:%M:%S")
        self.flipflop_: FlipFlopResult | None = None
        return self

    def _nominal_rows(self, rows: pd.DataFrame, offset: float, rng) -> pd.DataFrame:
        """Rows of every group's lowest family, by a quick look (two families by BIC and separation)."""
        parts = []
        for _, g in rows.groupby("INT_TIME", sort=True):
            files = file_summaries(g, offset)
            keep = g
            if len(files) >= max(self.min_files, 2 * self.min_family_files) and np.ptp(files["T"]) > 0:
                try:
                    one = fit_mixreg(files["T"], files["y"], 1, counts=files["n"], days=_days(files), rng=rng)
                    two = fit_mixreg(files["T"], files["y"], 2, counts=files["n"], days=_days(files),
                                     excess=one.noise.excess > 0,
                                     covariates=one.covariates, df=one.noise.df, n_init=3, rng=rng)
                except ValueError:
                    two = None
                known_sd = rounding_sd(one.coef[0], float(files["T_step"].iloc[0]))
                if (two is not None and two.bic < one.bic - self.nominal_bic_margin
                        and two.separation(known_sd) >= self.min_separation):
                    label = two.posterior(files["T"], files["y"], files["n"], _days(files)).argmax(axis=1)
                    keep = g[g["FILENAME"].isin(files.loc[label == 0, "FILENAME"])]
            parts.append(keep)
        return pd.concat(parts) if parts else rows.iloc[0:0]

    def _fit_group(self, channel: str, int_time: int, g: pd.DataFrame, offset: float, rng,
                   replicate_pool=None) -> GroupFit:
        files = file_summaries(g, offset)
        temp_range = (float(files["T"].min()), float(files["T"].max()))
        group = GroupFit(channel, int_time, int(len(g)), int(len(files)), "fitted", temp_range)
        span = temp_range[1] - temp_range[0]
        if len(files) < self.min_files:
            group.status = f"too small to fit: {len(files)} dark files (need {self.min_files})"
            return group
        if span < self.min_temperature_span:
            group.status = (f"not identifiable: temperature span {span:.2f} degC < {self.min_temperature_span:g} "
                            "degC, too short for the slope")
            return group
        if self.method == "gmm":
            mixture, table = select_gmm(g["DET_TEMP"], g["DN_per_s"], k_max=self.k_max, random_state=self.random_state)
            mixture.offset = 0.0
            group.mixture, group.selection = mixture, table
            group.reason = f"{mixture.k} components by BIC (baseline)"
            return group
        try:
            sel = select_families(files["T"], files["y"], counts=files["n"], days=_days(files), k_max=self.k_max,
                                  alpha=self.alpha, n_boot=self.n_boot, min_separation=self.min_separation,
                                  min_files=self.min_family_files, min_weight=self.min_weight, n_init=self.n_init,
                                  epochs=self.epochs, min_epoch_step=self.min_epoch_step,
                                  temperature_step=float(files["T_step"].iloc[0]), rng=rng,
                                  replicate_pool=replicate_pool)
        except ValueError as exc:  # one group the data cannot support never stops the others
            group.status = f"not identifiable: {exc}"
            return group
        sel.fit.offset = float(offset)
        group.mixture, group.selection, group.reason = sel.fit, sel.table, sel.reason
        days = _days(files)
        if sel.k > 1 and days is not None and not sel.fit.is_epochs:
            emission = sel.fit.log_density(files["T"], files["y"], files["n"], _days(files, sel.fit))
            tau, gain = fit_dwell(emission, days * 24.0, sel.fit.weights)
            group.dwell_hours = tau if gain > self.dwell_min_gain else 0.0
        group.pit = self._pit_maps(group, g, files)
        group.record_period(files["days"], files["T"])
        return group

    def _pit_maps(self, group: GroupFit, rows: pd.DataFrame, files: pd.DataFrame) -> dict:
        """PIT recalibration maps from every fitted integration (see :mod:`darkmodel.stats.intervals`)."""
        m = group.law
        temps = rows["DET_TEMP"].to_numpy(float)
        y = log_dark_current(rows["DN_per_s"].to_numpy(float), rows["INT_TIME"].to_numpy(float), m.offset)
        parts = [group.log_predictive(temps, k, rows["Time"] if "Time" in rows else None)
                 for k in range(m.k)]
        each = np.column_stack([m.noise.predictive_cdf(y - mu, sd) for mu, sd in parts])
        label = m.posterior(files["T"], files["y"], files["n"], _days(files, m)).argmax(axis=1)
        own = pd.Series(label, index=files["FILENAME"]).reindex(rows["FILENAME"]).to_numpy()
        return {"mixture": PitCalibration.from_pit(each @ m.weights, temps),
                "family": PitCalibration.from_pit(each[np.arange(len(y)), own], temps)}

    # ---------------------------------------------------------------- inspection
    def _check_fitted(self):
        check_is_fitted(self, ["joint_", "groups_"],
                        msg="this DarkRateModel is not fitted yet; call fit() or DarkRateModel.load()")

    @property
    def groups(self) -> pd.DataFrame:
        """One row per (XUV, INT_TIME) group: sizes, status, families, the reason, the noise model."""
        self._check_fitted()
        return groups_table(self)

    @property
    def families(self) -> pd.DataFrame:
        """One row per family: weight, level and rate at the reference temperature with errors."""
        self._check_fitted()
        return families_table(self)

    @property
    def joint(self) -> pd.DataFrame:
        """The joint offset model per channel: offset with its error, doubling temperature, identification."""
        self._check_fitted()
        return joint_table(self)

    def summary(self):
        """The model in words and tables, in the manner of statsmodels' results.

        Returns
        -------
        darkmodel.summary.Summary
            ``print`` it for text, show it in Jupyter for HTML; ``.tables`` holds the joint
            model per channel and one row per group (files, families, rate at the reference
            temperature, noise, doubling temperature), each estimate the data do not
            identify said in words, with the reasons (:mod:`darkmodel.model.views`).
        """
        self._check_fitted()
        return model_summary(self)

    def predict_table(self, table: pd.DataFrame, *, level: float = 0.95) -> pd.DataFrame:
        """Predictions for a whole table of conditions, with intervals and flags.

        Parameters
        ----------
        table : pandas.DataFrame
            ``XUV``, ``INT_TIME`` (ms) and ``DET_TEMP`` (degC) per row; ``Time`` (or
            ``time``; a column or the index) for the level at that time where a group's
            level moves in time, else the period-wide answer (see :meth:`predict_interval`).
        level : float, optional
            Coverage of the prediction interval.

        Returns
        -------
        pandas.DataFrame
            Indexed like ``table``: ``DN_per_s`` (mixture mean), ``lower``, ``upper``, the
            flags of :meth:`flags` (``extrapolated``, ``int_time_fitted``, ``time_outside``
            and ``flags`` in words), ``time_basis`` (:meth:`time_basis`) and ``source``;
            rows that cannot be predicted (refused or implausible) hold NaN with the reason
            in ``source``.

        Warns
        -----
        ExtrapolationWarning
            Once, when any row lies outside its group's fitted range.
        """
        self._check_fitted()
        frame = table.reset_index() if table.index.name in ("Time", "time") else table.reset_index(drop=True)
        if "Time" not in frame and "time" in frame:
            frame = frame.rename(columns={"time": "Time"})
        out = pd.DataFrame({"DN_per_s": np.nan, "lower": np.nan, "upper": np.nan, "extrapolated": False,
                            "int_time_fitted": False, "time_outside": False, "time_basis": "", "source": "",
                            "flags": ""}, index=range(len(frame)))
        for (xuv, it), idx in frame.groupby(["XUV", "INT_TIME"]).indices.items():
            rows = frame.iloc[idx]
            time = rows["Time"].to_numpy() if "Time" in rows and rows["Time"].notna().all() else None
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", ExtrapolationWarning)
                    warnings.simplefilter("ignore", UnfittedIntTimeWarning)
                    temps = rows["DET_TEMP"].to_numpy(float)
                    out.loc[idx, "DN_per_s"] = self.predict(temps, channel=xuv, int_time=it, time=time)
                    lo, hi = self.predict_interval(temps, channel=xuv, int_time=it, level=level, time=time)
                    out.loc[idx, "lower"], out.loc[idx, "upper"] = lo, hi
                    flags = self.flags(temps, channel=xuv, int_time=it, time=time)
                for col in ("extrapolated", "int_time_fitted", "time_outside", "flags"):
                    out.loc[idx, col] = flags[col].to_numpy()
                out.loc[idx, "time_basis"] = self.time_basis(xuv, it, time)
                out.loc[idx, "source"] = self.prediction_source(xuv, it)
            except ValueError as exc:  # refused: unidentified, unknown channel, implausible input
                out.loc[idx, "source"] = f"no prediction: {exc}"
        if out["extrapolated"].any():
            warnings.warn(f"{int(out['extrapolated'].sum())} of {len(out)} rows lie outside their group's fitted "
                          "temperature range", ExtrapolationWarning, stacklevel=2)
        out.index = table.index
        return out

    def assign(self, calibrated: pd.DataFrame) -> pd.Series:
        """The family label of every row (-1 where a row's group was not fitted or the row is unusable).

        Parameters
        ----------
        calibrated : pandas.DataFrame
            A calibrated table.

        Returns
        -------
        pandas.Series
            Integer labels aligned with ``calibrated``'s rows (0 = lowest family); all
            integrations of a file get the file's family.
        """
        self._check_fitted()
        labels = np.full(len(calibrated), -1, dtype=np.int64)
        frame = calibrated.reset_index() if calibrated.index.name == "Time" else calibrated.reset_index(drop=True)
        frame = frame.assign(_row=np.arange(len(frame)))
        if "FILENAME" not in frame.columns:
            frame = frame.assign(FILENAME=np.arange(len(frame)).astype(str))
        ok = usable_mask(frame)
        for (xuv, it), rows in frame[ok].groupby(["XUV", "INT_TIME"]):
            g = self.groups_.get((str(xuv), int(it)))
            if g is None or not g.fitted:
                continue
            m = g.law
            if m.method == "gmm":
                y = np.log(rows["DN_per_s"].to_numpy(float))
                labels[rows["_row"].to_numpy()] = m.posterior(rows["DET_TEMP"], y).argmax(axis=1)
                continue
            files = file_summaries(rows, m.offset)
            days = _days(files)
            if g.dwell_hours > 0 and days is not None:  # neighbours in time inform an uncertain file
                emission = m.log_density(files["T"], files["y"], files["n"], _days(files, m))
                label = smooth_posterior(emission, days * 24.0, m.weights, g.dwell_hours).argmax(axis=1)
            else:
                label = m.posterior(files["T"], files["y"], files["n"], _days(files, m)).argmax(axis=1)
            per_file = pd.Series(label, index=files["FILENAME"].to_numpy())
            labels[rows["_row"].to_numpy()] = per_file.reindex(rows["FILENAME"].to_numpy()).to_numpy()
        return pd.Series(labels, index=calibrated.index, name="family")

    # ---------------------------------------------------------------- prediction
    def _group(self, channel: str, int_time) -> GroupFit | None:
        self._check_fitted()
        try:
            ok = float(int_time) > 0 and math.isfinite(float(int_time))
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise ValueError(f"int_time must be a positive number of ms, not {int_time!r}")
        channel = str(channel).strip().upper()
        if channel not in self.joint_:
            raise ValueError(f"channel {channel!r} was not fitted; fitted channels: {sorted(self.joint_)}")
        g = self.groups_.get((channel, int(int_time)))
        return g if g is not None and g.fitted else None

    def prediction_source(self, channel: str, int_time) -> str:
        """Where predictions for a channel and INT_TIME come from.

        Parameters
        ----------
        channel : str
            ``'FUV'`` or ``'MUV'``.
        int_time : int
            Integration time (ms).

        Returns
        -------
        str
            ``'families'`` for a fitted group, ``'joint model (INT_TIME not fitted)'`` when
            the joint model answers, or ``'none: ...'`` with the reason when nothing can.
        """
        if self._group(channel, int_time) is not None:
            return "families"
        joint = self.joint_[str(channel).upper()]
        if joint.identified:
            return "joint model (INT_TIME not fitted)"
        return f"none: {self._refusal(channel, int_time)}"

    def _refusal(self, channel, int_time) -> str:
        g = self.groups_.get((str(channel).upper(), int(int_time)))
        joint = self.joint_[str(channel).upper()]
        why = f"group {channel} {int_time} ms: {g.status}" if g is not None else f"INT_TIME {int_time} ms was not fitted"
        return f"{why}; the joint model cannot stand in ({joint.reason})"

    def extrapolation(self, temperature, *, channel: str, int_time) -> np.ndarray:
        """Whether each temperature lies outside the fitted range by more than :data:`EXTRAPOLATION_MARGIN`.

        Parameters
        ----------
        temperature : array_like
            Detector temperature(s) (degC).
        channel : str
            ``'FUV'`` or ``'MUV'``.
        int_time : int
            Integration time (ms).

        Returns
        -------
        numpy.ndarray
            Boolean flag per temperature (the group's range, or the joint model's for an
            INT_TIME that was not fitted).
        """
        temps = _temperatures(temperature)
        lo, hi = self._fitted_range(channel, int_time)
        return (temps < lo - EXTRAPOLATION_MARGIN) | (temps > hi + EXTRAPOLATION_MARGIN)

    def _fitted_range(self, channel: str, int_time) -> tuple:
        """The temperature range behind a prediction: the group's, or the joint model's for an unfitted INT_TIME."""
        g = self._group(channel, int_time)
        return g.temp_range if g is not None else self.joint_[str(channel).upper()].temp_range

    def time_basis(self, channel: str, int_time, time=None) -> str:
        """Which answer a prediction without (or with) a time is, in words.

        Parameters
        ----------
        channel : {'FUV', 'MUV'}
            Channel.
        int_time : int
            Integration time (ms).
        time : datetime-like or array_like, optional
            The time(s) given to :meth:`predict` and :meth:`predict_interval`.

        Returns
        -------
        str
            ``'at the given time'``, ``'period-wide: ...'`` (a group whose level moves in
            time, asked without a time) or ``'no change in time fitted'``.
        """
        g = self._group(channel, int_time)
        if g is None or not g.varies_in_time:
            return "no change in time fitted"
        if time is not None:
            return "at the given time"
        what = "a step between two epochs" if g.law.is_epochs else "a trend in time"
        return (f"period-wide: the group shows {what} and no time was given, so the mean is the period's average "
                "and the interval covers an integration anywhere in the fitted period; give a time for the level "
                "then")

    def flags(self, temperature, *, channel: str, int_time, time=None) -> pd.DataFrame:
        """Where a prediction leaves what the model was fitted on, per temperature.

        Parameters
        ----------
        temperature : array_like
            Detector temperature(s) (degC).
        channel : {'FUV', 'MUV'}
            Channel.
        int_time : int
            Integration time (ms).
        time : datetime-like or array_like, optional
            One time, or one per temperature.

        Returns
        -------
        pandas.DataFrame
            ``extrapolated`` (temperature outside the fitted range by more than
            :data:`EXTRAPOLATION_MARGIN`), ``int_time_fitted``, ``time_outside`` (a time
            outside the fitted period) and ``flags``: the same in words, ``''`` when the
            prediction stays within what was fitted.
        """
        temps = _temperatures(temperature)
        g = self._group(channel, int_time)
        lo, hi = self._fitted_range(channel, int_time)
        outside = self.extrapolation(temps, channel=channel, int_time=int_time)
        words: list[list[str]] = [[] for _ in range(temps.size)]
        for i in np.flatnonzero(outside):
            words[i].append(f"temperature outside the fitted {lo:.2f} to {hi:.2f} degC")
        if g is None:
            fitted = sorted(it for (x, it), gg in self.groups_.items() if x == str(channel).upper() and gg.fitted)
            for w in words:
                w.append(f"INT_TIME {int(int_time)} ms never fitted (fitted: {', '.join(map(str, fitted)) or 'none'} "
                         "ms): from the joint law")
        late = np.zeros(temps.size, bool)
        span = g.time_range if g is not None else None
        if time is not None and span is not None:
            days = days_since_epoch(pd.to_datetime(np.atleast_1d(time)))
            days = np.broadcast_to(days, (temps.size,)) if days.size == 1 else days
            margin = max(1.0, 0.02 * (span[1] - span[0]))  # a day, or 2 % of the period
            late = (days < span[0] - margin) | (days > span[1] + margin)
            first, last = (pd.Timestamp("1970-01-01") + pd.to_timedelta(v, unit="D") for v in span)
            for i in np.flatnonzero(late):
                words[i].append(f"time outside the fitted period {first:%Y-%m-%d} to {last:%Y-%m-%d}")
        return pd.DataFrame({"extrapolated": outside, "int_time_fitted": g is not None, "time_outside": late,
                             "flags": ["; ".join(w) for w in words]})

    def _warn_range(self, temps, channel, int_time):
        lo, hi = self._fitted_range(channel, int_time)
        if temps.size == 0 or (lo - EXTRAPOLATION_MARGIN <= temps.min() and temps.max() <= hi + EXTRAPOLATION_MARGIN):
            return
        out = (temps < lo - EXTRAPOLATION_MARGIN) | (temps > hi + EXTRAPOLATION_MARGIN)
        if out.any():
            warnings.warn(f"{int(out.sum())} of {out.size} temperatures lie outside the fitted range of "
                          f"{channel} {int_time} ms ({lo:.2f} to {hi:.2f} degC, margin {EXTRAPOLATION_MARGIN:g} degC):"
                          " an extrapolation", ExtrapolationWarning, stacklevel=3)

    def predict(self, temperature, *, channel: str, int_time, family: int | None = None,
                time=None) -> np.ndarray:
        """Expected dark rate (DN/s/pixel) at each temperature.

        Parameters
        ----------
        temperature : array_like
            Detector temperature(s) (degC).
        channel : {'FUV', 'MUV'}
            Channel.
        int_time : int
            Integration time (ms).
        family : int, optional
            A single family (0 = lowest); ``None`` gives the mixture ``sum_k w_k rate_k``, or,
            where the families are epochs in time and ``time`` is given, the epoch's family.
        time : datetime-like or array_like, optional
            When (for a group with a time trend: detector aging); ``None`` gives the
            time-averaged level of the fitted period.

        Returns
        -------
        numpy.ndarray
            Expected DN/s/pixel, one per temperature: ``offset/t + exp(mean log current)``.

        Warns
        -----
        UnfittedIntTimeWarning
            When the INT_TIME was not fitted and the joint model (nominal state) answers.
        ExtrapolationWarning
            For temperatures outside the fitted range.

        Raises
        ------
        UnidentifiedModelError
            When neither the group nor the joint model can support a prediction.

        Examples
        --------
        >>> from darkmodel.simulate.archive import dark_current, simulate_table
        >>> table, truth = simulate_table(n_files=300, scenario="stable", random_state=1)
        >>> model = DarkRateModel(n_boot=19, alpha=0.1).fit(table)
        >>> rate = model.predict([-18.0], channel="MUV", int_time=14400)[0]
        >>> expected = 1.29 / 14.4 + float(dark_current(-18.0))  # read offset / t + dark current
        >>> bool(abs(rate / expected - 1) < 0.02)
        True
        """
        temps = _temperatures(temperature)
        g = self._group(channel, int_time)
        if g is None:
            return self._joint_fallback(temps, channel, int_time, family)[0]
        self._warn_range(temps, channel, int_time)
        m = g.law
        rates = self._family_rates(g, temps, time)
        if family is not None:
            return rates[:, self._family_index(g, family)]
        epoch = m.epoch_family(g.days(time, temps.size))
        if epoch is not None:  # families that are epochs: the one in force at each time
            return rates[np.arange(temps.size), epoch]
        return rates @ m.weights

    def predict_frame(self, temperature: float, *, channel: str, int_time, binning: str, superdark,
                      family: int | None = None) -> dict:
        """The expected dark frame (DN per bin) of one integration, from the rate law and a superdark.

        Parameters
        ----------
        temperature : float
            Detector temperature (degC).
        channel : {'FUV', 'MUV'}
            Channel.
        int_time : int
            Integration time (ms).
        binning : str
            Binning key of the superdark (``MUV_2_34_101_80_10x30``).
        superdark : Superdark
            Per-bin patterns (:func:`darkmodel.superdark`).
        family : int, optional
            A family (0 = nominal); default the mixture mean.

        Returns
        -------
        dict
            ``SCI``, ``ERR`` (DN per bin) and ``DQ`` (bit flags), see
            :meth:`darkmodel.frames.superdark.Superdark.predict_frame`.
        """
        return superdark.predict_frame(self, temperature, channel=channel, int_time=int_time, binning=binning,
                                       family=family)

    def _family_rates(self, g: GroupFit, temps, time) -> np.ndarray:
        m = g.law
        if m.method == "gmm":
            shape = m.coef[0] * (temps - REFERENCE_TEMPERATURE) + m.coef[1] * (temps - REFERENCE_TEMPERATURE) ** 2
            return np.exp(m.intercepts[None, :] + shape[:, None])
        mu = m.mean_log_rate(temps, g.days(time, temps.size))
        return m.offset / (g.int_time / 1000.0) + np.exp(mu)

    @staticmethod
    def _family_index(g: GroupFit, family) -> int:
        if not 0 <= int(family) < g.law.k:
            raise ValueError(f"{g.xuv} INT_TIME {g.int_time} has {g.law.k} families; no family {family}")
        return int(family)

    def predict_interval(self, temperature, *, channel: str, int_time, level: float = 0.95,
                         family: int | None = None, time=None) -> tuple[np.ndarray, np.ndarray]:
        """Central prediction interval for a new dark integration.

        The noise model of the families (additive and relative scatter, Student-t tails) with
        the uncertainty of the fitted curve, which grows away from the fitted temperatures;
        its probabilities recalibrated on the group's own integrations (PIT, see
        :mod:`darkmodel.stats.intervals`) where the group has enough of them.

        Parameters
        ----------
        temperature : array_like
            Detector temperature(s) (degC).
        channel : {'FUV', 'MUV'}
            Channel.
        int_time : int
            Integration time (ms).
        level : float, optional
            Coverage probability.
        family : int, optional
            A single family; ``None`` gives the quantiles of the mixture predictive (solved
            by bisection), or, where the families are epochs in time and ``time`` is given,
            the interval of the epoch's family.  For more than 4096 temperatures at one time,
            the bounds are computed on a grid every 0.05 degC across their range (64 to 2048
            points) and interpolated (to about 1e-5 relative).
        time : datetime-like or array_like, optional
            When: one time, or one per temperature.  ``None`` for a group whose level moves
            in time (a trend, or epochs before and after a step) gives the interval of an
            integration taken anywhere in the fitted period, the spread of the trend (or
            the step) included (:meth:`darkmodel.model.group.GroupFit.period_interval`);
            :meth:`time_basis` says which answer a prediction is.

        Returns
        -------
        lower, upper : numpy.ndarray
            Interval bounds (DN/s/pixel).

        Warns
        -----
        UnfittedIntTimeWarning, ExtrapolationWarning
            As :meth:`predict`.

        Raises
        ------
        UnidentifiedModelError
            As :meth:`predict`.
        """
        if not 0 < level < 1:
            raise ValueError("level must lie between 0 and 1")
        temps = _temperatures(temperature)
        g = self._group(channel, int_time)
        if g is None:
            centre, sd = self._joint_fallback(temps, channel, int_time, family, with_sd=True)
            joint = self.joint_[str(channel).strip().upper()]
            z_lo, z_hi = joint.standard_quantile([(1 - level) / 2.0, (1 + level) / 2.0], float(int_time))
            return np.maximum(centre + z_lo * sd, 0.0), centre + z_hi * sd
        self._warn_range(temps, channel, int_time)
        m = g.law
        if m.method == "gmm":
            rates = self._family_rates(g, temps, time)
            z = special.ndtri(0.5 + level / 2.0) * m.noise.relative
            return rates.min(axis=1) * np.exp(-z), rates.max(axis=1) * np.exp(z)
        epoch = m.epoch_family(g.days(time, temps.size)) if family is None else None
        if epoch is not None:  # families that are epochs: the one in force at each time
            if np.all(epoch == epoch[0]):
                family = int(epoch[0])
            else:
                lo, hi = np.empty(temps.size), np.empty(temps.size)
                when = np.asarray(time)
                for k in np.unique(epoch):
                    sel = epoch == k
                    lo[sel], hi[sel] = g.interval(temps[sel], level, when[sel], [int(k)], g.pit["family"])
                return lo, hi
        families = range(m.k) if family is None else [self._family_index(g, family)]
        mapping = g.pit["mixture"] if family is None or m.k == 1 else g.pit["family"]
        if time is None and g.varies_in_time and g.time_range is not None and not (m.is_epochs and family is not None):
            def solve(t):  # no time: an integration anywhere in the fitted period; the PIT maps were
                # measured against each integration's own-time predictive, not this one: not applied
                return g.period_interval(t, level, families, None)
        else:
            def solve(t):
                return g.interval(t, level, time, families, mapping)
        per_row_time = time is not None and np.size(time) > 1 and m.covariates.time_degree > 0
        if temps.size > _GRID_ABOVE and not per_row_time:  # smooth in T: solve on a grid, interpolate
            lo_t, hi_t = float(temps.min()), float(temps.max())
            grid = np.linspace(lo_t, hi_t, int(np.clip(np.ceil((hi_t - lo_t) / _GRID_STEP) + 1, 64, 2048)))
            lo, hi = solve(grid)
            if np.isfinite(lo).all() and np.isfinite(hi).all():  # else (far extrapolation) solve every point
                return interp_pair(temps, grid, lo, hi)
        return solve(temps)

    def _joint_fallback(self, temps, channel, int_time, family, with_sd: bool = False):
        joint = self.joint_[str(channel).upper()]
        if not joint.identified:
            raise UnidentifiedModelError(f"cannot predict {channel} {int_time} ms: {self._refusal(channel, int_time)}")
        if family not in (None, 0):
            raise ValueError(f"{channel} INT_TIME {int_time} was not fitted: only the nominal family (0) "
                             "can be predicted, from the joint model")
        warnings.warn(f"{channel} INT_TIME {int_time} ms was not fitted; predicting the nominal state from the "
                      "joint offset model", UnfittedIntTimeWarning, stacklevel=3)
        self._warn_range(temps, channel, int_time)
        centre = joint.predict(temps, int_time)
        return centre, (joint.predictive_sd(temps, int_time) if with_sd else None)

    # ---------------------------------------------------------------- persistence
    def to_dict(self, flipflop=None) -> dict:
        """The model as plain JSON-able data (:func:`darkmodel.model.persistence.model_document`).

        Parameters
        ----------
        flipflop : FlipFlopResult, optional
            Verdicts to store with the model (default: those it was loaded with, if any).

        Returns
        -------
        dict
        """
        self._check_fitted()
        return model_document(self, flipflop, extrapolation_margin=EXTRAPOLATION_MARGIN)

    @classmethod
    def from_dict(cls, doc: dict) -> "DarkRateModel":
        """Rebuild a model from :meth:`to_dict` data (:func:`darkmodel.model.persistence.model_from_document`)."""
        return model_from_document(cls, doc)

    def save(self, path, flipflop=None, *, unchanged_since: tuple | None = None) -> Path:
        """Save the model as JSON (schema version, checksum, provenance), atomically.

        See :mod:`darkmodel.model.persistence` for the format and what the checksum protects
        against (corruption, not forgery).

        Parameters
        ----------
        path : path-like
            Target file, e.g. ``darkrate.json``.
        flipflop : FlipFlopResult, optional
            Flip-flop verdicts to store with the model, settings included (default: those
            it was loaded with, if any); only verdicts computed on the data this model was
            fitted on are accepted.
        unchanged_since : tuple, optional
            :func:`darkmodel.io.storage.file_stamp` of ``path`` taken when it was read: a file
            changed since is not replaced.

        Returns
        -------
        pathlib.Path
            The written file.

        Raises
        ------
        darkmodel.model.fingerprint.VerdictMismatchError
            When ``flipflop`` belongs to other data or another model; nothing is written.
        PermissionError
            When ``path`` is a read-only file, which is never replaced.
        darkmodel.io.storage.FileChangedError
            When ``path`` changed after ``unchanged_since``.
        """
        return save_model(self, path, flipflop=flipflop, unchanged_since=unchanged_since)

    @classmethod
    def load(cls, path) -> "DarkRateModel":
        """Load a model saved by :meth:`save`, validating every part of it.

        Parameters
        ----------
        path : path-like
            A model file.

        Returns
        -------
        DarkRateModel
            The model, ready to predict.

        Raises
        ------
        ModelFileError
            If the file is missing, too large, not valid JSON (malformed, truncated, too
            deeply nested), fails the schema, its checksum does not match its content, or a
            number in it is invalid (not finite, weights that are not a distribution, a
            covariance that is not symmetric positive semi-definite, ...); the message names
            the file and the problem.
        """
        return load_model(path, cls)




def _temperatures(temperature) -> np.ndarray:
    """Temperatures to predict at: finite and physically plausible, or a clear error."""
    from ..calibration.plausibility import PREDICTION_TEMPERATURE_LIMITS

    try:
        temps = np.atleast_1d(np.asarray(temperature, float))
    except (TypeError, ValueError):
        raise ValueError(f"temperature must be numbers (degC), not {temperature!r:.60}") from None
    lo, hi = PREDICTION_TEMPERATURE_LIMITS
    if temps.size == 0 or (lo <= temps.min() and temps.max() <= hi):  # NaN fails both comparisons
        return temps
    bad = ~np.isfinite(temps)
    if bad.any():
        raise ValueError(f"temperature must be finite; {int(bad.sum())} of {temps.size} are NaN or infinite")
    out = (temps < lo) | (temps > hi)
    if out.any():
        raise ValueError(f"{int(out.sum())} temperature(s) outside the plausible {lo:g} to {hi:g} degC "
                         "(darkmodel.calibration.plausibility.PREDICTION_TEMPERATURE_LIMITS): no prediction")
    return temps


def _fit_group_task(job, replicate_pool=None) -> GroupFit:
    model, channel, int_time, rows, offset, stream = job
    return model._fit_group(channel, int_time, rows, offset, np.random.default_rng(stream), replicate_pool)


def _days(files: pd.DataFrame, mixture: MixtureFit | None = None):
    days = files["days"].to_numpy(float)
    if not np.all(np.isfinite(days)):
        return None
    if mixture is not None and mixture.covariates.time_degree == 0:
        return None
    return days


def _version() -> str:
    from .. import __version__

    return __version__


def fit(calibrated: pd.DataFrame, **settings) -> DarkRateModel:
    """Fit a :class:`DarkRateModel` to a calibrated table.

    Parameters
    ----------
    calibrated : pandas.DataFrame
        Output of :func:`darkmodel.calibrate`.
    **settings
        Passed to :class:`DarkRateModel` (``method``, ``k_max``, ``min_files``, ...).

    Returns
    -------
    DarkRateModel
        The fitted model.
    """
    return DarkRateModel(**settings).fit(calibrated)
