"""Predictions that say what they are: period-wide or at a time, and where they leave the fit (issue 20)."""

import io
import math
import warnings

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import darkmodel as dm
from darkmodel.cli import main


@pytest.fixture(scope="module")
def drifting(tmp_path_factory):
    """A detector that ages by 8 % over the period; a quarter of its files held out."""
    table, _ = dm.simulate_table(n_files=1200, scenario="drift", random_state=1)
    files = table["FILENAME"].unique()
    held = set(np.random.default_rng(1).choice(files, size=len(files) // 4, replace=False))
    mask = table["FILENAME"].isin(held).to_numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = dm.DarkRateModel(n_boot=19, alpha=0.1, n_jobs=1).fit(table[~mask])
    path = model.save(tmp_path_factory.mktemp("drift") / "m.json")
    return model, table[mask].reset_index(), path


def _coverage(model, test, with_time):
    query = test[["XUV", "INT_TIME", "DET_TEMP"] + (["Time"] if with_time else [])]
    pred = model.predict_table(query)
    return ((test["DN_per_s"] >= pred["lower"]) & (test["DN_per_s"] <= pred["upper"])).mean(), pred


def test_an_interval_without_a_time_covers_an_integration_anywhere_in_a_drifting_period(drifting):
    model, test, _ = drifting
    assert (model.groups["time_trend_degree"] > 0).mean() >= 0.8  # the fit saw the aging
    covered, pred = _coverage(model, test, with_time=False)
    assert 0.92 <= covered <= 0.98, covered  # was 0.36-0.54 with the time-averaged level's own interval
    trend = model.groups.set_index(["XUV", "INT_TIME"])["time_trend_degree"] > 0
    has_trend = trend.reindex(pd.MultiIndex.from_frame(test[["XUV", "INT_TIME"]])).to_numpy()
    assert pred["time_basis"][has_trend].str.startswith("period-wide").all()
    assert (pred["time_basis"][~has_trend] == "no change in time fitted").all()
    covered, pred = _coverage(model, test, with_time=True)
    assert 0.92 <= covered <= 0.98, covered
    assert (pred["time_basis"][has_trend] == "at the given time").all()
    # held-out files a few days beyond a group's first or last fitted file are flagged, and only those
    assert pred["time_outside"].mean() < 0.01


def test_a_time_column_named_time_and_a_time_outside_the_period_are_flagged(drifting):
    model, test, _ = drifting
    query = test[["XUV", "INT_TIME", "DET_TEMP", "Time"]].head(3).rename(columns={"Time": "time"})
    query["time"] = [query["time"].iloc[0], pd.Timestamp("2030-01-01"), query["time"].iloc[2]]
    pred = model.predict_table(query)
    assert pred["time_outside"].tolist() == [False, True, False]
    assert "time outside the fitted period" in pred["flags"].iloc[1] and pred["flags"].iloc[0] == ""


def test_cli_predict_takes_times_and_says_when_it_answers_for_the_whole_period(drifting):
    model, test, path = drifting
    runner = CliRunner()
    base = ["predict", str(path), "--channel", "MUV", "--int-time", "4200", "--temp", "-18", "--temp", "-17"]
    period = runner.invoke(main, base)
    assert period.exit_code == 0, period.output
    assert "period-wide" in period.stderr
    first, last = test["Time"].min(), test["Time"].max()
    timed = runner.invoke(main, [*base, "--time", str(first), "--time", str(last)])
    assert timed.exit_code == 0, timed.output
    rows = pd.read_csv(io.StringIO(timed.stdout))
    assert (rows["time_basis"] == "at the given time").all() and "period-wide" not in timed.stderr
    # the detector ages: the later level is higher, and both lie inside the period-wide interval
    wide = pd.read_csv(io.StringIO(period.stdout))
    assert rows["DN_per_s"].iloc[1] > rows["DN_per_s"].iloc[0] * 1.03
    assert (wide["upper"] - wide["lower"]).iloc[0] > (rows["upper"] - rows["lower"]).iloc[0]
    bad = runner.invoke(main, [*base, "--time", "yesterday-ish"])
    assert bad.exit_code == 1 and "--time" in bad.output and "Traceback" not in bad.output


@pytest.fixture(scope="module")
def held_out_int_times():
    """A stable archive with INT_TIMEs 1000, 1900 and 6000 ms besides the usual five; those three left out of the fit."""
    import dataclasses

    from darkmodel.simulate.archive import SEGMENTS

    segments = dict(SEGMENTS)
    segments["short"] = dataclasses.replace(SEGMENTS["outbound"], int_time=1000, weight=0.1)
    segments["mid"] = dataclasses.replace(SEGMENTS["outbound"], int_time=1900, weight=0.1)
    segments["six"] = dataclasses.replace(SEGMENTS["periapse"], int_time=6000, weight=0.1)
    table, _ = dm.simulate_table(n_files=1500, scenario="stable", random_state=5, segments=segments)
    left_out = table["INT_TIME"].isin([1000, 1900, 6000]).to_numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = dm.DarkRateModel(n_boot=19, alpha=0.1, n_jobs=1).fit(table[~left_out])
    return model, table[left_out].reset_index()


def test_an_int_time_never_fitted_gets_an_interval_that_covers(held_out_int_times):
    model, test = held_out_int_times
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pred = model.predict_table(test[["XUV", "INT_TIME", "DET_TEMP", "Time"]])
    inside = (test["DN_per_s"] >= pred["lower"]) & (test["DN_per_s"] <= pred["upper"])
    per_group = inside.groupby([test["XUV"], test["INT_TIME"]]).mean()
    assert 0.92 <= inside.mean() <= 0.98, per_group  # was 0.49-0.88 with a width that ignored INT_TIME
    assert per_group.min() >= 0.88, per_group
    # read noise is additive in DN: the relative width grows as the INT_TIME shortens
    width = ((pred["upper"] - pred["lower"]) / pred["DN_per_s"]).groupby(test["INT_TIME"]).median()
    assert width[1000] > width[1900] > width[6000]
    assert not pred["int_time_fitted"].any()
    assert pred["flags"].str.contains("never fitted").all() and pred["source"].str.startswith("joint").all()


def test_the_law_scatter_is_measured_and_saved(held_out_int_times, tmp_path):
    model, _ = held_out_int_times
    for joint in model.joint_.values():
        # the simulator's frame jitter: 5 % of a 1.29 DN read offset, additive in DN per read
        assert 0.03 < joint.scatter_additive < 0.09
        assert joint.group_bias < 0.02
    loaded = dm.DarkRateModel.load(model.save(tmp_path / "m.json"))
    assert loaded.joint_["MUV"].scatter_additive == model.joint_["MUV"].scatter_additive


def test_the_law_scatter_shape_is_interpolated_in_log_int_time_by_hand():
    from scipy import stats

    from darkmodel.stats.joint import QUANTILE_LEVELS, JointModel

    t3 = stats.t(3).ppf(QUANTILE_LEVELS)
    gauss = stats.norm.ppf(QUANTILE_LEVELS)
    joint = JointModel(1.29, -1.1, 0.09, np.zeros((3, 3)), 0.01, 100, [1000, 10000], 1.0,
                       residual_quantiles={"int_times": [1000, 10000], "q": [list(t3), list(gauss)]})
    p = [0.025, 0.975]
    assert joint.standard_quantile(p, 1000) == pytest.approx(stats.t(3).ppf(p))  # at a fitted INT_TIME: its own
    assert joint.standard_quantile(p, 10000) == pytest.approx(stats.norm.ppf(p))
    # halfway in log t (sqrt(1000 * 10000) ms): halfway between the two
    assert joint.standard_quantile(p, math.sqrt(1e7)) == pytest.approx(0.5 * (stats.t(3).ppf(p) + stats.norm.ppf(p)))
    assert joint.standard_quantile(p, 100) == pytest.approx(stats.t(3).ppf(p))  # beyond: the nearest
    # beyond the kept levels the Gaussian's tail, scaled to meet the last kept quantile
    assert joint.standard_quantile([0.999], 10000)[0] == pytest.approx(stats.norm.ppf(0.999))
    assert JointModel(1.29, -1.1, 0.09, np.zeros((3, 3)), 0.01, 100, [1000], 1.0).standard_quantile(p, 4000) \
        == pytest.approx(stats.norm.ppf(p))  # nothing measured: Gaussian
