"""Scan throughput against plain gzip decompression of the same files, in one process.

Run:  python benchmarks/bench_scan.py [--n-files 1000]

Every figure is a ratio against a baseline measured in the same run on the same files
(wall-clock numbers on a shared 2-core machine are noisy; ratios are what to compare):

* ``gzip``: ``zlib.decompress`` of every file's bytes (files already in the page cache);
* ``scan, 1 worker``: ``darkmodel.scan(..., workers=1)``, the complete per-integration
  summary (fitsio read, BLANK/BZERO, tables, statistics incl. sigma clipping, dedup);
* ``astropy naive``: ``astropy.io.fits.open`` with defaults, header, image mean and two
  tables, i.e. what a first scanner would write;
* ``scan, 2 workers``: the process pool, for the parallel speed-up.

Two archives are measured: the default simulated mix (many small 1-2 frame files) and
an apoapse-only archive of 21-frame cubes (larger files).
"""

from __future__ import annotations

import argparse
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np
from astropy.io import fits

import darkmodel as dm
from darkmodel.simulate.archive import SEGMENTS, Segment


def best_of(fn, repeat=3):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def gunzip_all(files):
    for f in files:
        zlib.decompress(f.read_bytes(), 31)


def astropy_naive(files):
    for f in files:
        with fits.open(f) as hdul:
            hdul[0].header["XUV"]
            np.nanmean(hdul[0].data)
            hdul["Integration"].data["UTC"]
            hdul["Engineering"].data["INT_TIME"]


def measure(label, folder):
    files = sorted(Path(folder).rglob("*.fits.gz"))
    gunzip_all(files)  # warm the page cache
    on_disk = sum(f.stat().st_size for f in files) / 1e6
    raw = sum(len(zlib.decompress(f.read_bytes(), 31)) for f in files) / 1e6
    t_gz = best_of(lambda: gunzip_all(files))
    t_scan1 = best_of(lambda: dm.scan(folder, n_jobs=1))
    t_scan2 = best_of(lambda: dm.scan(folder, n_jobs=2))
    t_astropy = best_of(lambda: astropy_naive(files), repeat=1)
    n = len(files)
    print(f"\n## {label}: {n} files, {on_disk:.1f} MB on disk, {raw:.1f} MB uncompressed")
    print(f"{'reader':<18}{'files/s':>10}{'MB/s disk':>11}{'MB/s raw':>10}{'x gzip':>9}")
    for name, t in (("gzip (baseline)", t_gz), ("scan, 1 worker", t_scan1), ("astropy naive", t_astropy),
                    ("scan, 2 workers", t_scan2)):
        print(f"{name:<18}{n / t:>10.0f}{on_disk / t:>11.1f}{raw / t:>10.1f}{t / t_gz:>9.1f}")
    print(f"speed-up from 1 to 2 workers: {t_scan1 / t_scan2:.2f}x")
    return {"files": n, "scan_vs_gzip": t_scan1 / t_gz, "astropy_vs_gzip": t_astropy / t_gz,
            "speedup_2_workers": t_scan1 / t_scan2}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-files", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        mix = Path(tmp) / "mix"
        dm.simulate_archive(mix, n_files=args.n_files, random_state=1)
        measure("default simulated archive", mix)
        apo = SEGMENTS["apoapse"]
        cubes = {"apoapse": Segment(apo.int_time, 1.0, (21,), (1.0,), apo.binning, apo.bin_rows, apo.cadence,
                                    apo.orbit_phase)}
        big = Path(tmp) / "apoapse"
        dm.simulate_archive(big, n_files=max(args.n_files // 4, 50), random_state=2, segments=cubes)
        measure("apoapse 21-frame cubes", big)


if __name__ == "__main__":
    main()
