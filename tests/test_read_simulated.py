"""The reader on simulated L1A files of every layout, against truth and an astropy read."""

import warnings

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits

import darkmodel as dm
from darkmodel.io.read import integration_statistics


def _astropy_cube(path):
    """The primary array as astropy gives it: BZERO/BSCALE applied, BLANK as NaN."""
    header = fits.getheader(path)  # astropy drops BZERO/BSCALE from a header once it scales the data
    with fits.open(path) as hdul:
        data = np.asarray(hdul[0].data, dtype=float)
    return (data[np.newaxis] if data.ndim == 2 else data), header


def test_every_layout_reads_like_the_truth(mixed_archive):
    out, truth = mixed_archive
    table, errors = dm.scan(out, n_jobs=1)
    assert errors.empty
    assert set(table["LAYOUT"]) == {"v01", "v02", "v13"}
    merged = table.merge(truth, on=["FILENAME", "INTEGRATION"], suffixes=("", "_truth"), validate="1:1")
    assert len(merged) == len(truth)
    np.testing.assert_allclose(merged["DET_TEMP_C"], merged["DET_TEMP_C_truth"], atol=1e-9)
    assert (merged["INT_TIME"] == merged["INT_TIME_truth"]).all()
    np.testing.assert_allclose(merged["MCP_VOLT"], merged["MCP_VOLT_truth"], atol=1e-9)
    # UTC strings carry 10-microsecond resolution
    assert (merged["Time"] - merged["Time_truth"]).abs().max() <= pd.Timedelta(microseconds=10)
    dn_layouts = merged["LAYOUT"].isin(["v01", "v02"])
    assert merged.loc[dn_layouts, "DET_TEMP_DN"].notna().all()
    assert merged.loc[~dn_layouts, "DET_TEMP_DN"].isna().all()
    v01 = merged[merged["LAYOUT"] == "v01"]
    assert (v01.groupby("FILENAME")["DET_TEMP_DN"].nunique() == 1).all()  # one value per file in v01
    single = merged["N_INT"] == 1
    assert merged.loc[single, "NAXIS3"].isna().all() and (merged.loc[~single, "NAXIS3"] == merged.loc[~single, "N_INT"]).all()


def test_statistics_match_an_astropy_read_including_blank_and_bzero(mixed_archive):
    out, truth = mixed_archive
    files = sorted(out.rglob("*.fits.gz"))
    seen_bzero = seen_blank = 0
    for path in files:
        cube, header = _astropy_cube(path)
        got = dm.read_dark(path)
        seen_bzero += "BZERO" in header
        blank = np.isnan(cube).reshape(len(cube), -1)
        seen_blank += blank.all(axis=1).sum()
        np.testing.assert_array_equal(got["n_blank"], blank.sum(axis=1))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN lost frames
            mean = np.nanmean(cube.reshape(len(cube), -1), axis=1)
        np.testing.assert_allclose(got["dark_mean"], mean, rtol=1e-12, equal_nan=True)
    assert seen_bzero >= 3 and seen_blank >= 3  # the fixture switches both oddities on often


def test_missing_binning_keys_fall_back_to_the_binning_table(mixed_archive):
    out, truth = mixed_archive
    table = dm.scan(out, n_jobs=1).table
    checked = 0
    for path in sorted(out.rglob("*.fits.gz")):
        header = fits.getheader(path)
        if "SPA_SIZE" in header:
            continue
        rows = table[table["FILENAME"] == path.name.removesuffix(".gz")]
        b = fits.getdata(path, "Binning")[0]
        spa = b["SPABINWIDTH"][b["SPABINTRANSMIT"] == 1]
        spe = b["SPEBINWIDTH"][b["SPEBINTRANSMIT"] == 1]
        assert (rows["SPA_SIZE"] == spa[0]).all() and (rows["SPE_SIZE"] == spe[0]).all()
        assert (rows["PIXELS_PER_BIN"] == spa[0] * spe[0]).all()
        assert (rows["SPE_OFS"] == b["SPEBINWIDTH"][: np.argmax(b["SPEBINTRANSMIT"])].sum()).all()
        checked += 1
    assert checked >= 2


def test_a_lost_frame_keeps_the_other_integrations(mixed_archive):
    out, truth = mixed_archive
    table = dm.scan(out, n_jobs=1).table
    lost = truth[truth["missing"]]
    assert len(lost) >= 3
    rows = table.merge(lost[["FILENAME", "INTEGRATION"]], on=["FILENAME", "INTEGRATION"])
    assert (rows["n_blank"] == rows["n_bins"]).all() and rows["dark_mean"].isna().all()
    siblings = table[table["FILENAME"].isin(lost["FILENAME"])].merge(
        lost[["FILENAME", "INTEGRATION"]], how="left", indicator=True)
    kept = siblings[siblings["_merge"] == "left_only"]
    assert len(kept) and kept["dark_mean"].notna().all()


def test_integration_statistics_by_hand():
    cube = np.array([[[1.0, 2.0], [3.0, 100.0]], [[np.nan, 2.0], [4.0, 6.0]], [[np.nan] * 2] * 2])
    stats = integration_statistics(cube)
    np.testing.assert_allclose(stats["dark_mean"], [26.5, 4.0, np.nan], equal_nan=True)
    np.testing.assert_allclose(stats["dark_median"], [2.5, 4.0, np.nan], equal_nan=True)
    np.testing.assert_allclose(stats["dark_std"][1], np.sqrt(((2 - 4) ** 2 + 0 + (6 - 4) ** 2) / 3))
    assert stats["n_blank"].tolist() == [0, 1, 4] and stats["n_bins"].tolist() == [4, 4, 4]
    # a cosmic ray: 20 bins near 10 and one at 1000; the clipped mean drops the hit
    frame = np.r_[np.full(20, 10.0) + np.linspace(-1, 1, 20), 1000.0].reshape(1, 3, 7)
    clipped = integration_statistics(frame)["dark_clipped_mean"][0]
    assert clipped == pytest.approx(10.0, abs=1e-9)


def test_duplicate_keywords_and_slash_comments_are_read(tmp_path):
    """MWRFITS quirks: a second MIR_DEG card, '//' comments, 8-character truncated names."""
    src = sorted(dm.simulate_archive(tmp_path / "a", n_files=3, random_state=2, layout="v13")["FILENAME"])[0]
    path = next((tmp_path / "a").rglob(src + ".gz"))
    with fits.open(path) as hdul:
        hdul[0].header.append(("MIR_DEG", 36.019, "Mirror position in deg"), bottom=True)
        hdul[0].header.append(fits.Card.fromstring("SCI_IMG_=                 1020 //SCI_IMG_DATA_LENGTH_"))
        out = tmp_path / path.name
        hdul.writeto(out)
    assert list(fits.getheader(out)).count("MIR_DEG") == 2
    got = dm.read_dark(out)
    ignore = ["SOURCE_FILE", "SOURCE_SIZE", "SOURCE_MTIME_NS", "MIR_DEG"]
    pd.testing.assert_frame_equal(got.drop(columns=ignore), dm.read_dark(path).drop(columns=ignore))
    assert got["MIR_DEG"].iloc[0] in (36.019, dm.read_dark(path)["MIR_DEG"].iloc[0])  # one of the two cards


def test_uncompressed_fits_reads_the_same(tmp_path):
    truth = dm.simulate_archive(tmp_path, n_files=4, random_state=9, gzip=False)
    files = sorted(tmp_path.rglob("*.fits"))
    assert len(files) == 4
    table = dm.scan(files, n_jobs=1).table
    assert len(table) == len(truth)
