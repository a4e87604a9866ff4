"""The flip-flop test on small simulated archives of every scenario, and its parts by hand."""

import math
import warnings

import numpy as np
import pandas as pd
import pytest

import darkmodel as dm
from darkmodel.flipflop import test as ff
from darkmodel.stats import bootstrap

N_BOOT = 199
ALPHA = 0.01


def _run(tmp_path_factory, name, **kw):
    out = tmp_path_factory.mktemp(name)
    truth = dm.simulate_archive(out, days=60, **kw)
    calibrated = dm.calibrate(dm.scan(out, n_jobs=1).table)
    model = dm.fit(calibrated)
    return calibrated, truth, model, dm.flipflop_test(calibrated, model, n_boot=N_BOOT, alpha=ALPHA, random_state=1, n_jobs=2)


def _verdicts(result):
    return {(r.XUV, r.INT_TIME): r.verdict for r in result.table.itertuples()}


@pytest.fixture(scope="module")
def flipflop(tmp_path_factory):
    return _run(tmp_path_factory, "ff", n_files=320, scenario="flipflop", random_state=2, flip_groups=(("FUV", 14400),))


@pytest.mark.slow
def test_flipflop_archive_gets_flipflop_where_it_switches(flipflop):
    _, truth, _, result = flipflop
    verdicts = _verdicts(result)
    assert verdicts[("FUV", 14400)] == "flip-flop"
    others = {k: v for k, v in verdicts.items() if k != ("FUV", 14400)}
    assert set(others.values()) <= {"single-state", "insufficient-data"}
    row = result.table.set_index(["XUV", "INT_TIME"]).loc[("FUV", 14400)]
    # the effect is the ratio of dark currents: exactly 1 + contrast in the simulator
    assert row["effect_ci_low"] <= 1.15 <= row["effect_ci_high"]
    switches = truth[(truth["XUV"] == "FUV") & (truth["INT_TIME"] == 14400)].groupby("FILENAME", sort=False)
    true_switches = int((switches["state"].first().diff().abs() > 0).sum())
    assert abs(row["n_switches"] - true_switches) <= 2
    assert row["p_memory"] < ALPHA and row["returns"] >= 2 and row["dwell_hours_median"] > 0
    assert 0 < row["p_families_mc_se"] < 0.05
    # the second view (statsmodels' Markov-switching regression) is filled in: it was NaN here
    # while BFGS ran from random starts to a NaN likelihood
    assert 0 < row["ms_p00"] < 1 and 0 < row["ms_p11"] < 1
    assert 0 < row["ms_duration_hours_0"] < 1e4 and 0 < row["ms_duration_hours_1"] < 1e4


def test_the_test_leaves_the_model_alone_and_is_saved_with_it_explicitly(flipflop, tmp_path):
    calibrated, _, model, result = flipflop
    before = model.to_dict()
    again = dm.flipflop_test(calibrated, model, n_boot=39, alpha=0.05, random_state=3, n_jobs=1)
    assert model.to_dict() == before and model.flipflop_ is None
    loaded = dm.DarkRateModel.load(model.save(tmp_path / "m.json", flipflop=result))
    assert loaded.flipflop_.table["verdict"].tolist() == result.table["verdict"].tolist()
    assert loaded.flipflop_.settings == {**result.settings}  # n_boot, alpha, seed survive the round trip
    assert loaded.flipflop_.settings["n_boot"] == N_BOOT and loaded.flipflop_.settings["alpha"] == ALPHA
    # a saved-and-loaded model keeps its verdicts when saved again without them
    assert dm.DarkRateModel.load(loaded.save(tmp_path / "m2.json")).flipflop_.settings["random_state"] == 1
    assert again.settings["random_state"] == 3


def test_result_object_summary_and_intervals(flipflop):
    _, _, _, result = flipflop
    summary = result.summary()
    text = summary.as_text()
    assert "FUV  14400 ms  flip-flop" in text and "alpha = 0.01" in text and str(summary) == text
    assert all(sentence.replace("\u00a0", " ") in text for sentence in result.answer().values())
    table = summary.tables[-1]
    assert list(table["verdict"]) == list(result.table["verdict"])  # the same verdicts, as a table
    html = summary._repr_html_()
    assert html.count("<table") == 1 and "FUV" in html and "flip-flop" in html
    row = result.table.set_index(["XUV", "INT_TIME"]).loc[("FUV", 14400)]
    ci95 = result.conf_int(0.05).set_index(["XUV", "INT_TIME"]).loc[("FUV", 14400)]
    ci50 = result.conf_int(0.5).set_index(["XUV", "INT_TIME"]).loc[("FUV", 14400)]
    # the 95 % interval is the one the test reports; a 50 % one lies inside it
    assert ci95["lower"] == pytest.approx(row["effect_ci_low"]) and ci95["upper"] == pytest.approx(row["effect_ci_high"])
    assert ci95["lower"] < ci50["lower"] < row["effect_ratio"] < ci50["upper"] < ci95["upper"]
    assert result.to_frame().attrs["n_boot"] == N_BOOT and "flip-flop: 1" in repr(result)


