"""The calibration chain against the seed notebook's steps, written out by hand."""

import numpy as np
import pandas as pd
import pytest

import darkmodel as dm
from darkmodel.calibration.chain import (
    EXCLUSION_REASONS,
    calibrate,
    convert_temperatures,
    correct_binning,
    index_by_time,
    normalise_integration_time,
    select_dark_mode,
    select_single_images,
    split_channels,
)
from darkmodel.io.filenames import parse_filename

SEED_COLUMNS = ["FILENAME", "XUV", "INT_TIME", "MCP_VOLT", "DET_TEMP", "CASE_TEMP", "NAXIS3", "SPE_SIZE",
                "SPA_SIZE", "dark_mean"]


@pytest.fixture(scope="module")
def scanned(tmp_path_factory):
    out = tmp_path_factory.mktemp("calib")
    dm.simulate_archive(out, n_files=40, random_state=13, mcp_on_fraction=0.2, days=10)
    return dm.scan(out, n_jobs=1).table


@pytest.fixture(scope="module")
def seed_table(scanned):
    """The seed's per-file table: the same columns, DET_TEMP/CASE_TEMP in raw DN, no Time column."""
    table = dm.per_file_summary(scanned)[SEED_COLUMNS]
    return table.sample(frac=1.0, random_state=0).reset_index(drop=True)  # unsorted, like a scan


def _seed_by_hand(df):
    """The seed notebook, cells 4 to 8, as it was written (row-wise, on a copy)."""
    df = df.copy()

    def correct_mean_value(row):
        return row["SPE_SIZE"] * row["SPA_SIZE"]

    df["pixelsum"] = df.apply(correct_mean_value, axis=1)
    df["corrected_mean"] = df.dark_mean / df.pixelsum
    df["DN_per_s"] = df.corrected_mean / (df.INT_TIME / 1000)
    df.index = df.FILENAME.map(lambda x: parse_filename(x).time)
    df.index.name = "Time"
    df = df.sort_index()  # the seed: df.sort_index(inplace=True)
    df.loc[df.MCP_VOLT > 0, :] = np.nan
    df["DET_TEMP"] = df.DET_TEMP * -0.0749 + 174.08
    c_low = [1.8195, -6.221e-3, 1.6259e-7, -7.3832e-11, -2.9933e-16]
    c_high = [450.47, -6.5734e-2, 3.3093e-6, -5.4216e-11, -2.933e-16]
    dn = df.CASE_TEMP
    low = sum(c * dn**i for i, c in enumerate(c_low))
    high = sum(c * dn**i for i, c in enumerate(c_high))
    df["CASE_TEMP"] = np.where(dn < 8192, low, high)
    return df


def test_calibrate_matches_the_seed_formulas(seed_table):
    expected = _seed_by_hand(seed_table).dropna(subset=["DN_per_s"])
    got = calibrate(seed_table)
    assert got.index.name == "Time" and got.index.is_monotonic_increasing
    assert list(got.index) == list(expected.index)
    for col in ("pixelsum", "corrected_mean", "DN_per_s", "DET_TEMP", "CASE_TEMP"):
        np.testing.assert_allclose(got[col].to_numpy(), expected[col].to_numpy(), rtol=1e-13, err_msg=col)
    np.testing.assert_array_equal(got["DET_TEMP_DN"], seed_table.set_index("FILENAME").loc[got["FILENAME"], "DET_TEMP"])


def test_excluded_rows_keep_their_data_and_reason(seed_table):
    every = calibrate(seed_table, keep_excluded=True)
    assert len(every) == len(seed_table)
    mcp_on = every["MCP_VOLT"] > 0
    assert mcp_on.sum() >= 3
    assert (every.loc[mcp_on, "exclusion"] == EXCLUSION_REASONS["mcp_on"]).all()
    assert every.loc[~mcp_on, "exclusion"].isna().all()
    # unlike the seed, the other columns of an excluded row are intact
    assert every.loc[mcp_on, ["DET_TEMP", "DN_per_s", "XUV"]].notna().all().all()


