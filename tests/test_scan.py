"""Scanning: back ends, batching, --update, de-duplication, the seed's per-file table."""

import contextlib
import importlib
import os
import shutil
import socket
import time

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits

import darkmodel as dm
from darkmodel.io.scanning import deduplicate, find_files


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    out = tmp_path_factory.mktemp("scan")
    truth = dm.simulate_archive(out, n_files=30, random_state=21, days=8, missing_frame_fraction=0)
    return out, truth


def _sorted(table):
    return table.sort_values(["FILENAME", "INTEGRATION"]).reset_index(drop=True)


def test_find_files_takes_folders_globs_and_files(archive, tmp_path):
    out, _ = archive
    every = find_files([out])
    assert len(every) == 30 and all(f.endswith(".fits.gz") for f in every)
    (out / "notes.txt").write_text("not a FITS file")
    (out / ".partial.fits.gz").write_bytes(b"")  # hidden: a write in progress
    assert find_files([out]) == every
    pattern = str(out / "**" / "*muvdark*.fits.gz")
    assert find_files([pattern]) == [f for f in every if "muvdark" in f]
    assert find_files([every[0], every[0], out]) == every
    with pytest.raises(FileNotFoundError, match="no such file or folder"):
        find_files([tmp_path / "nothing-here"])


def test_one_and_two_workers_give_the_same_table(archive):
    out, truth = archive
    serial = dm.scan(out, n_jobs=1)
    parallel = dm.scan(out, n_jobs=2, batch_size=4)
    assert len(serial.table) == len(truth)
    pd.testing.assert_frame_equal(serial.table, parallel.table)
    assert serial.table["Time"].is_monotonic_increasing


def test_progress_reports_every_file(archive):
    out, _ = archive
    done = []
    dm.scan(out, n_jobs=2, batch_size=7, progress=done.append)
    assert sum(done) == 30 and max(done) <= 7


@pytest.mark.slow
def test_dask_localcluster_runs_the_same_scan(archive):
    distributed = pytest.importorskip("distributed")
    out, _ = archive
    expected = dm.scan(out, n_jobs=1).table
    taken = socket.socket()  # Dask's default dashboard port, held (if free) as another program may hold it
    with contextlib.suppress(OSError):
        taken.bind(("0.0.0.0", 8787))
        taken.listen(1)
    with taken, distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=":0") as cluster:  # any free port: 8787 may be taken
        via_address = dm.scan(out, scheduler=cluster.scheduler_address, batch_size=5).table
        with distributed.Client(cluster) as client:
            via_executor = dm.scan(out, executor=client.get_executor(pure=False), batch_size=5).table
    pd.testing.assert_frame_equal(via_address, expected)
    pd.testing.assert_frame_equal(via_executor, expected)


def test_update_reads_only_new_and_changed_files(archive, tmp_path, monkeypatch):
    out, truth = archive
    work = tmp_path / "archive"
    shutil.copytree(out, work)
    files = find_files([work])
    held_back = files[-5:]
    stash = tmp_path / "stash"
    stash.mkdir()
    for f in held_back:
        shutil.move(f, stash / os.path.basename(f))
    first = dm.scan(work, n_jobs=1).table
    for f in held_back:  # new files arrive
        shutil.move(stash / os.path.basename(f), f)
    changed = files[0]  # and one file is reprocessed in place
    with fits.open(changed, do_not_scale_image_data=True) as hdul:
        hdul = fits.HDUList([h.copy() for h in hdul])
        hdul[0].header["OBS_ID"] = 4242
        hdul.writeto(changed, overwrite=True, output_verify="silentfix")
    os.utime(changed, ns=(time.time_ns(), time.time_ns()))

    read = []
    scan_module = importlib.import_module("darkmodel.io.scanning")  # the module, not the function
    original = scan_module.load_products
    monkeypatch.setattr(scan_module, "load_products", lambda p: read.append(p) or original(p))
    updated = dm.scan(work, n_jobs=1, previous=first).table
    assert sorted(read) == sorted(held_back + [changed])
    fresh = dm.scan(work, n_jobs=1).table
    pd.testing.assert_frame_equal(_sorted(updated), _sorted(fresh))