@pytest.mark.slow
def test_stable_archive_gets_no_flipflop(tmp_path_factory):
    _, _, _, result = _run(tmp_path_factory, "stable", n_files=260, scenario="stable", random_state=3)
    # one state in the truth: every group with enough files is single-state
    table = result.table
    assert (table.loc[table["n_files"] >= 12, "verdict"] == "single-state").all(), table[["XUV", "INT_TIME", "reason"]]
    assert (table.loc[table["n_files"] < 12, "verdict"] == "insufficient-data").all()


@pytest.mark.slow
def test_changepoint_archive_gets_changepoint(tmp_path_factory):
    _, _, _, result = _run(tmp_path_factory, "cp", n_files=500, scenario="changepoint", random_state=4,
                           changepoint_groups=(("FUV", 14400), ("MUV", 14400)))
    verdicts = _verdicts(result)
    assert verdicts[("FUV", 14400)] == "change-point" and verdicts[("MUV", 14400)] == "change-point"
    assert "flip-flop" not in verdicts.values()
    row = result.table.set_index(["XUV", "INT_TIME"]).loc[("MUV", 14400)]
    assert row["cv_score_changepoint"] > row["cv_score_switching"] and row["changepoints"]


@pytest.mark.slow
def test_families_explained_by_binning_get_confounded(tmp_path_factory):
    _, _, _, result = _run(tmp_path_factory, "conf", n_files=300, scenario="confounded", random_state=5)
    row = result.table.set_index(["XUV", "INT_TIME"]).loc[("MUV", 14400)]
    assert row["verdict"] == "confounded" and "binning" in row["confounded_by"]
    assert "Cramer's V" in row["confounders"]


def test_too_few_files_is_insufficient_data(flipflop):
    calibrated, _, model, _ = flipflop
    result = dm.flipflop_test(calibrated, model, n_boot=N_BOOT, min_files=10_000, n_jobs=1)
    assert (result.table["verdict"] == "insufficient-data").all()


def test_sequential_p_value_is_uniform_under_the_null():
    rng = np.random.default_rng(0)
    ps = [bootstrap.sequential_p(rng.random(), lambda _: rng.random(), 99)[0] for _ in range(400)]
    # P(p <= a) ~ a for a valid p-value
    assert abs(np.mean(np.asarray(ps) <= 0.1) - 0.1) < 0.04
    assert abs(np.mean(np.asarray(ps) <= 0.5) - 0.5) < 0.07
    p, se, used = bootstrap.sequential_p(10.0, lambda _: 0.0, 99)
    assert p == pytest.approx(1 / 100) and used == 99 and se > 0
    p, _, used = bootstrap.sequential_p(-1.0, lambda _: 0.0, 99)
    assert p == 1.0 and used == bootstrap._EXCEED_STOP  # stops after the set number of exceedances


def test_runs_and_dwell_times_by_hand():
    files = pd.DataFrame({"Time": pd.to_datetime(["2015-01-01 00:00", "2015-01-01 02:00", "2015-01-01 05:00",
                                                  "2015-01-01 06:00", "2015-01-01 10:00"])})
    runs = ff._runs(files, np.array([0, 0, 1, 1, 0]))
    assert runs["n_switches"] == 2 and runs["n_runs"] == 3 and runs["returns"] == 1
    assert runs["dwell_hours_0"] == pytest.approx(5.0)   # 00:00 -> 05:00 (the last run is censored)
    assert runs["dwell_hours_1"] == pytest.approx(5.0)   # 05:00 -> 10:00
    assert runs["min_runs_per_state"] == 1
    assert runs["min_long_runs_per_state"] == 1  # the last run of state 0 is a single file


