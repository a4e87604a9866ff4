"""Families that are epochs in time: a step the per-file scatter hides from a mixture.

References are hand-built per-file data (known step, time and scatter), the simulator's
truth (states and rates of a change-point archive) and the exact likelihood of the step
model at every cut, computed here by brute force.
"""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.metrics import adjusted_rand_score

import darkmodel as dm
from darkmodel.model.estimator import ModelFileError
from darkmodel.simulate.archive import dark_current, simulate_table
from darkmodel.stats import epochs as E
from darkmodel.stats import families as F
from darkmodel.stats import mixture


def _step_files(n=400, step=0.12, sd=0.08, drift=0.0, seed=0, cut_at=0.55):
    """Per-file data whose levels overlap: a step of 1.5 within-family sd at 55 % of the period."""
    rng = np.random.default_rng(seed)
    days = np.sort(rng.uniform(16000, 16120, n))
    frac = (days - days[0]) / np.ptp(days)
    t = -18 + 3 * np.sin(frac * 7) + rng.normal(0, 1, n)
    after = frac > cut_at
    y = -1 + 0.09 * (t + 18) + step * after + drift * frac + rng.normal(0, sd, n)
    return t, y, days, after.astype(int)


def test_best_cut_is_the_brute_force_maximum_of_the_step_score():
    t, y, days, _ = _step_files(n=120, seed=3)
    one = mixture.fit_mixreg(t, y, 1, days=days, df=math.inf)
    cut, score = E.best_cut(one, t, y, np.ones_like(y), days, min_files=5)
    # brute force: the weighted least-squares reduction of adding each step column
    x = np.column_stack([np.ones(len(y)), one.covariates.matrix(t, days)])
    mu = one.intercepts[0] + x[:, 1:] @ one.coef
    v = one.noise.variance(mu, 1.0)
    eps = one.noise.contamination  # EM weights: membership of the Gaussian core over its variance
    core = (1 - eps) * stats.norm.pdf(y, mu, np.sqrt(v))
    w = core / (core + eps * math.exp(one.log_background)) / v
    best = (-1.0, None)
    for c in range(5, len(y) - 4):
        s = (days >= days[c]).astype(float)
        xs = np.column_stack([x, s])
        sw = np.sqrt(w)
        rss0 = np.sum((sw * (y - x @ np.linalg.lstsq(x * sw[:, None], y * sw, rcond=None)[0])) ** 2)
        rss1 = np.sum((sw * (y - xs @ np.linalg.lstsq(xs * sw[:, None], y * sw, rcond=None)[0])) ** 2)
        if rss0 - rss1 > best[0]:
            best = (rss0 - rss1, (days[c - 1] + days[c]) / 2)
    assert cut == pytest.approx(best[1])
    assert score == pytest.approx(best[0], rel=1e-6)


def test_a_step_smaller_than_the_scatter_is_two_epochs_with_the_true_labels():
    t, y, days, truth = _step_files(seed=1)
    sel = F.select_families(t, y, days=days, n_boot=99, alpha=0.02, random_state=2)
    assert sel.k == 2 and sel.fit.is_epochs, sel.reason
    assert "epochs in time" in sel.reason and "p=0.01" in sel.reason
    labels = sel.fit.posterior(t, y, 1.0, days).argmax(axis=1)
    assert adjusted_rand_score(truth, labels) > 0.97
    assert np.diff(sel.fit.intercepts)[0] == pytest.approx(0.12, abs=0.03)
    # the mixture alone cannot see it: its families would be < 2.5 sd apart
    mixture_row = sel.table[(sel.table["K"] == 2) & (sel.table["model"] == "mixture")].iloc[0]
    assert not mixture_row["admissible"] or mixture_row["p_value"] >= 0.02


@pytest.mark.parametrize("drift", [0.0, 0.12])
def test_one_state_with_or_without_a_smooth_drift_is_not_epochs(drift):
    t, y, days, _ = _step_files(step=0.0, drift=drift, seed=4)
    sel = F.select_families(t, y, days=days, n_boot=99, alpha=0.02, random_state=5)
    assert sel.k == 1, sel.reason
    assert "two epochs" in sel.reason and ">= alpha" in sel.reason


def test_the_epoch_test_can_be_switched_off():
    t, y, days, _ = _step_files(seed=1)
    sel = F.select_families(t, y, days=days, n_boot=99, alpha=0.02, random_state=2, epochs=False)
    assert sel.k == 1 and "epochs" not in set(sel.table["model"]) and sel.settings["epochs"] is False


