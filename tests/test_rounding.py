"""The recorded temperature's rounding is scatter, not a family (issue 20, item 1)."""

import math
import warnings

import numpy as np
import pandas as pd
import pytest

import darkmodel as dm
from darkmodel.instrument import det_dn_to_celsius, recording_step
from darkmodel.stats.families import rounding_sd, select_families
from darkmodel.stats.perfile import group_files


def test_the_recording_grid_by_hand():
    assert recording_step(det_dn_to_celsius(np.arange(2580, 2600))) == pytest.approx(0.0749)
    assert recording_step(det_dn_to_celsius(np.arange(2580, 2600, 2))) == pytest.approx(0.1498)
    assert recording_step(np.linspace(-20, -15, 50) + 1e-3 * np.sin(np.arange(50))) == 0.0
    # +-half a step of 0.0749 degC at 9.2 %/degC: a uniform of width 0.69 %, sd 0.2 %
    assert rounding_sd(math.log(2) / 7.5, 0.0749) == pytest.approx(math.log(2) / 7.5 * 0.0749 / math.sqrt(12))


@pytest.fixture(scope="module")
def rounded():
    """Long INT_TIMEs with little read noise, the rate following the true temperature."""
    table, _ = dm.simulate_table(n_files=2000, scenario="stable", noise="rounding", random_state=5)
    return table, group_files(table, {"FUV": 1.29, "MUV": 1.29})


def test_the_rounding_regime_is_not_split_into_families(rounded):
    _, groups = rounded
    long = [key for key in groups if key[1] >= 14400]
    got, without = {}, {}
    for key in long:
        files = groups[key]
        assert files["T_step"].iloc[0] == pytest.approx(0.0749, abs=1e-4)
        kwargs = dict(counts=files["n"], days=files["days"], n_boot=39, alpha=0.05, epochs=False,
                      rng=np.random.default_rng(0))
        got[key] = select_families(files["T"], files["y"], temperature_step=files["T_step"].iloc[0], **kwargs).k
        without[key] = select_families(files["T"], files["y"], **kwargs).k
    assert all(k == 1 for k in got.values()), got
    assert any(k > 1 for k in without.values()), without  # what the rounding did before it was known


def test_the_fit_keeps_one_family_and_says_why_in_the_rounding_regime(rounded):
    table, _ = rounded
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = dm.DarkRateModel(n_jobs=1, n_boot=39, alpha=0.05).fit(table)
    assert (model.groups["n_families"] == 1).all(), model.groups[["XUV", "INT_TIME", "reason"]]


@pytest.mark.slow
def test_real_states_are_still_found_under_the_rounding():
    table, _ = dm.simulate_table(n_files=1500, scenario="flipflop", noise="rounding", random_state=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = dm.DarkRateModel(n_jobs=1, n_boot=39, alpha=0.05).fit(table)
    k = model.groups.set_index(["XUV", "INT_TIME"])["n_families"]
    assert k[("MUV", 4200)] == 2 and k[("FUV", 14400)] == 2
    assert (k.drop([("MUV", 4200), ("FUV", 14400)]) == 1).all()


@pytest.mark.parametrize("scenario,key,k_true", [("flipflop", ("FUV", 14400), 2), ("confounded", ("FUV", 10200), 1)])
def test_particle_hits_are_noise_not_a_family(scenario, key, k_true):
    """Where hits dominate (long INT_TIME, little read noise), their one-sided excess is part of the noise model."""
    table, _ = dm.simulate_table(n_files=3000, scenario=scenario, noise="hits", random_state=1,
                                 flip_groups=(("MUV", 4200), ("FUV", 14400)), confound_groups=(("MUV", 14400),))
    files = group_files(table, {"FUV": 1.29, "MUV": 1.29})[key]
    sel = select_families(files["T"], files["y"], counts=files["n"], days=files["days"], n_boot=99, alpha=0.02,
                          temperature_step=files["T_step"].iloc[0], rng=np.random.default_rng(0))
    assert sel.k == k_true, sel.reason  # 3 and 2 families before the excess was weighed
    assert "excess" in sel.reason or "particle" in sel.reason


@pytest.mark.slow
def test_two_levels_that_a_step_explains_better_are_epochs_not_recurring_families():
    """With hits, a mixture plus a smooth trend once took a step for two families that recur (flip-flop)."""
    table, truth = dm.simulate_table(n_files=3000, scenario="changepoint", noise="hits", random_state=3,
                                     flip_groups=(("MUV", 4200), ("FUV", 14400)), confound_groups=(("MUV", 14400),))
    files = group_files(table, {"FUV": 1.29, "MUV": 1.29})[("MUV", 14400)]
    sel = select_families(files["T"], files["y"], counts=files["n"], days=files["days"], n_boot=99, alpha=0.02,
                          temperature_step=files["T_step"].iloc[0], rng=np.random.default_rng(0))
    assert sel.fit.is_epochs, sel.reason
    cut = pd.Timestamp(sel.fit.extra["epoch_cut"] * 86400.0, unit="s")
    first_after = truth.assign(FILENAME=table["FILENAME"].to_numpy())[truth["state"].to_numpy() == 1].index.min()
    assert abs(cut - first_after) < pd.Timedelta(days=2)  # the step where the simulator put it
