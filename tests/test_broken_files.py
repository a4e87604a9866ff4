"""A corpus of broken files: each becomes an error naming the file and the problem."""

import gzip
import shutil

import numpy as np
import pytest
from astropy.io import fits

import darkmodel as dm
from darkmodel.io.read import DarkFileError


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Twelve good v02 files plus one broken file of every kind, with the expected reason."""
    root = tmp_path_factory.mktemp("corpus")
    good_dir = root / "archive"
    truth = dm.simulate_archive(good_dir, n_files=12, random_state=4, layout="v02", days=5, missing_frame_fraction=0)
    good = sorted(good_dir.rglob("*.fits.gz"))
    bad_dir = good_dir / "broken"
    bad_dir.mkdir()
    template = good[0]
    broken = {}

    def spoil(name, reason, edit):
        target = bad_dir / name
        with fits.open(template, do_not_scale_image_data=True) as hdul:
            hdul = fits.HDUList([h.copy() for h in hdul])
            edit(hdul)
            hdul.writeto(target, output_verify="silentfix")
        broken[target] = reason

    (bad_dir / "mvn_empty.fits.gz").write_bytes(b"")
    broken[bad_dir / "mvn_empty.fits.gz"] = "file is empty"
    data = template.read_bytes()
    for frac in (0.5, 0.8, 0.97):  # late truncations leave readable HDUs: they must still be caught
        name = f"mvn_truncated_{int(frac * 100)}.fits.gz"
        (bad_dir / name).write_bytes(data[: int(len(data) * frac)])
        broken[bad_dir / name] = "truncated or corrupt gzip stream"
    plain = gzip.decompress(data)
    (bad_dir / "mvn_truncated_plain.fits").write_bytes(plain[: len(plain) - 1000])
    broken[bad_dir / "mvn_truncated_plain.fits"] = "truncated FITS file"
    (bad_dir / "mvn_text.fits").write_text("SIMPLE? no, this is a shopping list\n" * 40)
    broken[bad_dir / "mvn_text.fits"] = "not a readable FITS file"
    (bad_dir / "mvn_noise.fits.gz").write_bytes(gzip.compress(np.random.default_rng(0).bytes(5000)))
    broken[bad_dir / "mvn_noise.fits.gz"] = "not a readable FITS file"

    def drop_temperatures(h):
        del h["Integration"]

    spoil("mvn_no_integration.fits.gz", "missing extension(s) Integration", drop_temperatures)
    spoil("mvn_bad_xuv.fits.gz", "neither 'FUV' nor 'MUV'", lambda h: h[0].header.set("XUV", "XYZ"))
    spoil("mvn_bad_binning.fits.gz", "SPA_SIZE='wide' is not a number",
          lambda h: h[0].header.set("SPA_SIZE", "wide"))
    spoil("mvn_zero_size.fits.gz", "not a valid binning value", lambda h: h[0].header.set("SPE_SIZE", 0))

    def zero_int_time(h):
        h["Engineering"].data["INT_TIME"][0] = 0

    spoil("mvn_zero_int_time.fits.gz", "not a positive integration time", zero_int_time)

    def one_dim(h):
        h[0] = fits.PrimaryHDU(data=np.arange(10, dtype=np.int32), header=h[0].header)

    spoil("mvn_one_dim.fits.gz", "NAXIS=1", one_dim)

    def bad_binning_table(h):
        h["Binning"].data["SPABINTRANSMIT"][0][:] = 0

    spoil("mvn_bad_binning_table.fits.gz", "Binning table: SPA transmits 0 bins", bad_binning_table)
    return good_dir, truth, broken


def test_each_broken_file_raises_a_clear_error(corpus):
    _, _, broken = corpus
    for path, reason in broken.items():
        with pytest.raises(DarkFileError) as info:
            dm.read_dark(path)
        assert str(path) in str(info.value), path
        assert reason in info.value.reason, (path, info.value.reason)


def test_missing_file_is_an_error():
    with pytest.raises(DarkFileError, match="cannot access file"):
        dm.read_dark("/nonexistent/mvn_iuv_l1a_x.fits.gz")


def test_scan_keeps_every_good_row_and_lists_every_broken_file(corpus):
    good_dir, truth, broken = corpus
    for workers in (1, 2):
        table, errors = dm.scan(good_dir, n_jobs=workers, batch_size=3)
        assert len(table) == len(truth)
        assert set(table["FILENAME"]) == set(truth["FILENAME"])
        assert sorted(errors["file"]) == sorted(str(p) for p in broken)
        reasons = dict(zip(errors["file"], errors["reason"]))
        for path, reason in broken.items():
            assert reason in reasons[str(path)]


def test_scan_logs_each_skipped_file(corpus, caplog):
    good_dir, _, broken = corpus
    with caplog.at_level("WARNING", logger="darkmodel"):
        dm.scan(good_dir, n_jobs=1)
    logged = " ".join(r.getMessage() for r in caplog.records)
    for path in broken:
        assert str(path) in logged


def test_broken_l1b_copy_is_an_error(real_files, tmp_path):
    target = tmp_path / real_files[1].name
    with fits.open(real_files[1]) as hdul:
        keep = [h.copy() for h in hdul if h.name.upper() != "DARK_ENGINEERING"]
        fits.HDUList(keep).writeto(target)
    with pytest.raises(DarkFileError, match="no Dark_Engineering extension"):
        dm.read_dark(target)
    shutil.copy(real_files[0], tmp_path)
    table, errors = dm.scan(tmp_path, n_jobs=1)
    assert len(table) == 10 and errors["file"].tolist() == [str(target)]
