"""What a machine does to a command: bad arguments, special files, odd names, full and
read-only disks, interrupts, unreachable schedulers.

Every case ends in correct output or in one line naming the problem with exit status 1
(130/143 for an interrupt): never a traceback, a hang, a silent loss, or a change to an
earlier output.  The disk cases run in a private mount namespace where the machine
allows one (``unshare``), and are skipped where it does not.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import darkmodel as dm
from darkmodel.cli import main
from darkmodel.io.scanning import find_files
from darkmodel.parallel import available_cores, n_workers

DARKMODEL = [sys.executable, "-m", "darkmodel.cli"]


def _one_line_error(result, *needles):
    """Exit status 1, one ``Error:`` line naming the problem, no traceback."""
    text = result.output
    assert result.exit_code == 1, text
    assert "Traceback" not in text and result.exception is None or isinstance(result.exception, SystemExit), text
    errors = [line for line in text.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, text
    for needle in needles:
        assert needle in errors[0], text


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    """A small archive with its summary, model and superdark (each command's inputs)."""
    root = tmp_path_factory.mktemp("faults")
    archive = root / "archive"
    dm.simulate_archive(archive, n_files=120, random_state=4, missing_frame_fraction=0)
    runner = CliRunner()
    summary, model, sd = root / "s.parquet", root / "m.json", root / "sd.fits"
    for args in (["scan", str(archive), "-o", str(summary), "--workers", "1"],
                 ["fit", str(summary), "-o", str(model), "--n-boot", "19", "--alpha", "0.1", "--jobs", "1"],
                 ["superdark", str(archive), "--model", str(model), "-o", str(sd)]):
        result = runner.invoke(main, ["-q", *args])
        assert result.exit_code == 0, result.output
    return {"root": root, "archive": archive, "summary": summary, "model": model, "superdark": sd}


# ----------------------------------------------------------------------------- arguments
BAD_ARGUMENTS = [
    (["scan", "{archive}", "-o", "{out}/s.parquet", "--batch-size", "-1"], "--batch-size"),
    (["scan", "{archive}", "-o", "{out}/s.parquet", "--batch-size", "0"], "--batch-size"),
    (["scan", "{archive}", "-o", "{out}/s.parquet", "--workers", "0"], "--workers"),
    (["scan", "{archive}", "-o", "{out}/s.parquet", "--workers", "-5"], "--workers"),
    (["scan", "{archive}", "-o", "{out}/s.parquet", "--max-file-size", "nan"], "--max-file-size"),
    (["scan", "{archive}", "-o", "{out}/s.parquet", "--max-file-size", "inf"], "--max-file-size"),
    (["scan", "{archive}", "-o", "{out}/s.parquet", "--max-file-size", "-3"], "--max-file-size"),
    (["scan", "{archive}", "-o", "{out}/s.parquet", "--scheduler", "inproc://x"], "scheduler"),
    (["scan", "{archive}", "-o", "{out}/s.parquet", "--scheduler", "http://localhost:8787"], "scheduler"),
    (["scan", "{archive}", "-o", "{out}/s.txt"], "unknown file type"),
    (["scan", "{archive}", "-o", "{afile}/s.parquet"], "is a file, not a folder"),
    (["calibrate", "{summary}", "-o", "{summary}"], "also an input"),
    (["calibrate", "{summary}", "-o", "{out}/c.txt"], "unknown file type"),
    (["fit", "{summary}", "-o", "{out}/m.json", "--k-max", "0"], "--k-max"),
    (["fit", "{summary}", "-o", "{out}/m.json", "--k-max", "1000"], "--k-max"),
    (["fit", "{summary}", "-o", "{out}/m.json", "--alpha", "nan"], "--alpha"),
    (["fit", "{summary}", "-o", "{out}/m.json", "--jobs", "0"], "--jobs"),
    (["fit", "{summary}", "-o", "{out}/m.json", "--n-boot", "5"], "cannot reject"),
    (["fit", "{summary}", "-o", "{out}/m.txt"], "unknown file type"),
    (["fit", "{summary}", "-o", "{afile}/x.json"], "is a file, not a folder"),
    (["flipflop", "{summary}", "-o", "{out}/v.txt"], "unknown file type"),
    (["flipflop", "{summary}", "-o", "{out}/v.csv", "--n-boot", "0"], "--n-boot"),
    (["report", "{summary}", "--model", "{model}", "-o", "{out}/r.docx"], "unknown file type"),
    (["report", "{summary}", "--model", "{model}", "-o", "{out}"], "directory"),
    (["superdark", "{archive}", "--model", "{model}", "-o", "{out}/sd.fits", "--max-frames", "0"], "--max-frames"),
    (["superdark", "{archive}", "--model", "{model}", "-o", "{out}/sd.fits", "--max-frames", "-5"], "--max-frames"),
    (["export", "{model}", "--superdark", "{superdark}", "-o", "{out}/ref", "--ref-temp", "nan"], "--ref-temp"),
    (["export", "{model}", "--superdark", "{superdark}", "-o", "{out}/ref", "--ref-temp", "1e6"], "--ref-temp"),
    (["export", "{model}", "--superdark", "{superdark}", "-o", "{out}/ref", "--pedigree", "INFLIGHT é"],
     "printable ASCII"),
    (["export", "{model}", "--superdark", "{superdark}", "-o", "{out}/ref", "--pedigree", "IN\nFLIGHT"],
     "printable ASCII"),
    (["export", "{model}", "--superdark", "{model}", "-o", "{out}/ref"], "not a superdark"),
    (["export", "{model}", "--superdark", "{summary}", "-o", "{out}/ref"], "not a superdark"),
    (["export", "{model}", "--superdark", "{first}", "-o", "{out}/ref"], "not a superdark"),
    (["export", "{model}", "--superdark", "{out}/missing.fits", "-o", "{out}/ref"], "missing.fits"),
    (["simulate", "{afile}", "--n-files", "5"], "is a file"),
    (["demo", "--outdir", "{afile}", "--n-files", "5"], "is a file"),
    (["demo", "--outdir", "{out}/d", "--n-files", "5"], "--n-files"),
]


@pytest.mark.slow
@pytest.mark.parametrize("args, needle", BAD_ARGUMENTS, ids=[" ".join(a[:1] + a[-2:]) for a, _ in BAD_ARGUMENTS])
def test_a_bad_argument_is_one_line_before_any_work(chain, tmp_path, args, needle):
    afile = tmp_path / "afile"
    afile.write_text("I am a file")
    first = sorted(chain["archive"].rglob("*.fits.gz"))[0]
    fill = {"archive": chain["archive"], "summary": chain["summary"], "model": chain["model"],
            "superdark": chain["superdark"], "out": tmp_path, "afile": afile, "first": first}
    before = {p: p.read_bytes() for p in (chain["summary"], chain["model"], chain["superdark"])}
    start = time.perf_counter()
    result = CliRunner().invoke(main, [a.format(**fill) for a in args])
    _one_line_error(result, needle)
    assert time.perf_counter() - start < 20  # refused before the work, not after it
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]  # nothing written, no folder made
    assert all(p.read_bytes() == b for p, b in before.items())


