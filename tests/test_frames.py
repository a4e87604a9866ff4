"""Dark frames per binning set against the simulator's per-bin truth; reference files round-trip."""

import warnings

import numpy as np
import pytest
from click.testing import CliRunner

import darkmodel as dm
from darkmodel.cli import main
from darkmodel.frames.reference_files import read_reference
from darkmodel.frames.superdark import DQ_FLAGS, Superdark, shrink
from darkmodel.simulate.archive import dark_current


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    out = tmp_path_factory.mktemp("frames")
    dm.simulate_archive(out, n_files=400, scenario="flipflop", random_state=3)
    calibrated = dm.calibrate(dm.scan(out, n_jobs=2).table)
    model = dm.DarkRateModel(n_jobs=2).fit(calibrated)
    return out, model, dm.superdark(out, model)


@pytest.mark.slow
def test_predicted_frames_match_the_per_bin_truth(archive):
    out, model, sd = archive
    bins = np.load(out / "truth_bins.npz")
    errors, hits, n_hot, false, n_normal = [], 0, 0, 0, 0
    for key, pat in sd.patterns.items():
        hot = bins[key]
        for it in pat.int_times:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", dm.ExtrapolationWarning)
                frame = model.predict_frame(-18.0, channel=pat.channel, int_time=it, binning=key, superdark=sd,
                                            family=0)
            # the simulator's expected bin: n_pix (read offset + dark current x t) + the bin's fixed excess
            true = pat.pixels_per_bin * (1.29 + dark_current(-18.0) * it / 1000) + hot
            errors.append(np.abs(frame["SCI"] / true - 1)[hot == 0])
            assert frame["ERR"].shape == frame["SCI"].shape and np.all(frame["ERR"] > 0)
        flagged = (pat.dq & DQ_FLAGS["hot"]) > 0
        hits += int((flagged & (hot > 0)).sum())
        n_hot += int((hot > 0).sum())
        false += int((flagged & (hot == 0)).sum())
        n_normal += int((hot == 0).sum())
    errors = np.concatenate(errors)
    assert np.median(errors) <= 0.01 and np.percentile(errors, 95) <= 0.02
    assert hits >= 0.95 * n_hot and false <= 0.01 * n_normal


def test_superdark_file_and_reference_files_round_trip(archive, tmp_path):
    out, model, sd = archive
    back = Superdark.read(sd.write(tmp_path / "sd.fits"))
    assert sorted(back.patterns) == sorted(sd.patterns)
    key = sorted(sd.patterns)[0]
    np.testing.assert_allclose(back.patterns[key].pattern, sd.patterns[key].pattern, rtol=1e-6)
    files = dm.export_reference(model, back, tmp_path / "ref", pedigree="SIMULATION")
    assert files
    ref = read_reference(files[0])  # verify('exception') inside
    h = ref["header"]
    for keyword in ("INSTRUME", "DETECTOR", "BIN_TBL", "USEAFTER", "PEDIGREE", "DESCRIP", "REF_TEMP"):
        assert keyword in h
    assert any("input " in str(c) for c in h["HISTORY"])
    pat = back.patterns[h["BIN_TBL"]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dm.ExtrapolationWarning)
        frame = model.predict_frame(h["REF_TEMP"], channel=h["DETECTOR"], int_time=h["INT_TIME"],
                                    binning=h["BIN_TBL"], superdark=back, family=h["FAMILY"])
    np.testing.assert_array_equal(ref["SCI"], frame["SCI"].astype(np.float32))
    np.testing.assert_array_equal(ref["DQ"], frame["DQ"])
    assert pat.channel == h["DETECTOR"]


@pytest.mark.slow
def test_cli_superdark_and_export(archive, tmp_path):
    out, model, _ = archive
    model_path = model.save(tmp_path / "m.json")
    runner = CliRunner()
    result = runner.invoke(main, ["superdark", str(out), "--model", str(model_path), "-o", str(tmp_path / "s.fits")])
    assert result.exit_code == 0, result.output
    assert " hot" in result.output
    result = runner.invoke(main, ["export", str(model_path), "--superdark", str(tmp_path / "s.fits"),
                                  "-o", str(tmp_path / "ref")])
    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "ref").glob("*.fits"))) >= len(Superdark.read(tmp_path / "s.fits").patterns)


def test_shrinkage_by_hand():
    # se = 10 / sqrt(100) = 1: a 100 DN excess keeps 1 - 1/100**2 of itself, a 0.5 DN one vanishes
    np.testing.assert_allclose(shrink(np.array([100.0, 0.5, -30.0]), np.full(3, 10.0), 100),
                               [100.0 * (1 - 1e-4), 0.0, -30.0 * (1 - 1 / 900)])
