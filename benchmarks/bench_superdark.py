"""Superdark on a large simulated archive: time and peak memory (target: peak <= 1 GB at 5 000 files).

The archive is simulated, scanned and fitted first (not timed); then ``darkmodel superdark``
runs in a fresh interpreter whose peak resident memory (``ru_maxrss``) is reported, with a
scan of the same archive in the same way as the baseline.

    python benchmarks/bench_superdark.py --n-files 5000
"""

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import darkmodel as dm

_RUN = ("import json, resource, sys, time, darkmodel as dm; t0 = time.perf_counter(); "
        "m = dm.DarkRateModel.load(sys.argv[2]); "
        "r = dm.superdark(sys.argv[1], m) if sys.argv[3] == 'superdark' else dm.scan(sys.argv[1], workers=1); "
        "print(json.dumps({'seconds': time.perf_counter() - t0, "
        "'rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-files", type=int, default=5000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp) / "archive"
        dm.simulate_archive(archive, n_files=args.n_files, scenario="flipflop", random_state=11, days=365)
        calibrated = dm.calibrate(dm.scan(archive).table)
        model = dm.DarkRateModel(n_jobs=-1).fit(calibrated)
        model_path = model.save(Path(tmp) / "m.json")
        print(f"{args.n_files} files, {len(calibrated)} integrations")
        for what in ("scan", "superdark"):
            out = subprocess.run([sys.executable, "-c", _RUN, str(archive), str(model_path), what],
                                 capture_output=True, text=True, check=True).stdout
            r = json.loads(out)
            print(f"{what:10s} one process: {r['seconds']:7.1f} s, peak RSS {r['rss_mb']:7.0f} MB")


if __name__ == "__main__":
    main()