def test_the_python_api_keeps_the_same_rules(chain):
    with pytest.raises(ValueError, match="batch_size"):
        dm.scan(chain["archive"], batch_size=-1, n_jobs=1)
    with pytest.raises(ValueError, match="n_jobs"):
        dm.scan(chain["archive"], n_jobs=0)
    with pytest.raises(ValueError, match="scheduler"):
        dm.scan(chain["archive"], scheduler="inproc://x")
    model = dm.DarkRateModel.load(chain["model"])
    from darkmodel.frames.reference_files import export_reference
    from darkmodel.frames.superdark import Superdark

    sd = Superdark.read(chain["superdark"])
    for bad in ({"ref_temp": float("nan")}, {"ref_temp": 1e6}, {"pedigree": "a\nb"}, {"pedigree": "ü"}):
        with pytest.raises(ValueError):
            export_reference(model, sd, chain["root"] / "never", **bad)
    assert not (chain["root"] / "never").exists()


def test_worker_counts_are_capped_at_the_cores_and_minus_one_means_all():
    assert n_workers(10_000) == available_cores()
    assert n_workers(-1) == available_cores()
    assert n_workers(1) == 1
    for bad in (0, -2, 2.5, True):
        with pytest.raises(ValueError):
            n_workers(bad)


# ----------------------------------------------------------------------------- the walker
def test_the_walker_sees_links_loops_and_special_files_under_their_own_names(chain, tmp_path):
    good = sorted(chain["archive"].rglob("*.fits.gz"))
    root = tmp_path / "arch"
    (root / "real").mkdir(parents=True)
    shutil.copy(good[0], root / "real" / good[0].name)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.copy(good[1], elsewhere / good[1].name)
    os.symlink(elsewhere, root / "linked")                 # a symlinked sub-folder: followed
    os.symlink(root, root / "real" / "loop")               # a loop: broken and reported
    os.mkfifo(root / "pipe.fits")                          # a FIFO: never opened
    os.symlink("/dev/zero", root / "zero.fits")            # a device behind a link
    os.symlink(tmp_path / "gone.fits", root / "dangling.fits")
    sock = socket.socket(socket.AF_UNIX)
    sock_path = root / "s.fits"
    try:
        sock.bind(str(sock_path))
    except OSError:  # pragma: no cover - path too long for AF_UNIX
        sock_path = None
    errors: list = []
    found = find_files([root], errors=errors)
    sock.close()
    assert sorted(Path(f).name for f in found) == sorted([good[0].name, good[1].name])
    reasons = {Path(e["file"]).name: e["reason"] for e in errors}
    assert "FIFO" in reasons["pipe.fits"]
    assert "character device" in reasons["zero.fits"] and "symbolic link" in reasons["zero.fits"]
    assert "dangling" in reasons["dangling.fits"]
    assert "loops back" in reasons["loop"]
    if sock_path is not None:
        assert "socket" in reasons["s.fits"]
    result = dm.scan(root, n_jobs=1)
    assert result.counts["products"] == 2 and len(result.errors) >= 4


