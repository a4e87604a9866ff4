"""Whatever an archive holds: a hostile corpus scanned with good files, odd legal names,
absurd values, a gzip bomb, crashes in the middle of a scan, tampered model files.

Every bad file must end in the errors table with a reason; no good row may be lost; a
readable file with absurd values must be excluded by ``calibrate`` and leave ``fit``,
``flipflop_test`` and ``report`` working.
"""

import gzip
import os
import signal
import subprocess
import sys
import time
import warnings
import zlib

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits

import darkmodel as dm
from darkmodel.io.read import DarkFileError

ODD_NAMES = ["archive [2015]", "dollar $HOME and ${PATH}", "with space", "ünïcødé 火星", "new\nline", "=cmd|calc"]


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    good_dir = root / "good"
    truth = dm.simulate_archive(good_dir, n_files=10, random_state=5, layout="v02", days=4, missing_frame_fraction=0)
    good = sorted(good_dir.rglob("*.fits.gz"))
    bad = root / "bad"
    bad.mkdir()
    template = good[0]
    data = template.read_bytes()
    plain = gzip.decompress(data)
    kinds = {}  # path -> "error" (must be an error row), "rows" (must read), "excluded" (rows, all excluded)

    def put(name, payload, expect):
        path = bad / name
        path.write_bytes(payload)
        kinds[path] = expect

    for i, frac in enumerate(np.linspace(0.05, 0.98, 12)):
        put(f"mvn_trunc_gz_{i}.fits.gz", data[: int(len(data) * frac)], "error")
    for i, frac in enumerate(np.linspace(0.05, 0.95, 8)):
        put(f"mvn_trunc_plain_{i}.fits", plain[: int(len(plain) * frac)], "error")
    rng = np.random.default_rng(0)
    for i, pos in enumerate(np.linspace(12, len(data) - 9, 10).astype(int)):  # flipped bytes: the CRC catches them
        spoilt = bytearray(data)
        spoilt[pos] ^= 0xFF
        put(f"mvn_flipped_{i}.fits.gz", bytes(spoilt), "error")
    put("mvn_empty.fits", b"", "error")
    put("mvn_zeros.fits", bytes(2880 * 3), "error")
    put("mvn_random.fits", rng.bytes(2880 * 2), "error")
    put("mvn_random.fits.gz", gzip.compress(rng.bytes(9000)), "error")
    put("mvn_gzip_of_nothing.fits.gz", gzip.compress(b""), "error")
    put("mvn_text.fits", b"SIMPLE? no\n" * 300, "error")
    put("mvn_header_only.fits", plain[:2880], "error")
    put("mvn_bzip2.fits.gz", b"BZh91AY&SY" + rng.bytes(500), "error")
    put("mvn_double_gzip.fits.gz", gzip.compress(data), "error")
    put("mvn_concatenated.fits.gz", data + data, "error")
    # a gzip bomb: 64 MiB of zeros behind a FITS header, against a 16 MiB limit (set below)
    header = (f"SIMPLE  = T{'':<69}BITPIX  = 8{'':<68}NAXIS   = 1{'':<68}NAXIS1  = {64 * 2**20:<70}END").ljust(2880)
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    bomb = comp.compress(header.encode()) + b"".join(comp.compress(bytes(2**20)) for _ in range(64)) + comp.flush()
    put("mvn_bomb.fits.gz", bomb, "error")
    lie = bytearray(bomb)
    lie[-4:] = (1000).to_bytes(4, "little")  # a trailer that claims 1000 bytes: caught while inflating
    put("mvn_bomb_lying_trailer.fits.gz", bytes(lie), "error")

    def spoil(name, edit, expect):
        with fits.open(template, do_not_scale_image_data=True) as hdul, warnings.catch_warnings():
            # a float image keeps the integer file's BLANK card: astropy says so, the reader must cope
            warnings.simplefilter("ignore", fits.verify.VerifyWarning)
            hdul = fits.HDUList([h.copy() for h in hdul])
            edit(hdul)
            hdul.writeto(bad / name, output_verify="silentfix")
        kinds[bad / name] = expect

    spoil("mvn_no_Integration.fits.gz", lambda h: h.__delitem__("Integration"), "error")
    spoil("mvn_no_Engineering.fits.gz", lambda h: h.__delitem__("Engineering"), "rows")  # v02 headers suffice
    spoil("mvn_no_image.fits.gz", lambda h: h.__setitem__(0, fits.PrimaryHDU(header=h[0].header)), "error")
    spoil("mvn_xuv_xyz.fits.gz", lambda h: h[0].header.set("XUV", "XYZ"), "error")
    spoil("mvn_int_time_text.fits.gz", lambda h: h[0].header.set("INT_TIME", "long"), "rows")  # Engineering has it
    for col, value in (("DET_TEMP", -2**15), ("DET_TEMP", 2**15 - 1), ("CASE_TEMP", -2**15)):
        def absurd(h, c=col, v=value):
            h["Integration"].data[c][:] = v
        spoil(f"mvn_absurd_{col}_{value}.fits.gz", absurd, "excluded")

    def huge_image(h):
        h[0] = fits.PrimaryHDU(data=np.full(h[0].data.shape, 1e300), header=h[0].header)

    def inf_image(h):
        d = np.full(h[0].data.shape, np.inf)
        d[::2] = -np.inf
        h[0] = fits.PrimaryHDU(data=d, header=h[0].header)

    spoil("mvn_image_1e300.fits.gz", huge_image, "excluded")
    spoil("mvn_image_inf.fits.gz", inf_image, "excluded")
    spoil("mvn_image_nan.fits.gz",
          lambda h: h.__setitem__(0, fits.PrimaryHDU(data=np.full(h[0].data.shape, np.nan), header=h[0].header)),
          "excluded")
    spoil("mvn_mcp_absurd.fits.gz", lambda h: h[0].header.set("MCP_VOLT", 1e9), "excluded")
    # odd but legal names, good content
    for name in ODD_NAMES:
        folder = root / name
        folder.mkdir()
        target = folder / f"{name.splitlines()[0]} {template.name}"
        target.write_bytes(data)
        kinds[target] = "rows"
    return root, good_dir, truth, kinds


