"""Numbers only where the data identify them (issue 20, item 5)."""

import warnings

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import darkmodel as dm
from darkmodel.cli import main
from darkmodel.stats.identification import IDENTIFIED, doubling_status, estimate_status, floor_label


def test_the_rules_by_hand():
    assert estimate_status(1.29, 0.05) == IDENTIFIED
    assert estimate_status(4.75e-14, 20.5).startswith("not identified: its standard error")
    assert estimate_status(1.0, float("nan")).startswith("not identified")
    assert estimate_status(1.0, 0.1, fit_reason="one INT_TIME") == "not identified: one INT_TIME"
    assert doubling_status(np.log(2) / 8.0, 0.01) == IDENTIFIED  # 8 degC, the simulator's truth
    assert "does not rise" in doubling_status(-np.log(2) / 1.59, 0.01)
    assert "exceeds the slope" in doubling_status(np.log(2) / 150.0, 0.02)
    assert floor_label(1e-3, 1e-3).startswith("<= 0.10 %")


def _flat_group(n_files=13, seed=0):
    """13 dark files whose rate does not depend on temperature: no doubling temperature exists."""
    rng = np.random.default_rng(seed)
    temps = np.linspace(-20.0, -17.0, n_files)
    rows = []
    for i, t in enumerate(temps):
        for j in range(3):
            rows.append({"XUV": "MUV", "INT_TIME": 4200, "DET_TEMP": t + 0.01 * j, "FILENAME": f"f{i:02d}",
                         "DN_per_s": 0.8 * np.exp(rng.normal(0, 0.02)),
                         "Time": pd.Timestamp("2016-01-01") + pd.Timedelta(hours=6 * i + j)})
    return pd.DataFrame(rows).set_index("Time")


def test_a_doubling_temperature_the_data_cannot_identify_is_not_shown():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = dm.DarkRateModel(n_boot=19, alpha=0.1, n_jobs=1).fit(_flat_group())
    row = model.groups.iloc[0]
    assert row["status"] == "fitted"
    assert np.isnan(row["doubling_temperature"]) and row["doubling_status"].startswith("not identified")
    fam = model.families.iloc[0]
    assert np.isnan(fam["doubling_temperature"]) and fam["doubling_status"].startswith("not identified")
    assert "doubling temperature not identified" in model.summary().as_text()


def test_fit_on_the_real_files_prints_no_unidentified_number(real_files, tmp_path):
    runner = CliRunner()
    summary = tmp_path / "s.parquet"
    assert runner.invoke(main, ["-q", "scan", *map(str, real_files), "-o", str(summary), "--workers", "1"]).exit_code == 0
    result = runner.invoke(main, ["fit", str(summary), "-o", str(tmp_path / "m.json"), "--jobs", "1",
                                  "--n-boot", "19", "--alpha", "0.1"])
    assert result.exit_code == 0, result.output
    assert "joint offset: not identified" in result.output
    assert "e-14" not in result.output and "+-" not in result.output
    joint = dm.DarkRateModel.load(tmp_path / "m.json").joint
    assert joint["offset"].isna().all() and joint["doubling_temperature"].isna().all()
    assert joint["offset_status"].str.startswith("not identified").all()


def test_the_joint_offset_panel_draws_no_unidentified_fit(real_files):
    from darkmodel.calibration.chain import calibrate
    from darkmodel.reporting.figures import joint_offset

    cal = calibrate(dm.scan(real_files, n_jobs=1).table)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = dm.DarkRateModel(n_jobs=1, min_files=2).fit(cal)
    fig = joint_offset(cal, model, model.assign(cal))
    for ax in fig.axes:
        assert not ax.get_lines()  # no curve of an unidentified law
        texts = " ".join(t.get_text() for t in ax.texts)
        assert "not identified" in texts and "+-" not in texts


@pytest.mark.parametrize("relative", [1e-3, 0.02])
def test_a_scatter_at_the_estimator_floor_is_labelled_as_a_bound(relative):
    label = floor_label(relative, 1e-3)
    assert ("floor" in label) == (relative == 1e-3)