@pytest.mark.slow
def test_names_that_are_not_utf8_are_read_and_reported_under_any_locale(chain, tmp_path):
    good = sorted(chain["archive"].rglob("*.fits.gz"))
    root = tmp_path / "odd"
    root.mkdir()
    raw = os.fsencode(str(root)) + b"/mvn_caf\xe9_" + os.fsencode(good[0].name)
    shutil.copy(good[0], raw)
    shutil.copy(good[1], root / ("été_" + good[1].name))
    (root / "broken_\udce9.fits").write_bytes(b"not fits")
    out = tmp_path / "s.parquet"
    for locale in ("C", "C.UTF-8"):
        env = {**os.environ, "LC_ALL": locale, "LANG": locale}
        env.pop("PYTHONUTF8", None)
        proc = subprocess.run([*DARKMODEL, "scan", str(root), "-o", str(out), "--workers", "1"], env=env,
                              capture_output=True, text=True, errors="replace", timeout=300)
        assert proc.returncode == 0, proc.stderr
        assert "Traceback" not in proc.stderr
        table = dm.read_table(out)
        assert table["SOURCE_FILE"].str.contains(r"caf\xe9", regex=False).any()
        assert table["SOURCE_FILE"].str.contains("été").any()
        assert "broken_\\xe9.fits" in (out.parent / "s.errors.csv").read_text()