def test_a_hostile_corpus_loses_no_good_row_and_names_every_bad_file(hostile, monkeypatch):
    root, good_dir, truth, kinds = hostile
    assert len(kinds) >= 50
    monkeypatch.setenv("DARKMODEL_MAX_FILE_SIZE", str(16 * 2**20))
    result = dm.scan([root], n_jobs=2)
    errors = result.errors.set_index("file")["reason"]
    wrong = []
    for path, expect in kinds.items():
        key = os.path.realpath(path)
        if expect == "error" and (key not in errors.index or "unexpected" in errors[key] or len(errors[key]) < 10):
            wrong.append((path.name, "no clear error", errors.get(key)))
        elif expect != "error" and key in errors.index:
            wrong.append((path.name, "should be read", errors[key]))
    assert not wrong, wrong
    assert "limit" in errors[os.path.realpath(root / "bad" / "mvn_bomb.fits.gz")]
    assert "limit" in errors[os.path.realpath(root / "bad" / "mvn_bomb_lying_trailer.fits.gz")]
    # no good row lost: every simulated integration is there, once
    good_rows = result.table[result.table["SOURCE_FILE"].str.startswith(os.path.realpath(good_dir))]
    assert len(good_rows) == len(truth)
    # odd names are read literally: their rows carry their own path
    for name in ODD_NAMES:
        assert result.table["SOURCE_FILE"].str.contains(name.splitlines()[0], regex=False).any(), name
    calibrated = dm.calibrate(result.table, keep_excluded=True)
    for path, expect in kinds.items():
        if expect == "excluded":
            rows = calibrated[calibrated["SOURCE_FILE"] == os.path.realpath(path)]
            assert len(rows) and rows["exclusion"].notna().all(), path.name
    assert calibrated["exclusion"].str.startswith("implausible").sum() > 0