def test_per_integration_scan_table_uses_its_own_times_and_degC(scanned):
    got = calibrate(scanned, keep_excluded=True)
    assert len(got) == len(scanned)
    assert (got.index == scanned.sort_values("Time", kind="stable")["Time"].to_numpy()).all()
    np.testing.assert_allclose(got["DET_TEMP"], got["DET_TEMP_DN"] * -0.0749 + 174.08, rtol=1e-12)
    expected = scanned["dark_mean"] / (scanned["SPE_SIZE"] * scanned["SPA_SIZE"]) / (scanned["INT_TIME"] / 1000)
    np.testing.assert_allclose(np.sort(got["DN_per_s"]), np.sort(expected))


def test_degC_inputs_pass_through(real_files):
    table = dm.scan(real_files, n_jobs=1).table  # v13 copies: degC only
    got = calibrate(table)
    both = got.reset_index().merge(table, on=["PRODUCT_ID", "INTEGRATION"], suffixes=("", "_scan"))
    assert len(both) == 20
    np.testing.assert_array_equal(both["DET_TEMP"], both["DET_TEMP_C"])
    assert got["DET_TEMP_DN"].isna().all()
    again = calibrate(got.reset_index())  # calibrating a calibrated table changes nothing
    pd.testing.assert_series_equal(again["DET_TEMP"], got["DET_TEMP"])
    pd.testing.assert_series_equal(again["DN_per_s"], got["DN_per_s"])
    seedlike = pd.DataFrame({"DET_TEMP": [-20.0, -18.5], "CASE_TEMP": [5.0, 5.1]})
    assert convert_temperatures(seedlike)["DET_TEMP"].tolist() == [-20.0, -18.5]


def test_each_step_runs_alone(seed_table):
    step = correct_binning(seed_table)
    np.testing.assert_allclose(step["pixelsum"], seed_table["SPE_SIZE"] * seed_table["SPA_SIZE"])
    step = normalise_integration_time(step)
    np.testing.assert_allclose(step["DN_per_s"], step["corrected_mean"] * 1000 / seed_table["INT_TIME"])
    indexed = index_by_time(step)
    assert indexed.index.name == "Time" and indexed.index.is_monotonic_increasing
    assert indexed.index[0] == min(parse_filename(f).time for f in seed_table["FILENAME"])
    marked = select_dark_mode(step)
    assert (marked["exclusion"].notna() == (seed_table["MCP_VOLT"] > 0)).all()
    singles = select_single_images(step)
    assert (singles["exclusion"].notna() == seed_table["NAXIS3"].notna()).all()
    parts = split_channels(step)
    assert set(parts) == {"FUV", "MUV"} and sum(len(p) for p in parts.values()) == len(step)
    assert (parts["FUV"]["XUV"] == "FUV").all()


def test_single_images_option_and_missing_columns(seed_table):
    got = calibrate(seed_table, single_images=True)
    assert got["NAXIS3"].isna().all() and len(got) > 0
    with pytest.raises(KeyError, match="MCP_VOLT"):
        calibrate(seed_table.drop(columns=["MCP_VOLT"]))


@pytest.mark.slow
def test_bad_tables_give_warnings_and_reasons_not_tracebacks(scanned):
    table = scanned.copy()
    table["DET_TEMP_C"] = table["DET_TEMP_C"].astype(object)
    table.loc[table.index[0], "DET_TEMP_C"] = "warm"  # text where a number belongs
    table["INT_TIME"] = table["INT_TIME"].astype(object)
    table.loc[table.index[1], "INT_TIME"] = "long"
    table.loc[table.index[2], "Time"] = pd.NaT
    ok = calibrate(scanned, keep_excluded=True)
    kept = ok[ok["exclusion"].isna()].iloc[-1]  # a row that stays in on its own
    same = (table["PRODUCT_ID"] == kept["PRODUCT_ID"]) & (table["INTEGRATION"] == kept["INTEGRATION"])
    doubled = pd.concat([table, table[same]], ignore_index=True)  # that row twice
    with pytest.warns(UserWarning) as caught:
        out = calibrate(doubled, keep_excluded=True)
    messages = " ".join(str(w.message) for w in caught)
    assert "INT_TIME are not numbers" in messages and "duplicated row" in messages
    reasons = out["exclusion"].dropna()
    assert reasons.str.contains("duplicate").sum() == 1
    assert reasons.str.contains("implausible Time").sum() >= 1
    assert len(out) == len(doubled)  # nothing lost: every row is there, with its reason
    model = dm.DarkRateModel(n_boot=19, alpha=0.1, min_files=3, n_jobs=1).fit(out)
    assert model.provenance_["n_rows_used"] < len(doubled)