@pytest.mark.slow
def test_compare_l1b_on_a_fifo_says_so_and_does_not_block(tmp_path):
    fifo = tmp_path / "mvn_iuv_l1b_fake.fits.gz"
    os.mkfifo(fifo)
    proc = subprocess.run([*DARKMODEL, "compare-l1b", str(fifo)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and "FIFO" in proc.stderr and str(fifo) in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.slow
def test_compare_l1b_names_the_file_not_its_private_copy(tmp_path):
    bad = tmp_path / "mvn_iuv_l1b_apoapse-orbit00001-fuv_20150101T000000_v13_r01.fits"
    bad.write_bytes(b"SIMPLE  =                    T" + b" " * 2850)
    proc = subprocess.run([*DARKMODEL, "compare-l1b", str(bad)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and str(bad) in proc.stderr and "Traceback" not in proc.stderr
    assert "darkmodel-" not in proc.stderr.replace(str(tmp_path), "")  # no private temporary path


def test_a_small_bitpix8_file_is_refused_before_its_float64_copy_is_made(chain, tmp_path, monkeypatch):
    """The limit bounds what the reader allocates (the cube as float64), not the file's size."""
    from astropy.io import fits

    from darkmodel.io.read import DarkFileError, load_products

    template = sorted(chain["archive"].rglob("*.fits.gz"))[0]
    with fits.open(template) as hdul:
        n_int = hdul[0].data.shape[0] if hdul[0].data.ndim == 3 else 1
        cube = np.zeros((n_int, 400, 1024), np.uint8)  # BITPIX=8: 1 byte per value on disk, 8 in memory
        hdul[0].data = cube
        bomb = tmp_path / template.name.replace(".gz", "")
        hdul.writeto(bomb)
    on_disk, in_memory = bomb.stat().st_size, 8 * cube.size
    monkeypatch.setenv("DARKMODEL_MAX_FILE_SIZE", str((on_disk + in_memory) // 2))
    with pytest.raises(DarkFileError, match="float64") as caught:
        load_products(bomb)
    assert caught.value.path.endswith(bomb.name)


# ----------------------------------------------------------------------------- outputs
def test_scan_update_refuses_a_calibrated_table(chain, tmp_path):
    calibrated = tmp_path / "c.parquet"
    runner = CliRunner()
    assert runner.invoke(main, ["-q", "calibrate", str(chain["summary"]), "-o", str(calibrated)]).exit_code == 0
    before = calibrated.read_bytes()
    result = runner.invoke(main, ["scan", str(chain["archive"]), "-o", str(calibrated), "--update", "--workers", "1"])
    _one_line_error(result, "calibrated table")
    assert calibrated.read_bytes() == before


def test_export_swaps_its_folder_in_whole(chain, tmp_path):
    runner = CliRunner()
    out = tmp_path / "ref"
    out.mkdir()
    (out / "iuvs_dark_STALE_0ms_f0_20000101.fits").write_bytes(b"stale")
    args = ["export", str(chain["model"]), "--superdark", str(chain["superdark"]), "-o", str(out)]
    _one_line_error(runner.invoke(main, args), "--overwrite")  # an earlier export is replaced only when asked
    assert [p.name for p in out.iterdir()] == ["iuvs_dark_STALE_0ms_f0_20000101.fits"]
    result = runner.invoke(main, [*args, "--overwrite"])
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in out.iterdir())
    assert names and "iuvs_dark_STALE_0ms_f0_20000101.fits" not in names
    assert all(n.startswith("iuvs_dark_") for n in names)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ref"]  # no staging folder left
    (out / "notes.txt").write_text("mine")
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    refused = runner.invoke(main, [*args, "--overwrite"])
    _one_line_error(refused, "not reference files")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def _namespace_available() -> bool:
    if not sys.platform.startswith("linux") or shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-rm", "sh", "-c", "mount -t tmpfs tmpfs /mnt"], capture_output=True)
    return probe.returncode == 0


DISK_SCRIPT = r"""
set -u
mount -t tmpfs -o size=600k tmpfs "$FULL"
head -c 560000 /dev/zero > "$FULL/filler"
mount -t tmpfs -o size=6m tmpfs "$TIGHT"
mount -t tmpfs -o size=1m,ro tmpfs "$RO"
"""


@pytest.mark.slow
@pytest.mark.skipif(not _namespace_available(), reason="no private mount namespace on this machine")
def test_full_and_read_only_disks_give_one_line_and_keep_earlier_outputs(chain, tmp_path):
    full, ro, tight = tmp_path / "full", tmp_path / "ro", tmp_path / "tight"
    for d in (full, ro, tight):
        d.mkdir()
    cases = [
        ["scan", str(chain["archive"]), "-o", "{d}/s.parquet", "--workers", "1"],
        ["calibrate", str(chain["summary"]), "-o", "{d}/c.parquet"],
        ["fit", str(chain["summary"]), "-o", "{d}/m.json", "--n-boot", "19", "--alpha", "0.1", "--jobs", "1"],
        ["flipflop", str(chain["summary"]), "-o", "{d}/v.csv", "--n-boot", "19", "--alpha", "0.1", "--jobs", "1"],
        ["report", str(chain["summary"]), "--model", str(chain["model"]), "-o", "{d}/r.html"],
        ["superdark", str(chain["archive"]), "--model", str(chain["model"]), "-o", "{d}/sd.fits"],
        ["export", str(chain["model"]), "--superdark", str(chain["superdark"]), "-o", "{d}/ref"],
    ]
    lines = [DISK_SCRIPT]
    for i, case in enumerate(cases):
        for d in (full, ro):
            cmd = " ".join(f"'{a}'" for a in [*DARKMODEL, *case]).replace("{d}", str(d))
            lines.append(f"{cmd} >/dev/null 2>\"$LOG/{i}-{d.name}.err\"; echo $? > \"$LOG/{i}-{d.name}.rc\"")
    # a disk with room for the check but not for the simulated archive: fails in the middle of the work
    lines.append(" ".join(f"'{a}'" for a in [*DARKMODEL, "simulate", f"{tight}/a", "--n-files", "400"])
                 + " >/dev/null 2>\"$LOG/tight.err\"; echo $? > \"$LOG/tight.rc\"")
    log = tmp_path / "log"
    log.mkdir()
    script = tmp_path / "run.sh"
    script.write_text("\n".join(lines))
    env = {**os.environ, "FULL": str(full), "RO": str(ro), "TIGHT": str(tight), "LOG": str(log)}
    proc = subprocess.run(["unshare", "-rm", "bash", str(script)], env=env, capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0, proc.stderr
    for i in range(len(cases)):
        for d in ("full", "ro"):
            err = (log / f"{i}-{d}.err").read_text()
            assert (log / f"{i}-{d}.rc").read_text().strip() == "1", (cases[i], d, err)
            assert "Traceback" not in err and err.count("Error:") == 1, (cases[i], d, err)
    err = (log / "tight.err").read_text()
    assert (log / "tight.rc").read_text().strip() == "1" and "Traceback" not in err, err
    assert err.count("Error:") == 1 and ("No space left" in err or "error writing" in err), err
    assert len(err.strip().splitlines()) == 1, err  # one line, whatever library said it


# ----------------------------------------------------------------------------- interrupts
def _children(pid: int) -> list[int]:
    try:
        out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    except FileNotFoundError:  # pragma: no cover
        return []
    return [int(p) for p in out.split()]


@pytest.fixture(scope="module")
def large_table(tmp_path_factory):
    """A calibrated table whose fit takes long enough to be interrupted (tens of seconds)."""
    table, _ = dm.simulate_table(n_files=1500, scenario="flipflop", random_state=2)
    path = tmp_path_factory.mktemp("large") / "large.parquet"
    dm.write_table(table.reset_index(), path)
    return path


@pytest.fixture(scope="module")
def large_model(large_table, tmp_path_factory):
    path = tmp_path_factory.mktemp("large_model") / "m.json"
    result = CliRunner().invoke(main, ["-q", "fit", str(large_table), "-o", str(path), "--n-boot", "19",
                                       "--alpha", "0.1", "--jobs", "2"])
    assert result.exit_code == 0, result.output
    return path


INTERRUPTED = [("fit", signal.SIGINT, 130), ("fit", signal.SIGTERM, 143), ("flipflop", signal.SIGINT, 130),
               ("report", signal.SIGINT, 130)]


@pytest.mark.slow
@pytest.mark.parametrize("command, sig, status", INTERRUPTED, ids=[f"{c}-{s.name}" for c, s, _ in INTERRUPTED])
def test_an_interrupt_ends_with_one_line_no_file_and_no_orphan(large_table, large_model, tmp_path, command, sig,
                                                               status):
    rng = np.random.default_rng(int(sig) + len(command))
    suffix = {"fit": ".json", "flipflop": ".csv", "report": ".html"}[command]
    extra = {"fit": ["--n-boot", "199", "--alpha", "0.05", "--jobs", "2"],
             "flipflop": ["--n-boot", "199", "--jobs", "2"],
             "report": ["--model", str(large_model)]}[command]
    interrupted = 0
    for attempt in range(3):
        out = tmp_path / f"out{attempt}{suffix}"
        proc = subprocess.Popen([*DARKMODEL, command, str(large_table), "-o", str(out), *extra],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while not _children(proc.pid) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)  # the work has begun when the worker pool has
        time.sleep(float(rng.uniform(0.0, 1.5)))  # then a random moment of it
        children = _children(proc.pid)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
        if proc.returncode == 0:  # finished before the signal: nothing to judge
            continue
        interrupted += 1
        assert proc.returncode == status, err
        assert "Traceback" not in err and "SystemError" not in err, err
        assert "stopped; no output written" in err and err.strip().count("\n") == 0, err
        assert not out.exists() and not list(tmp_path.glob(".out*"))
        time.sleep(0.5)
        assert not [c for c in children if Path(f"/proc/{c}").exists()
                    and "zombie" not in Path(f"/proc/{c}/status").read_text().lower()]
        if interrupted == 2:
            break
    assert interrupted, f"every {command} finished before the signal: the case was not tried"


# ----------------------------------------------------------------------------- environment
@pytest.mark.slow
def test_compiled_code_builds_where_numba_has_no_cache_locator(tmp_path):
    """A read-only install with HOME pointing nowhere: the cache moves to a private folder."""
    code = (
        "import numba.core.caching as c\n"
        "impl = getattr(c, 'CacheImpl', None) or c._CacheImpl  # numba's names lost their underscore in 0.59\n"
        "user = getattr(c, 'UserProvidedCacheLocator', None) or c._UserProvidedCacheLocator\n"
        "impl._locator_classes = [user]  # neither beside the package nor under HOME\n"
        "import darkmodel.stats.em_compiled as e\n"
        "e.warm_up()\n"
        "print('ok')\n")
    env = {**os.environ, "HOME": str(tmp_path / "nowhere"), "TMPDIR": str(tmp_path)}
    env.pop("NUMBA_CACHE_DIR", None)
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr
    cache = tmp_path / f"darkmodel-numba-{os.getuid()}"
    assert cache.is_dir() and any(cache.rglob("*.nbi")) and oct(cache.stat().st_mode & 0o777) == "0o700"


@pytest.mark.slow
def test_a_port_that_never_speaks_dask_fails_within_the_deadline(chain, monkeypatch):
    pytest.importorskip("distributed")
    import darkmodel.io.scanning as scanning

    server = socket.socket()
    server.bind(("127.0.0.1", 0))  # any free port: the machine's ports are not assumed
    server.listen(1)
    held = []
    accept = threading.Thread(target=lambda: held.append(server.accept()), daemon=True)
    accept.start()
    monkeypatch.setattr(scanning, "SCHEDULER_DEADLINE", 3.0)
    start = time.perf_counter()
    try:
        with pytest.raises(ConnectionError, match="cannot reach the Dask scheduler"):
            dm.scan(chain["archive"], scheduler=f"tcp://127.0.0.1:{server.getsockname()[1]}")
    finally:
        server.close()
        for conn, _ in held:
            conn.close()
    assert time.perf_counter() - start < 30


# ----------------------------------------------------------------------------- degenerate tables
@pytest.fixture(scope="module")
def calibrated(chain):
    table = dm.read_table(chain["summary"])
    return dm.calibrate(table)


def test_pyarrow_and_nullable_dtypes_fit_as_numpy_ones(calibrated):
    arrow = calibrated.reset_index().convert_dtypes(dtype_backend="pyarrow")
    nullable = calibrated.reset_index().convert_dtypes()
    settings = {"n_boot": 19, "alpha": 0.1, "n_jobs": 1}
    reference = dm.DarkRateModel(**settings).fit(calibrated)
    for table in (arrow, nullable):
        model = dm.DarkRateModel(**settings).fit(table)
        assert model.provenance_["n_rows_used"] == reference.provenance_["n_rows_used"]
        pd_cols = ["XUV", "INT_TIME", "n_families", "noise_relative"]
        assert model.groups[pd_cols].astype(str).equals(reference.groups[pd_cols].astype(str))


def test_a_table_with_every_row_twice_is_fitted_as_the_table_with_a_warning(calibrated):
    import pandas as pd

    settings = {"n_boot": 19, "alpha": 0.1, "n_jobs": 1}
    reference = dm.DarkRateModel(**settings).fit(calibrated)
    with pytest.warns(UserWarning, match=f"{len(calibrated)} duplicated row"):
        twice = dm.DarkRateModel(**settings).fit(pd.concat([calibrated, calibrated]))
    cols = ["noise_additive", "noise_relative", "n_families"]
    assert twice.groups[cols].astype(str).equals(reference.groups[cols].astype(str))


def test_text_in_a_numeric_column_is_named_and_its_rows_left_out(calibrated):
    table = calibrated.reset_index()
    table["DET_TEMP"] = table["DET_TEMP"].astype(str)
    table.loc[:4, "DET_TEMP"] = "cold"
    with pytest.warns(UserWarning, match="5 value.s. of DET_TEMP are not numbers"):
        model = dm.DarkRateModel(n_boot=19, alpha=0.1, n_jobs=1).fit(table)
    assert model.provenance_["n_rows_used"] == len(table) - 5


def test_table_faults_at_the_cli_are_one_line(calibrated, tmp_path, chain):
    table = calibrated.reset_index()
    runner = CliRunner()
    other_key = tmp_path / "other.h5"
    table.to_hdf(other_key, key="data")
    _one_line_error(runner.invoke(main, ["fit", str(other_key), "-o", str(tmp_path / "m.json")]), "'data'", "'df'")
    for column in ("DET_TEMP", "XUV"):
        path = tmp_path / f"no_{column}.parquet"
        table.drop(columns=[column]).to_parquet(path)
        for args in (["fit", str(path), "-o", str(tmp_path / "m.json")],
                     ["report", str(path), "--model", str(chain["model"]), "-o", str(tmp_path / "r.html")],
                     ["flipflop", str(path), "-o", str(tmp_path / "v.csv")]):
            _one_line_error(runner.invoke(main, args), column)
    path = tmp_path / "twice.parquet"
    dm.write_table(pd_concat_twice(table), path)
    result = runner.invoke(main, ["fit", str(path), "-o", str(tmp_path / "m2.json"), "--n-boot", "19",
                                  "--alpha", "0.1", "--jobs", "1"])
    assert result.exit_code == 0 and "duplicated row" in result.output and "Traceback" not in result.output
    assert f"{len(table)} of {2 * len(table)} rows not used" in result.output


def pd_concat_twice(table):
    import pandas as pd

    return pd.concat([table, table], ignore_index=True)


@pytest.mark.slow
def test_a_report_of_many_groups_draws_the_largest_and_says_so():
    from darkmodel.reporting import figures

    table, _ = dm.simulate_table(n_files=900, scenario="stable", random_state=3)
    rng = np.random.default_rng(1)
    files = table["FILENAME"].unique()
    spread = dict(zip(files, rng.integers(0, 3 * figures.MAX_GROUP_PANELS, len(files)) * 300 + 1400))
    table["INT_TIME"] = table["FILENAME"].map(spread)
    model = dm.DarkRateModel(n_boot=19, alpha=0.1, n_jobs=1).fit(table)
    labels = model.assign(table)
    n_muv = table.loc[table["XUV"] == "MUV", "INT_TIME"].nunique()
    assert n_muv > figures.MAX_GROUP_PANELS
    fig = figures.rate_vs_temperature(table, model, labels, "MUV")
    assert len(fig.axes) == 2 * figures.MAX_GROUP_PANELS
    assert f"the {figures.MAX_GROUP_PANELS} of {n_muv} INT_TIMEs" in fig._suptitle.get_text().replace("\n", " ")
    largest = table.loc[table["XUV"] == "MUV", "INT_TIME"].value_counts().index[0]
    assert any(f"= {largest} ms" in ax.get_title() for ax in fig.axes)


def test_a_scan_that_finds_no_file_writes_nothing_and_says_so(tmp_path):
    (tmp_path / "empty").mkdir()
    out = tmp_path / "s.parquet"
    result = CliRunner().invoke(main, ["scan", str(tmp_path / "empty"), "-o", str(out)])
    _one_line_error(result, "no FITS file")
    assert not out.exists()
