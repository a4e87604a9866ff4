"""The statistics on data they were not built from: noise structures, limits, verdict rule.

The noise model is checked against hand-built per-file data with known scatter; the family
count, the intervals and the verdicts against ``simulate_table`` archives whose scatter is
proportional, heavy-tailed or drifting (the model assumes none of these exactly).
"""

import math
import warnings

import numpy as np
import pandas as pd
import pytest

import darkmodel as dm
from darkmodel.flipflop import test as ff
from darkmodel.model.estimator import ExtrapolationWarning, UnidentifiedModelError
from darkmodel.simulate.archive import noise_knobs, simulate_table
from darkmodel.stats import bootstrap, mixture
from darkmodel.stats import families as F
from darkmodel.stats.noise import NoiseModel, robust_scale


def _files(n=600, additive=0.01, relative=0.02, df=None, seed=0, contrast=0.0, states=None):
    rng = np.random.default_rng(seed)
    t = rng.uniform(-24, -12, n)
    counts = rng.choice([1.0, 2.0, 5.0], n)
    current = 0.33 * 2 ** ((t + 18) / 7.5)
    state = np.zeros(n) if states is None else states
    current = current * (1 + contrast * state)
    noise = rng.standard_normal(n) if df is None else rng.standard_t(df, n)
    rate = current * (1 + relative * rng.standard_normal(n)) + additive / np.sqrt(counts) * noise
    return t, np.log(rate), counts


def test_noise_model_recovers_additive_and_relative_scatter_by_hand():
    t, y, counts = _files(n=4000, additive=0.01, relative=0.02)
    fit = mixture.fit_mixreg(t, y, 1, counts=counts, df=math.inf)
    assert fit.noise.additive == pytest.approx(0.01, rel=0.15)
    assert fit.noise.relative == pytest.approx(0.02, rel=0.1)
    assert fit.coef[0] == pytest.approx(math.log(2) / 7.5, rel=0.03)


def test_heavy_tails_are_recognised():
    t, y, counts = _files(n=3000, additive=0.0, relative=0.01, df=3, seed=2)
    t2 = t  # the relative part is Gaussian here; make the tails heavy directly
    rng = np.random.default_rng(3)
    y_heavy = np.log(0.33 * 2 ** ((t2 + 18) / 7.5)) + 0.01 * rng.standard_t(3, len(t2))
    fit = mixture.fit_mixreg(t2, y_heavy, 1, counts=counts)
    assert fit.noise.df <= 5
    gauss = mixture.fit_mixreg(t2, y_heavy, 1, counts=counts, df=math.inf)
    assert fit.loglik > gauss.loglik


@pytest.mark.parametrize("relative,df", [(0.03, None), (0.02, 3.0)])
def test_one_state_with_wide_or_heavy_scatter_is_one_family(relative, df):
    t, y, counts = _files(n=400, additive=0.005, relative=relative, df=df, seed=5)
    sel = F.select_families(t, y, counts=counts, n_boot=59, alpha=0.02, random_state=1)
    assert sel.k == 1, sel.reason
    assert sel.reason.startswith("1 family")


def test_two_states_ten_percent_apart_are_two_families():
    rng = np.random.default_rng(1234)  # not the stream of the temperatures
    states = (rng.random(300) < 0.4).astype(float)
    t, y, counts = _files(n=300, additive=0.005, relative=0.015, seed=8, contrast=0.10, states=states)
    sel = F.select_families(t, y, counts=counts, n_boot=59, alpha=0.02, random_state=1)
    assert sel.k == 2, sel.reason
    assert sel.fit.intercepts[1] - sel.fit.intercepts[0] == pytest.approx(math.log(1.10), abs=0.01)
    labels = sel.fit.posterior(t, y, counts).argmax(axis=1)
    assert (labels == states).mean() > 0.97
    assert sel.table.loc[sel.table["K"] == 2, "p_value"].iloc[0] < 0.02


