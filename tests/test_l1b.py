"""The pipeline's dark reproduced from the real L1B file's own dark frames."""

from pathlib import Path

import fitsio
import numpy as np
import pytest

from darkmodel.io.l1b import compare_with_pipeline, interpolate_darks, pipeline_dark
from darkmodel.io.read import DarkFileError

LIGHTS = sorted((Path(__file__).parent / "data" / "real-lights").glob("*.fits.gz"))
REAL = sorted((Path(__file__).parent / "data" / "real").glob("*.fits.gz"))


def test_the_pipeline_dark_of_a_real_file_is_reproduced_to_rounding():
    assert LIGHTS, "tests/data/real-lights is part of the repository"
    ours = pipeline_dark(LIGHTS[0])
    reference = fitsio.read(str(LIGHTS[0]), ext="background_dark").astype(float)
    assert ours.shape == reference.shape == (151, 10, 51)
    assert np.abs(ours - reference).max() <= 1.05
    # the rule matters: frame k for light k (not the pipeline's) is hundreds of DN off
    frames = fitsio.read(str(LIGHTS[0]), ext="detector_dark").astype(float)
    assert np.abs(frames[:5].mean(axis=0) - frames[1]).max() > 5
    summary = compare_with_pipeline(LIGHTS[0])
    assert summary["n_light"] == 151 and summary["within_rounding"] == 1.0


def test_every_real_l1b_file_agrees_with_its_own_background_dark():
    assert len(REAL) == 9
    for path in REAL + LIGHTS:
        summary = compare_with_pipeline(path)
        assert summary["max_abs_diff"] <= 1.05, summary


def test_the_rule_by_hand():
    before = np.stack([np.full((1, 2), 100.0), np.full((1, 2), 200.0)])
    after = np.stack([np.full((1, 2), 300.0), np.full((1, 2), 600.0)])
    got = interpolate_darks(before, after, [0.0, 10.0], [100.0, 110.0], [50.0, 60.0, 110.0])
    # light 0: frame 0, halfway from 100 to 300; light 1: frame 1, halfway from 200 to 600; light 2: at "after"
    np.testing.assert_allclose(got[:, 0, 0], [200.0, 400.0, 600.0])


def test_a_file_without_lights_is_a_clear_error(tmp_path):
    bad = tmp_path / "plain.fits"
    fitsio.write(str(bad), np.zeros((2, 2), np.int32))
    with pytest.raises(DarkFileError, match="missing"):
        pipeline_dark(bad)


def test_what_the_pipeline_leaves_out_and_a_model_beside_it():
    import darkmodel as dm

    summary = compare_with_pipeline(LIGHTS[0])
    # by hand: frame means of the first ("before") product, frames 1-4 (the pipeline uses only frame 1)
    frames = fitsio.read(str(LIGHTS[0]), ext="detector_dark").astype(float)
    means = frames.reshape(len(frames), -1).mean(axis=1)
    later_before, later_after = means[1:5], means[6:10]
    scatter = np.mean([np.std(m, ddof=1) / np.mean(m) for m in (later_before, later_after)])
    assert summary["frame_scatter_pct"] == pytest.approx(100 * scatter)
    offset = np.mean([abs(means[1] / later_before.mean() - 1), abs(means[6] / later_after.mean() - 1)])
    assert summary["frame1_vs_mean_pct"] == pytest.approx(100 * offset)
    model = dm.DarkRateModel.load(Path(__file__).parents[1] / "models" / "darkrate.json")
    with pytest.warns(dm.UnfittedIntTimeWarning):  # 400 ms was never fitted: the joint model answers
        got = compare_with_pipeline(LIGHTS[0], model)
    assert 0.5 < got["model_over_pipeline"] < 2.0
    # ... and says so: a column and words, not only a warning a script may never see
    assert got["int_time_fitted"] is False
    assert "INT_TIME 400 ms never fitted" in got["model_flags"]