def test_line_cost_equals_ruptures_cost_linear():
    """The cumulative-sum cost is ruptures' CostLinear: same segment costs, same breakpoints."""
    import ruptures
    from ruptures.costs import CostLinear

    rng = np.random.default_rng(4)
    for trial in range(20):
        n = int(rng.integers(30, 300))
        t = np.round(rng.uniform(-22, -14, n) / 0.075) * 0.075
        t[10:17] = t[10]  # a stretch of one recorded temperature: lstsq's rank-deficient case
        steps = np.cumsum(rng.random(n) < 3.0 / n) * 0.05
        y = -1.1 + 0.09 * (t + 18) + steps + rng.standard_t(4, n) * 0.01
        signal = np.column_stack([y, np.ones(n), t + 18.0])
        reference, fast = CostLinear().fit(signal), ff._line_cost().fit(signal)
        for start, end in [(10, 17), (0, n), (3, n - 2)] + [tuple(sorted(rng.choice(n + 1, 2, replace=False)))
                                                             for _ in range(30)]:
            if end - start < 2:
                continue
            assert fast.error(start, end) == pytest.approx(reference.error(start, end), rel=1e-8, abs=1e-12)
        pen = 3.0 * 0.01**2 * np.log(n)
        expect = ruptures.Binseg(model="linear", min_size=5, jump=1).fit(signal).predict(pen=pen)
        got = ruptures.Binseg(custom_cost=ff._line_cost(), min_size=5, jump=1).fit(signal).predict(pen=pen)
        assert got == expect, trial


def test_changepoints_and_held_out_scores():
    rng = np.random.default_rng(1)
    t = rng.uniform(-22, -14, 80)
    y = -1.1 + 0.09 * (t + 18) + np.r_[np.zeros(40), np.full(40, 0.14)] + rng.normal(0, 0.01, 80)
    assert ff._changepoints(y, t) == [40, 80]
    counts = np.full(80, 5.0)
    mix, cp = ff._cv_scores(y, t, counts)
    assert cp > mix  # epochs: the change-point model predicts held-out blocks better
    state = np.tile(np.r_[np.zeros(4), np.ones(4)], 10)
    y_ff = -1.1 + 0.09 * (t + 18) + 0.14 * state + rng.normal(0, 0.01, 80)
    mix, cp = ff._cv_scores(y_ff, t, counts)
    assert mix > cp


def test_confounder_table_by_hand():
    labels = np.array([0] * 20 + [1] * 20)
    files = pd.DataFrame({"binning": ["0/4/89/80"] * 20 + ["0/4/153/80"] * 20, "MCP_VOLT": [-1.83] * 40,
                          "CASE_TEMP": np.r_[np.linspace(5, 5.2, 20), np.linspace(5, 5.2, 20)]})
    findings, culprits = ff._confounders(files, labels, 0.01)
    assert culprits == "binning" and "CASE_TEMP" in findings
    files["binning"] = ["a", "b"] * 20
    assert ff._confounders(files, labels, 0.01)[1] == ""


