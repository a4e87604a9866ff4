"""Calibration study of the flip-flop test: false-positive rate and power.

Run:  python benchmarks/calibration_study.py [--stable 200] [--files 200] [--n-boot 99] [--jobs 2]

* False positives: ``--stable`` archives of the ``stable`` scenario; every (XUV, INT_TIME)
  group that reaches the test counts once.  Reported: the share of groups called
  ``flip-flop``, and of groups whose family test rejects, at alpha = 0.05, with a binomial
  95 % interval (it must be at most 0.05 within Monte-Carlo error).
* Power: ``flipflop`` archives with the state contrast 2, 5, 10, 20 % in the MUV 14400 ms
  group and archives of several sizes; the share called ``flip-flop`` in that group.

Each archive is simulated, scanned, calibrated, fitted and tested in one worker process.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from concurrent.futures import ProcessPoolExecutor

import pandas as pd
from scipy import stats

import darkmodel as dm

ALPHA = 0.05
GROUP = ("MUV", 14400)


def one_archive(args: tuple) -> pd.DataFrame:
    scenario, n_files, contrast, seed, n_boot = args
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dm.simulate_archive(tmp, n_files=n_files, scenario=scenario, random_state=seed, state_contrast=contrast,
                            flip_groups=(GROUP,), days=max(30.0, n_files / 10))
        calibrated = dm.calibrate(dm.scan(tmp, n_jobs=1).table)
        model = dm.fit(calibrated)
        result = dm.flipflop_test(calibrated, model, n_boot=n_boot, alpha=ALPHA, random_state=seed, n_jobs=1).table
    return result.assign(scenario=scenario, n_files_archive=n_files, contrast=contrast, seed=seed)


def interval(k: int, n: int) -> str:
    lo, hi = stats.binomtest(k, n).proportion_ci(0.95)
    return f"{k}/{n} = {k / n:.3f} [{lo:.3f}, {hi:.3f}]"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stable", type=int, default=200)
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--n-boot", type=int, default=99)
    parser.add_argument("--power-reps", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    t0 = time.perf_counter()
    tasks = [("stable", args.files, 0.15, 1000 + i, args.n_boot) for i in range(args.stable)]
    for contrast in (0.02, 0.05, 0.10, 0.20):
        tasks += [("flipflop", args.files, contrast, 5000 + i, args.n_boot) for i in range(args.power_reps)]
    for n_files in (100, 400):
        tasks += [("flipflop", n_files, 0.10, 8000 + i, args.n_boot) for i in range(args.power_reps)]
    with ProcessPoolExecutor(args.jobs) as pool:
        results = pd.concat(pool.map(one_archive, tasks), ignore_index=True)
    results.to_csv("calibration_study.csv", index=False)
    tested = results[results["verdict"] != "insufficient-data"]
    stable = tested[tested["scenario"] == "stable"]
    print(f"# flip-flop test calibration ({time.perf_counter() - t0:.0f} s; n_boot={args.n_boot}, alpha={ALPHA})")
    print(f"stable archives: {args.stable} x {args.files} files; groups tested: {len(stable)}")
    print(f"  false 'flip-flop' verdicts: {interval(int((stable['verdict'] == 'flip-flop').sum()), len(stable))}")
    print(f"  family test rejections:     {interval(int((stable['p_families'] < ALPHA).sum()), len(stable))}")
    power = tested[(tested["scenario"] == "flipflop") & (tested["XUV"] == GROUP[0]) & (tested["INT_TIME"] == GROUP[1])]
    print("power in the switching group (MUV 14400 ms):")
    for (contrast, n_files), rows in power.groupby(["contrast", "n_files_archive"]):
        hits = int((rows["verdict"] == "flip-flop").sum())
        print(f"  contrast {contrast:.0%}, {n_files} files/archive ({rows['n_files'].median():.0f} in the group): "
              f"{interval(hits, len(rows))}")


if __name__ == "__main__":
    main()