def test_update_refuses_a_table_without_sources(archive):
    out, _ = archive
    with pytest.raises(ValueError, match="per-integration summary"):
        dm.scan(out, n_jobs=1, previous=pd.DataFrame({"FILENAME": ["x"]}))


def test_older_versions_and_stage_revisions_are_kept_once(archive, tmp_path):
    out, truth = archive
    work = tmp_path / "versions"
    shutil.copytree(out, work)
    files = find_files([work])
    target = files[3]
    older = target.replace("_v02_r01", "_v01_r01")
    stage = target.replace("_v02_r01", "_v02_s07")
    shutil.copy(target, older)
    shutil.copy(target, stage)
    table, errors = dm.scan(work, n_jobs=1)
    assert errors.empty and len(table) == len(truth)
    kept = table[table["PRODUCT_ID"].str.contains(os.path.basename(target)[:-17])]
    assert set(kept["PRODUCT_ID"]) == {os.path.basename(target).removesuffix(".fits.gz")}
    # remove the production file: the stage revision now beats the older version
    os.unlink(target)
    table = dm.scan(work, n_jobs=1).table
    assert table["PRODUCT_ID"].str.endswith("_v02_s07").sum() > 0
    assert not table["PRODUCT_ID"].str.endswith("_v01_r01").any()


def test_deduplicate_prefers_l1a_originals_over_l1b_copies():
    base = dict(INTEGRATION=0, Time=pd.Timestamp("2023-01-14"), VERSION=13.0, PRODUCTION=True, REVISION=1.0,
                FILENAME="p.fits")
    rows = pd.DataFrame([
        {**base, "PRODUCT_ID": "mvn_iuv_l1a_apoapse-orbit18001-muvdark_20230114T071415_v13_r01",
         "SOURCE_FILE": "/a/l1b_1.fits.gz", "SOURCE_KIND": "l1b-copy", "dark_mean": 1.0},
        {**base, "PRODUCT_ID": "mvn_iuv_l1a_apoapse-orbit18001-muvdark_20230114T071415_v13_r01",
         "SOURCE_FILE": "/z/l1a.fits.gz", "SOURCE_KIND": "l1a", "dark_mean": 2.0},
    ])
    kept = deduplicate(rows)
    assert kept["SOURCE_FILE"].tolist() == ["/z/l1a.fits.gz"]


def test_per_file_table_matches_the_seed_definition(archive):
    out, truth = archive
    table = dm.scan(out, n_jobs=1, per="file").table
    assert len(table) == 30 and table["FILENAME"].is_unique
    for col in ("FILENAME", "XUV", "INT_TIME", "MCP_VOLT", "DET_TEMP", "CASE_TEMP", "NAXIS3", "SPE_SIZE",
                "SPA_SIZE", "dark_mean"):
        assert col in table.columns
    for path in find_files([out])[:8]:
        data = fits.getdata(path).astype(float)
        header = fits.getheader(path)
        row = table[table["FILENAME"] == os.path.basename(path).removesuffix(".gz")].iloc[0]
        assert row["dark_mean"] == pytest.approx(np.nanmean(data), rel=1e-12)  # the seed's dark_mean
        dn = fits.getdata(path, "Integration")["DET_TEMP"]
        assert row["DET_TEMP"] == pytest.approx(dn.mean())
        if "NAXIS3" in header:
            assert row["NAXIS3"] == header["NAXIS3"]
        else:
            assert np.isnan(row["NAXIS3"])


def test_scan_accepts_a_single_path_and_checks_per(archive):
    out, truth = archive
    assert len(dm.scan(str(out), n_jobs=1).table) == len(truth)
    with pytest.raises(ValueError, match="per must be"):
        dm.scan(out, per="orbit")