@pytest.fixture(scope="module")
def changepoint():
    table, truth = simulate_table(n_files=1500, scenario="changepoint", noise="temperature", random_state=7,
                                  changepoint_groups=(("MUV", 4200), ("MUV", 10200)))
    model = dm.DarkRateModel(n_boot=99, random_state=3).fit(table.loc[table["XUV"] == "MUV"])
    return table.loc[table["XUV"] == "MUV"], truth.loc[(table["XUV"] == "MUV").to_numpy()], model


def test_a_changepoint_archive_gets_epochs_labels_and_rates_by_time(changepoint):
    table, truth, model = changepoint
    g = model.groups_[("MUV", 4200)]
    assert g.mixture.k == 2 and g.mixture.is_epochs, g.reason
    sel = (table["INT_TIME"] == 4200).to_numpy()
    labels = model.assign(table).to_numpy()[sel]
    assert adjusted_rand_score(truth["state"].to_numpy()[sel], labels) > 0.95
    rows = table.loc[sel].reset_index()
    pred = model.predict(rows["DET_TEMP"], channel="MUV", int_time=4200, time=rows["Time"])
    err = np.abs(pred / truth["DN_per_s_true"].to_numpy()[sel] - 1)
    assert np.median(err) < 0.01
    lo, hi = model.predict_interval(rows["DET_TEMP"], channel="MUV", int_time=4200, time=rows["Time"])
    inside = (rows["DN_per_s"] >= lo) & (rows["DN_per_s"] <= hi)
    assert 0.92 <= inside.mean() <= 0.98
    # an hour before and after the step: the epoch's family, not the mixture mean
    cut = pd.Timestamp(g.mixture.extra["epoch_cut"] * 86400.0, unit="s")
    before = model.predict([-18.0], channel="MUV", int_time=4200, time=cut - pd.Timedelta(hours=1))[0]
    after = model.predict([-18.0], channel="MUV", int_time=4200, time=cut + pd.Timedelta(hours=1))[0]
    assert after - before == pytest.approx(0.15 * float(dark_current(-18.0)), rel=0.25)  # the read offset cancels
    # the stable groups stay one family
    assert model.groups_[("MUV", 14400)].mixture.k == 1


def test_epochs_survive_save_and_load_and_tampering_is_refused(changepoint, tmp_path):
    _, _, model = changepoint
    path = model.save(tmp_path / "m.json")
    back = dm.DarkRateModel.load(path)
    m0, m1 = model.groups_[("MUV", 4200)].mixture, back.groups_[("MUV", 4200)].mixture
    assert m1.is_epochs and m1.extra["epoch_cut"] == m0.extra["epoch_cut"]
    assert list(m1.extra["epoch_families"]) == list(m0.extra["epoch_families"])
    t = pd.Timestamp(m0.extra["epoch_cut"] * 86400.0, unit="s")
    for when in (t - pd.Timedelta(days=1), t + pd.Timedelta(days=1)):
        assert back.predict([-18.0], channel="MUV", int_time=4200, time=when) == pytest.approx(
            model.predict([-18.0], channel="MUV", int_time=4200, time=when))
    doc = model.to_dict()
    entry = next(g for g in doc["groups"] if g["XUV"] == "MUV" and g["INT_TIME"] == 4200)
    entry["mixture"]["extra"]["epoch_families"] = [0, 0]
    from darkmodel.model.persistence import _checksum
    doc["checksum"] = _checksum(doc)
    bad = tmp_path / "bad.json"
    import json
    bad.write_text(json.dumps(doc))
    with pytest.raises(ModelFileError, match="epoch_families"):
        dm.DarkRateModel.load(bad)


def test_a_step_under_the_minimum_size_is_not_two_epochs():
    t, y, days, _ = _step_files(step=0.012, sd=0.003, seed=6)  # 1.2 %: significant, but under 2 %
    sel = F.select_families(t, y, days=days, n_boot=99, alpha=0.02, random_state=7, min_separation=1e9)
    assert sel.k == 1 and "a step under 2 %" in sel.reason, sel.reason
    smaller = F.select_families(t, y, days=days, n_boot=99, alpha=0.02, random_state=7, min_separation=1e9,
                                min_epoch_step=0.005)
    assert smaller.fit.is_epochs and smaller.settings["min_epoch_step"] == 0.005