def test_a_bootstrap_that_cannot_reject_is_refused():
    with pytest.raises(ValueError, match="cannot reject at alpha=0.01"):
        bootstrap.check_monte_carlo(99, 0.01)
    bootstrap.check_monte_carlo(199, 0.01)
    with pytest.raises(ValueError, match="cannot reject"):
        dm.flipflop_test(pd.DataFrame(), model=None, n_boot=99, alpha=0.01)


def test_noise_model_round_trip_and_robust_scale():
    noise = NoiseModel(0.01, 0.02, 5.0)
    assert NoiseModel.from_dict(noise.to_dict()) == noise
    gauss = NoiseModel(0.0, 0.02, math.inf)
    assert NoiseModel.from_dict(gauss.to_dict()).df == math.inf
    # at the median (z = 0.6745) a Gaussian's CDF is 0.75
    assert float(gauss.cdf(0.6744897501960817)) == pytest.approx(0.75)
    assert float(noise.sd_factor()) == pytest.approx(math.sqrt(5 / 3))
    assert robust_scale([1.0, 2.0, 3.0, 4.0, 100.0]) == pytest.approx(1.4826)


# ---------------------------------------------------------------- archives
@pytest.fixture(scope="module")
def proportional():
    table, truth = simulate_table(n_files=1400, scenario="stable", noise="proportional", random_state=11)
    return table, truth, dm.DarkRateModel(n_boot=59, n_jobs=2).fit(table)


def test_proportional_scatter_makes_no_families(proportional):
    _, _, model = proportional
    groups = model.groups
    big = groups[groups["n_files"] >= 100]
    assert len(big) >= 4
    assert (big["n_families"] == 1).all(), big[["XUV", "INT_TIME", "reason"]]
    # the relative scatter is found: 1 % per file in the simulator
    assert big["noise_relative"].median() == pytest.approx(0.01, abs=0.004)


def test_intervals_cover_in_every_temperature_third(proportional):
    table, truth, model = proportional
    frame = table.reset_index()
    inside, third = [], []
    for (xuv, it), g in frame.groupby(["XUV", "INT_TIME"]):
        if not model.groups_[(xuv, it)].fitted:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ExtrapolationWarning)
            lo, hi = model.predict_interval(g["DET_TEMP"], channel=xuv, int_time=it, time=g["Time"])
        inside.append((g["DN_per_s"].to_numpy() >= lo) & (g["DN_per_s"].to_numpy() <= hi))
        third.append(pd.qcut(g["DET_TEMP"], 3, labels=False).to_numpy())
    inside, third = np.concatenate(inside), np.concatenate(third)
    assert 0.93 <= inside.mean() <= 0.97
    for j in range(3):
        assert 0.90 <= inside[third == j].mean() <= 0.99, j


def test_predictions_match_the_truth_and_warn_outside_the_range(proportional):
    table, truth, model = proportional
    frame = table.reset_index().assign(true=truth["DN_per_s_true"].to_numpy())
    errors = []
    for (xuv, it), g in frame.groupby(["XUV", "INT_TIME"]):
        errors.append(np.abs(model.predict(g["DET_TEMP"], channel=xuv, int_time=it, time=g["Time"]) / g["true"] - 1))
    assert np.median(np.concatenate(errors)) < 0.01
    g = model.groups_[("MUV", 4200)]
    inside = np.array([np.mean(g.temp_range)])
    with warnings.catch_warnings():
        warnings.simplefilter("error", ExtrapolationWarning)
        lo_in, hi_in = model.predict_interval(inside, channel="MUV", int_time=4200)
    for far in (g.temp_range[1] + 40.0, g.temp_range[0] - 40.0):
        with pytest.warns(ExtrapolationWarning, match="outside the fitted range"):
            lo, hi = model.predict_interval([far], channel="MUV", int_time=4200)
            mid = model.predict([far], channel="MUV", int_time=4200)
        assert (hi - lo) / mid > (hi_in - lo_in) / model.predict(inside, channel="MUV", int_time=4200)
    assert model.extrapolation([g.temp_range[1] + 40.0, inside[0]], channel="MUV", int_time=4200).tolist() == [
        True, False]


