"""The model shipped in models/ loads and predicts sensible dark rates."""

from pathlib import Path

import numpy as np
import pytest

import darkmodel as dm
from darkmodel.simulate.archive import dark_current

SHIPPED = Path(__file__).resolve().parents[1] / "models" / "darkrate.json"


def test_shipped_model_loads_and_predicts():
    model = dm.DarkRateModel.load(SHIPPED)
    assert "simulated" in model.provenance_["note"]
    temps = np.array([-19.0, -18.0, -17.0])  # inside every group's observed range
    # the demo archive's nominal state: 1.29/t + 0.33 * 2**((T + 18)/7.5) (flip-flop groups: family 0)
    for xuv, it in [("MUV", 14400), ("FUV", 4200), ("MUV", 4200)]:
        got = model.predict(temps, channel=xuv, int_time=it, family=0)
        expected = 1.29 / (it / 1000) + dark_current(temps)
        np.testing.assert_allclose(got, expected, rtol=0.03)
    lo, hi = model.predict_interval(temps, channel="MUV", int_time=14400)
    assert np.all(lo < hi)
    with pytest.warns(dm.UnfittedIntTimeWarning):
        model.predict([-18.0], channel="FUV", int_time=6000)


def test_summary_repr_and_whole_table_predictions():
    import pandas as pd

    model = dm.DarkRateModel.load(SHIPPED)
    assert "fitted:" in repr(model) and "Joint offset model" in model.summary().as_text()
    assert model.summary().as_text().count(" ms ") == len(model.groups_)
    table = pd.DataFrame({"XUV": ["MUV", "MUV", "FUV"], "INT_TIME": [14400, 14400, 4200],
                          "DET_TEMP": [-18.0, 20.0, float("nan")]})
    with pytest.warns(dm.ExtrapolationWarning):
        got = model.predict_table(table)
    # row by row, the same numbers as predict and predict_interval
    expected = model.predict([-18.0], channel="MUV", int_time=14400)[0]
    assert got.loc[0, "DN_per_s"] == pytest.approx(expected)
    assert got.loc[0, "lower"] < expected < got.loc[0, "upper"]
    assert got["extrapolated"].tolist() == [False, True, False]
    assert np.isnan(got.loc[2, "DN_per_s"]) and "finite" in got.loc[2, "source"]


@pytest.mark.slow
def test_the_shipped_model_is_what_todays_code_fits(tmp_path):
    # refreshed by models/refresh_shipped_model.py; when the simulator or the fit changes, this
    # fails until the shipped file is refreshed by the code that ships with it
    from darkmodel.pipeline import ChainSettings, run_chain

    shipped = dm.DarkRateModel.load(SHIPPED)
    dm.simulate_archive(tmp_path / "archive", n_files=600, scenario="flipflop", random_state=0)
    chain = run_chain([tmp_path / "archive"], tmp_path / "out", settings=ChainSettings(random_state=0))
    fresh = chain.model
    # the same data (by content), the same groups, families and predictions
    assert fresh.provenance_["data_fingerprint"] == shipped.provenance_["data_fingerprint"]
    import pandas as pd

    pd.testing.assert_frame_equal(fresh.groups, shipped.groups, check_exact=False, rtol=1e-8)  # JSON keeps 10 digits
    for (xuv, it), group in shipped.groups_.items():
        temps = np.linspace(*group.temp_range, 9)
        if group.fitted:
            np.testing.assert_allclose(fresh.predict(temps, channel=xuv, int_time=it),
                                       shipped.predict(temps, channel=xuv, int_time=it), rtol=1e-9)
            np.testing.assert_allclose(fresh.predict_interval(temps, channel=xuv, int_time=it),
                                       shipped.predict_interval(temps, channel=xuv, int_time=it), rtol=1e-9)
    assert chain.flipflop.table["verdict"].tolist() == shipped.flipflop_.table["verdict"].tolist()