@pytest.mark.slow
def test_the_test_takes_the_models_families_where_the_model_was_fitted_on_these_data():
    import warnings

    import darkmodel as dm

    table, _ = dm.simulate_table(n_files=700, scenario="flipflop", noise="particles", random_state=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = dm.DarkRateModel(n_boot=59, alpha=0.02, n_jobs=1).fit(table)
        result = dm.flipflop_test(table, model, n_boot=39, alpha=0.05, n_jobs=1)
    assert result.settings["families"] == "the model's"
    k_fit = model.groups.set_index(["XUV", "INT_TIME"])["n_families"]
    k_test = result.table.set_index(["XUV", "INT_TIME"])["n_families"]
    tested = k_test.dropna().index
    up_to_two = [key for key in tested if k_fit[key] <= 2]
    assert len(up_to_two) >= 8
    assert (k_test[up_to_two].astype(int) == k_fit[up_to_two].astype(int)).all()  # one K per group, fit and test
    reasons = result.table.set_index(["XUV", "INT_TIME"])["reason"]
    assert reasons[up_to_two].str.contains("the model's families").all()
    for key in tested:  # more than two in the model: said, not hidden
        if k_fit[key] > 2:
            assert f"the model kept {k_fit[key]} families" in reasons[key]
    # on other data the test finds the families itself
    other, _ = dm.simulate_table(n_files=700, scenario="flipflop", noise="particles", random_state=4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        elsewhere = dm.flipflop_test(other, model, n_boot=39, alpha=0.05, n_jobs=1)
    assert elsewhere.settings["families"] == "fitted by the test"


@pytest.mark.slow
@pytest.mark.parametrize("noise,seed", [("particles", 3), ("mixed", 5)])
def test_issue_20_stable_archives_get_no_step_and_the_fits_families(tmp_path, noise, seed):
    """'simulate --scenario stable --noise particles --seed 3' (and mixed, seed 5), then the chain, as the CLI runs it."""
    import warnings

    dm.simulate_archive(tmp_path / "archive", n_files=400, scenario="stable", noise=noise, random_state=seed)
    calibrated = dm.calibrate(dm.scan(tmp_path / "archive", n_jobs=1).table)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = dm.DarkRateModel(alpha=0.02, n_boot=99, n_jobs=1).fit(calibrated)
        result = dm.flipflop_test(calibrated, model, n_boot=199, alpha=0.05, n_jobs=1)
    table = result.table.set_index(["XUV", "INT_TIME"])
    assert not (table["verdict"] == "change-point").any(), table["reason"].to_dict()  # was FUV and MUV 4200
    assert not (table["verdict"] == "families-without-memory").any()  # was MUV 14400 under mixed noise
    k_fit = model.groups.set_index(["XUV", "INT_TIME"])["n_families"]
    tested = table["n_families"].dropna().index
    assert (table.loc[tested, "n_families"].astype(int) == k_fit[tested].astype(int)).all()
    for reason in table["reason"]:  # no reason says "no step" and claims one
        assert not ("found none" not in reason and "p=1 >=" in reason and "is a step" in reason)


@pytest.mark.slow
def test_without_a_model_the_test_fits_once_at_its_own_level_and_keeps_those_families():
    """Issue 21: the test without a model cost eight fits; now one, at the test's alpha and n_boot."""
    table, _ = dm.simulate_table(n_files=500, scenario="flipflop", random_state=6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = dm.flipflop_test(table, n_boot=39, alpha=0.05, random_state=2, n_jobs=1)
        model = dm.DarkRateModel(alpha=0.05, n_boot=39, random_state=2, n_jobs=1).fit(table)
    assert result.settings["families"] == "fitted here, at the test's alpha"
    k_fit = {key: g.mixture.k for key, g in model.groups_.items() if g.fitted}
    tested = result.table.dropna(subset=["n_families"])
    assert len(tested)
    for r in tested.itertuples():
        if k_fit.get((r.XUV, r.INT_TIME), 0) <= 2:
            assert int(r.n_families) == k_fit[(r.XUV, r.INT_TIME)], r.reason


def test_a_single_state_answer_says_what_its_scatter_could_have_missed():
    from darkmodel.model.verdicts import answer_sentences

    table = pd.DataFrame({"XUV": ["MUV", "MUV"], "INT_TIME": [10200, 60000], "verdict": ["single-state"] * 2,
                          "resolvable_contrast": [0.306, 0.204]})
    sentence = answer_sentences(table)["MUV"].replace("\u00a0", " ")
    assert "states under 20-31 % apart would be missed" in sentence
    assert "10 200 ms, 60 000 ms" in sentence


def test_a_single_state_verdict_says_which_drift_it_could_have_missed():
    from darkmodel.flipflop.test import _resolvable_drift, verdict

    days = np.linspace(0.0, 100.0, 100)
    # by hand: sd 0.01 * span 100 / (std(days) 29.155 * sqrt(100)) = 0.003430; (1.960 + 0.842) x that
    assert _resolvable_drift(days, 0.01, 0.05) == pytest.approx(math.expm1(2.8016 * 0.0034300), rel=1e-3)
    assert np.isnan(_resolvable_drift(np.full(5, 3.0), 0.01, 0.05))  # no spread in time: no power to state
    base = {"n_files": 40, "min_files": 12, "n_families": 1, "family_reason": "1 family", "resolvable_contrast": 0.05}
    tested = verdict({**base, "p_drift": 0.7, "drift_amplitude": 0.02, "resolvable_drift": 0.09}, alpha=0.05)
    assert tested[0] == "single-state" and "nor a drift of less than about 9 % over the period" in tested[1]
    untested = verdict({**base, "p_drift": np.nan, "drift_amplitude": 0.0, "resolvable_drift": np.nan}, alpha=0.05)
    assert untested[0] == "single-state" and "drift not tested" in untested[1] and "nor a drift" not in untested[1]


def test_the_answer_shows_a_limit_under_one_percent_with_its_digit():
    from darkmodel.model.verdicts import _span

    assert _span(pd.Series([0.004, 0.03])) == "0.4-3\u00a0%"  # was "0-3 %"
    assert _span(pd.Series([0.01, 0.26])) == "1-26\u00a0%" and _span(pd.Series([0.2, 0.2])) == "20\u00a0%"
