"""The reader on the nine real v13 L1B files, against an independent astropy read."""

from datetime import datetime

import numpy as np
import pandas as pd
from astropy.io import fits
from astropy.stats import sigma_clipped_stats

import darkmodel as dm


def _expected(path):
    """Per-integration values of the dark copies, computed with astropy and numpy alone."""
    with fits.open(path) as hdul:
        cube = hdul["detector_dark"].data.astype(float)
        integ = hdul["Dark_Integration"].data
        eng = hdul["Dark_Engineering"].data
        obs = hdul["Dark_Observation"].data
        rows = []
        k = 0
        for i, number in enumerate(eng["NUMBER"]):
            for j in range(number):
                frame = cube[k]
                rows.append({
                    "PRODUCT_ID": obs["PRODUCT_ID"][i].strip(), "INTEGRATION": j,
                    "XUV": eng["XUV"][i].strip(), "INT_TIME": int(eng["INT_TIME"][i]),
                    "MCP_VOLT": 0.244 * eng["MCP_GAIN"][i] - 1.83,
                    "DET_TEMP_C": integ["DET_TEMP_C"][k], "CASE_TEMP_C": integ["CASE_TEMP_C"][k],
                    "UTC": integ["UTC"][k], "mean": frame.mean(), "median": np.median(frame),
                    "std": frame.std(), "clipped": sigma_clipped_stats(frame, sigma=3, maxiters=5)[0],
                    "shape": frame.shape,
                })
                k += 1
    return pd.DataFrame(rows)


def test_read_dark_matches_astropy_on_every_real_file(real_files):
    for path in real_files:
        got = dm.read_dark(path)
        exp = _expected(path)
        assert len(got) == len(exp) == 10
        assert got["PRODUCT_ID"].tolist() == exp["PRODUCT_ID"].tolist()
        assert got["INTEGRATION"].tolist() == exp["INTEGRATION"].tolist()
        assert got["XUV"].tolist() == exp["XUV"].tolist()
        assert (got["INT_TIME"] == exp["INT_TIME"]).all() and (got["INT_TIME"] == 400).all()
        np.testing.assert_allclose(got["MCP_VOLT"], exp["MCP_VOLT"])
        np.testing.assert_array_equal(got["DET_TEMP_C"], exp["DET_TEMP_C"])
        np.testing.assert_array_equal(got["CASE_TEMP_C"], exp["CASE_TEMP_C"])
        np.testing.assert_allclose(got["dark_mean"], exp["mean"], rtol=1e-12)
        np.testing.assert_allclose(got["dark_median"], exp["median"], rtol=1e-12)
        np.testing.assert_allclose(got["dark_std"], exp["std"], rtol=1e-10)
        np.testing.assert_allclose(got["dark_clipped_mean"], exp["clipped"], rtol=1e-10)
        assert (got["n_blank"] == 0).all()
        # AYE's recipe: drop 'UTC', append a 0 to the 5-digit fraction, parse with strptime
        times = [datetime.strptime(u.strip().replace("UTC", "0"), "%Y/%j %b %d %H:%M:%S.%f") for u in exp["UTC"]]
        assert got["Time"].tolist() == [pd.Timestamp(t) for t in times]
        assert (got["SOURCE_KIND"] == "l1b-copy").all() and got["DET_TEMP_DN"].isna().all()
        assert (got["FILENAME"] == got["PRODUCT_ID"] + ".fits").all()


def test_real_binning_comes_from_header_and_binning_table(real_files):
    fuv = dm.read_dark(real_files[0])
    assert fuv[["SPA_OFS", "SPA_SIZE", "SPE_OFS", "SPE_SIZE"]].iloc[0].tolist() == [89, 80, 156, 4]
    assert (fuv["PIXELS_PER_BIN"] == 320).all() and (fuv["NAXIS1"] == 51).all() and (fuv["NAXIS2"] == 10).all()
    muv = dm.read_dark(real_files[1])
    assert (muv["PIXELS_PER_BIN"] == 6 * 34).all() and (muv["NAXIS3"] == 5).all()


def test_real_frame_means_match_the_reference_numbers(real_files):
    # reference section 5.6 d: MUV frame means 313.6, 265.0, 302.3, 286.2, 299.8
    muv = dm.read_dark(real_files[1])
    np.testing.assert_allclose(muv["dark_mean"].iloc[:5], [313.6, 265.0, 302.3, 286.2, 299.8], atol=0.06)


def test_scan_of_real_files_keeps_each_dark_product_once(real_files):
    table, errors = dm.scan(real_files, n_jobs=1)
    assert errors.empty
    assert table["PRODUCT_ID"].nunique() == 4
    assert len(table) == 20
    assert sorted(table.groupby("XUV")["PRODUCT_ID"].nunique().items()) == [("FUV", 2), ("MUV", 2)]
    assert table["Time"].is_monotonic_increasing
    per_file = dm.per_file_summary(table)
    assert len(per_file) == 4 and (per_file["NAXIS3"] == 5).all()