@pytest.mark.slow
def test_absurd_values_leave_fit_flipflop_and_report_working(hostile, tmp_path, monkeypatch):
    root, *_ = hostile
    monkeypatch.setenv("DARKMODEL_MAX_FILE_SIZE", str(16 * 2**20))
    table = dm.scan([root], n_jobs=1).table
    calibrated = dm.calibrate(table, keep_excluded=True)
    model = dm.DarkRateModel(n_boot=19, alpha=0.1, min_files=3, n_jobs=1).fit(calibrated)
    verdicts = dm.flipflop_test(calibrated, model, n_boot=39, alpha=0.1, n_jobs=1)
    assert len(verdicts.table) == len(model.groups_)
    assert dm.report(calibrated, model, tmp_path / "r.html", verdicts=verdicts).stat().st_size > 10_000


def test_a_file_larger_than_the_limit_is_refused_before_reading(tmp_path, monkeypatch):
    monkeypatch.setenv("DARKMODEL_MAX_FILE_SIZE", "10000")
    big = tmp_path / "mvn_big.fits"
    big.write_bytes(bytes(2880 * 5))
    with pytest.raises(DarkFileError, match="file-size limit"):
        dm.read_dark(big)


def test_an_unreadable_folder_is_an_error_row(tmp_path, monkeypatch):
    (tmp_path / "ok").mkdir()
    (tmp_path / "locked").mkdir()
    real_scandir = os.scandir

    def scandir(path="."):
        if os.fspath(path).endswith("locked"):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    errors = []
    assert dm.find_files([tmp_path], errors=errors) == []
    assert errors and errors[0]["file"].endswith("locked") and "Permission denied" in errors[0]["reason"]


_SCAN_FOREVER = """
import sys, darkmodel as dm
dm.scan([sys.argv[1]], n_jobs=2, batch_size=1)
"""


def _children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = subprocess.run(["ps", "-o", "stat=", "-p", str(pid)], capture_output=True, text=True).stdout
    return bool(stat.strip()) and not stat.strip().startswith("Z")


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signal is Linux-only")
def test_workers_end_with_a_killed_scan(hostile):
    root, good_dir, *_ = hostile
    proc = subprocess.Popen([sys.executable, "-c", _SCAN_FOREVER, str(root)])
    workers = []
    deadline = time.time() + 60
    while time.time() < deadline and len(workers) < 2 and proc.poll() is None:
        time.sleep(0.2)
        workers = _children(proc.pid)
    if proc.poll() is not None:
        pytest.skip("the scan finished before it could be killed")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.time() + 10
    while time.time() < deadline and any(_alive(w) for w in workers):
        time.sleep(0.2)
    assert workers and not any(_alive(w) for w in workers)


@pytest.mark.slow
def test_a_killed_scan_then_update_equals_a_clean_scan(hostile, tmp_path):
    root, good_dir, *_ = hostile
    out = tmp_path / "summary.parquet"
    cmd = [sys.executable, "-m", "darkmodel.cli", "-q", "scan", str(good_dir), "-o", str(out), "--workers", "2",
           "--batch-size", "1"]
    for delay in (0.5, 1.5):
        proc = subprocess.Popen(cmd)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    subprocess.run([*cmd, "--update"], check=True)
    clean = dm.scan([good_dir], n_jobs=1).table
    got = pd.read_parquet(out)
    cols = ["SOURCE_FILE", "INTEGRATION", "dark_mean", "DET_TEMP_C"]
    pd.testing.assert_frame_equal(got[cols].sort_values(cols[:2]).reset_index(drop=True),
                                  clean[cols].sort_values(cols[:2]).reset_index(drop=True))
    assert not list(tmp_path.glob(".summary.parquet.*"))  # no temporary left behind
    assert not (tmp_path / "summary.parquet.lock").exists()


def test_private_folders_of_killed_processes_are_removed(tmp_path, monkeypatch):
    import tempfile

    from darkmodel.io import read as read

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    dead = tmp_path / "darkmodel-4194303-abc"  # no such process (above Linux's default pid range)
    dead.mkdir()
    (dead / "1.fits").write_bytes(b"left by a kill -9")
    alive = tmp_path / f"darkmodel-{os.getpid()}-xyz"
    alive.mkdir()
    read._remove_stale_folders()
    assert not dead.exists() and alive.exists()