def test_drift_is_a_drift_not_families_or_flipflop():
    table, truth = simulate_table(n_files=1000, scenario="drift", noise="additive", random_state=12,
                                  channels=("MUV",), drift_amplitude=0.08)
    model = dm.DarkRateModel(n_boot=59, n_jobs=2).fit(table)
    result = dm.flipflop_test(table, model, n_boot=59, alpha=0.05, random_state=1, n_jobs=2).table
    big = result[result["n_files"] >= 100]
    assert "flip-flop" not in set(result["verdict"])
    assert (big["verdict"] == "drift").mean() >= 0.5, big[["INT_TIME", "verdict", "reason"]]
    drift = big[big["verdict"] == "drift"]
    assert drift["drift_amplitude"].between(0.04, 0.12).all()
    assert (model.groups.loc[model.groups["n_files"] >= 100, "n_families"] == 1).all()


def test_simulator_noise_structures_are_named():
    assert noise_knobs("heavy")["jitter_df"] == 3.0
    assert noise_knobs("proportional", frame_jitter=0.02)["frame_jitter"] == 0.02
    with pytest.raises(ValueError, match="noise must be one of"):
        noise_knobs("pink")
    table, truth = simulate_table(n_files=50, scenario="stable", noise="temperature", random_state=1)
    # the true dark current differs from the law at the recorded temperature by ~2 % (0.25 degC)
    law = truth["DN_per_s_true"] - 1.29 / (table["INT_TIME"] / 1000.0)
    ratio = truth["rate_true"] / law
    assert 0.01 < float(np.std(np.log(ratio))) < 0.04


# ---------------------------------------------------------------- limits
def test_a_short_temperature_span_or_one_int_time_is_not_identifiable():
    rng = np.random.default_rng(0)
    n = 60
    frame = pd.DataFrame({"XUV": "MUV", "INT_TIME": 14400, "DET_TEMP": rng.uniform(-18.3, -17.8, n),
                          "DN_per_s": 0.42 * (1 + 0.01 * rng.standard_normal(n)),
                          "FILENAME": [f"f{i}" for i in range(n)]},
                         index=pd.DatetimeIndex(pd.date_range("2015-01-01", periods=n, freq="h"), name="Time"))
    model = dm.fit(frame, n_boot=59)
    joint = model.joint.iloc[0]
    assert not joint["identified"] and "not separable" in joint["reason"] and "span" in joint["reason"]
    status = model.groups.iloc[0]["status"]
    assert status.startswith("not identifiable: temperature span 0.")
    with pytest.raises(UnidentifiedModelError, match="not identifiable"):
        model.predict([-18.0], channel="MUV", int_time=14400)
    with pytest.raises(UnidentifiedModelError):
        model.predict_interval([-30.0], channel="MUV", int_time=4200)
    assert model.prediction_source("MUV", 14400).startswith("none: ")


# ---------------------------------------------------------------- the verdict rule
BASE = {"n_files": 200, "min_files": 12, "n_families": 2, "family_reason": "2 families: p=0.001",
        "confounded_by": "", "min_runs_per_state": 5, "p_memory": 0.001, "cv_score_switching": 1.0,
        "cv_score_changepoint": 0.5}


@pytest.mark.parametrize("change,expected", [
    ({}, "flip-flop"),
    ({"p_memory": 0.4, "memory_power": 0.93, "switching_tau_hours": 40.0}, "families-without-memory"),
    ({"p_memory": 0.4, "memory_power": 0.31, "switching_tau_hours": 12.0}, "inconclusive"),
    ({"p_memory": 0.4}, "inconclusive"),  # no power estimate: no negative claim
    ({"min_runs_per_state": 1}, "change-point"),
    ({"cv_score_changepoint": 2.0}, "change-point"),
    ({"confounded_by": "binning"}, "confounded"),
    ({"n_families": 1, "p_drift": 0.001, "drift_amplitude": 0.05}, "drift"),
    ({"n_families": 1, "p_drift": 0.001, "drift_amplitude": 0.05, "step_delta_bic": 4.0}, "drift"),
    ({"n_families": 1, "p_drift": 0.001, "drift_amplitude": 0.05, "step_delta_bic": -9.0}, "change-point"),
    ({"n_families": 1, "p_drift": 0.001, "drift_amplitude": 0.05, "step_delta_bic": -9.0, "p_epochs": 0.01},
     "change-point"),
    # the bootstrap test of one step found none: no step is claimed, whatever the BIC of several says
    ({"n_families": 1, "p_drift": 0.001, "drift_amplitude": 0.05, "step_delta_bic": -9.0, "p_epochs": 1.0}, "drift"),
    ({"n_families": 1, "p_drift": 0.001, "drift_amplitude": 0.004}, "single-state"),
    ({"n_families": 1, "p_drift": 0.3, "drift_amplitude": 0.05}, "single-state"),
    ({"n_files": 3}, "insufficient-data"),
])
def test_verdict_rule_uses_all_its_evidence(change, expected):
    got, reason = ff.verdict({**BASE, **change}, alpha=0.05)
    assert got == expected
    assert reason and (expected != "flip-flop" or "memory" in reason)
    if expected in ("families-without-memory", "inconclusive"):
        assert "p=0.4" in reason and "power" in reason
    if expected == "inconclusive":
        assert "cannot tell" in reason
    if change.get("p_epochs") == 1.0:
        assert "found none (p=1 >= 0.05)" in reason and "a step" not in reason.split("found none")[1]


def _series(shape, n=300, seed=3):
    rng = np.random.default_rng(seed)
    times = pd.date_range("2015-01-01", periods=n, freq="9h")
    frac = np.linspace(0, 1, n)
    t = -18 + 3 * np.sin(np.arange(n) / 7.0) + rng.normal(0, 0.3, n)
    level = {"step": 0.12 * (frac > 0.5), "smooth": 0.08 * (1 - np.exp(-2 * frac)) / (1 - np.exp(-2))}[shape]
    y = math.log(0.33) + math.log(2) / 7.5 * (t + 18) + np.log1p(level) + rng.normal(0, 0.01, n)
    files = pd.DataFrame({"T": t, "y": y, "n": 1.0, "Time": times,
                          "days": (times - pd.Timestamp("1970-01-01")).total_seconds() / 86400.0})
    one = mixture.fit_mixreg(files["T"], files["y"], 1, counts=files["n"], days=files["days"])
    return files, one


def test_a_step_in_time_is_told_from_a_smooth_drift():
    files, one = _series("step")
    delta, when = ff._step_or_trend(files, one)
    assert delta < 0 and when == "2015-02-26 06:00:00"  # file 150: 1350 h after the first
    files, one = _series("smooth")
    delta, _ = ff._step_or_trend(files, one)
    assert not delta < 0


def test_the_nine_real_files_give_no_confident_prediction(real_files):
    calibrated = dm.calibrate(dm.scan(real_files, n_jobs=1).table)
    model = dm.fit(calibrated, n_boot=59)
    assert not model.joint["identified"].any()
    assert model.joint["reason"].str.contains("INT_TIME 400 ms only").all()
    assert model.groups["status"].str.startswith("too small to fit: 2 dark files").all()
    for channel in ("FUV", "MUV"):
        for temp in (-30.0, 0.0):
            with pytest.raises(UnidentifiedModelError, match="cannot predict"):
                model.predict([temp], channel=channel, int_time=400)


def test_a_one_sided_particle_excess_is_neither_a_family_nor_a_shift_of_the_level():
    rng = np.random.default_rng(21)
    n = 800
    t = rng.uniform(-24, -12, n)
    truth = math.log(0.33) + math.log(2) / 7.5 * (t + 18)
    hit = rng.random(n) < 0.2
    y = truth + 0.01 * rng.standard_normal(n) + np.where(hit, rng.exponential(0.05, n), 0.0)
    sel = F.select_families(t, y, n_boot=59, alpha=0.02, random_state=2)
    assert sel.k == 1, sel.reason
    noise = sel.fit.noise
    assert noise.excess == pytest.approx(0.2, abs=0.06)
    assert noise.excess_scale == pytest.approx(0.05, rel=0.3)
    # the level is the hit-free one: a plain fit would sit pi * lam = 1 % higher
    level = sel.fit.mean_log_rate(t)[:, 0]
    assert abs(np.median(level - truth)) < 0.002
    # the predictive distribution of the residuals against a Monte-Carlo draw of the model
    draws = 0.01 * rng.standard_normal(200_000) + np.where(rng.random(200_000) < 0.2,
                                                           rng.exponential(0.05, 200_000), 0.0)
    model = NoiseModel(0.0, 0.01, math.inf, 0.01, 0.2, 0.05)
    for r in (-0.01, 0.0, 0.02, 0.08):
        assert float(model.predictive_cdf(r, 0.01)) == pytest.approx(np.mean(draws <= r), abs=0.004)


@pytest.mark.slow
def test_per_integration_intervals_cover_under_particle_hits():
    # hits add a one-sided excess to single integrations that the file medians hide: without
    # the PIT recalibration the 14.4 s groups covered 0.89-0.90
    table, truth = simulate_table(n_files=1400, scenario="stable", noise="particles", random_state=13)
    model = dm.DarkRateModel(n_boot=59, n_jobs=2).fit(table)
    frame = table.reset_index()
    checked = 0
    for (xuv, it), g in frame.groupby(["XUV", "INT_TIME"]):
        fit = model.groups_.get((xuv, it))
        if fit is None or not fit.fitted or len(g) < 1000:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ExtrapolationWarning)
            lo, hi = model.predict_interval(g["DET_TEMP"], channel=xuv, int_time=it, time=g["Time"])
        inside = (g["DN_per_s"].to_numpy() >= lo) & (g["DN_per_s"].to_numpy() <= hi)
        third = pd.qcut(g["DET_TEMP"], 3, labels=False).to_numpy()
        assert 0.93 <= inside.mean() <= 0.97, (xuv, it, inside.mean())
        for j in range(3):
            assert 0.92 <= inside[third == j].mean() <= 0.98, (xuv, it, j)
        checked += 1
    assert checked >= 2


def test_a_short_burst_in_a_smooth_drift_is_not_a_change_point(monkeypatch):
    files, one = _series("smooth")
    files.loc[200:205, "y"] += 0.05  # six odd files in a row
    one = mixture.fit_mixreg(files["T"], files["y"], 1, counts=files["n"], days=files["days"])
    # the segmentation finds the burst (200 -> 206): too short (< 30 files) to be an epoch
    monkeypatch.setattr(ff, "_changepoints", lambda y, t: [200, 206, len(y)])
    delta, when = ff._step_or_trend(files, one)
    assert when == files["Time"].iloc[200].isoformat(sep=" ") or np.isnan(delta)
    assert "2015-03-19" not in when  # file 206 is not a step


def test_the_memory_test_knows_its_power_against_the_fitted_switching_law():
    rng = np.random.default_rng(0)
    n = 300
    times = pd.Series(pd.date_range("2015-01-01", periods=n, freq="6h"))
    files = pd.DataFrame({"Time": times, "T": -18 + 3 * np.sin(np.arange(n) / 7.0)})
    hours = np.arange(n) * 6.0
    # persistent states (a switch every ~5 files): the fitted law persists and the test sees it
    sticky = np.cumsum(rng.random(n) < 0.1) % 2
    pi, tau = ff._switching_law(hours, sticky)
    # 6 h between files, P(switch) 0.1 = (1 - pi)(1 - exp(-6 / tau)) with pi 0.5 -> tau = 6 / ln(1 / 0.8) = 26.9 h
    assert 0.3 < pi < 0.7 and 18 < tau < 40
    power, _ = ff._memory_power(files, sticky, 0.05, rng)
    assert power >= 0.9
    # labels without memory: the fitted law has none, and the test cannot claim to have looked
    iid = (rng.random(n) < 0.5).astype(int)
    power, tau = ff._memory_power(files, iid, 0.05, rng)
    assert tau < 3.0 and power < 0.3
