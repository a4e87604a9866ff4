"""Calibration, fitting and prediction speed, as ratios against baselines run in the same process.

Run:  python benchmarks/bench_model.py [--rows 1000000] [--fit-rows 100000]

* calibrate: ``darkmodel.calibrate`` on a seed-format table of ``--rows`` rows, against the
  seed notebook's own code (``DataFrame.apply(axis=1)`` for the pixel sum,
  ``FILENAME.map`` for the time index) on a 50 000-row slice, scaled per row;
* fit: ``darkmodel.fit`` (mixture of regressions, the default) on ``--fit-rows`` calibrated
  integrations, against the Gaussian-mixture baseline (``method='gmm'``) on the same rows;
* predict: ``model.predict`` + ``predict_interval`` throughput, against evaluating
  ``offset/t + exp(p + q T)`` with bare numpy on as many temperatures.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

import darkmodel as dm
from darkmodel.io.filenames import parse_filename

SEED_COLUMNS = ["FILENAME", "XUV", "INT_TIME", "MCP_VOLT", "DET_TEMP", "CASE_TEMP", "NAXIS3", "SPE_SIZE",
                "SPA_SIZE", "dark_mean"]


def timed(fn, repeat=1):
    """Best wall time of ``repeat`` runs (after one warm-up run when repeating) and the result."""
    out = fn() if repeat > 1 else None
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def seed_chain(df):
    """The seed notebook, cells 4-8, as written."""
    df = df.copy()
    df["pixelsum"] = df.apply(lambda row: row["SPE_SIZE"] * row["SPA_SIZE"], axis=1)
    df["corrected_mean"] = df.dark_mean / df.pixelsum
    df["DN_per_s"] = df.corrected_mean / (df.INT_TIME / 1000)
    df.index = df.FILENAME.map(lambda x: parse_filename(x).time)
    df.index.name = "Time"
    df = df.sort_index()
    df.loc[df.MCP_VOLT > 0, :] = np.nan
    df["DET_TEMP"] = df.DET_TEMP * -0.0749 + 174.08
    return df


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--fit-rows", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        dm.simulate_archive(Path(tmp), n_files=1500, scenario="flipflop", random_state=3)
        scanned = dm.scan(tmp).table
    per_file = dm.per_file_summary(scanned)[SEED_COLUMNS]
    rng = np.random.default_rng(0)
    big = per_file.iloc[rng.integers(0, len(per_file), args.rows)].reset_index(drop=True)

    t_vec, _ = timed(lambda: dm.calibrate(big), repeat=3)
    n_seed = min(50_000, args.rows)
    t_seed, _ = timed(lambda: seed_chain(big.iloc[:n_seed]), repeat=3)
    per_row_vec, per_row_seed = t_vec / args.rows, t_seed / n_seed
    print(f"## calibrate\n{args.rows:,} rows in {t_vec:.2f} s ({args.rows / t_vec:,.0f} rows/s); "
          f"seed row-wise code: {n_seed / t_seed:,.0f} rows/s; speed-up {per_row_seed / per_row_vec:.0f}x")

    calibrated = dm.calibrate(scanned)
    reps = int(np.ceil(args.fit_rows / len(calibrated)))
    parts = []
    for r in range(reps):
        part = calibrated.reset_index()
        part["FILENAME"] = part["FILENAME"] + f"#{r}"
        part["DET_TEMP"] = part["DET_TEMP"] + rng.normal(0, 0.05, len(part))
        parts.append(part)
    fit_table = pd.concat(parts, ignore_index=True).iloc[: args.fit_rows]
    t_fit, model = timed(lambda: dm.fit(fit_table))
    t_gmm, _ = timed(lambda: dm.fit(fit_table, method="gmm"))
    print(f"## fit\n{len(fit_table):,} rows, {fit_table['FILENAME'].nunique():,} files: mixture of regressions "
          f"{t_fit:.2f} s ({len(fit_table) / t_fit:,.0f} rows/s); GMM baseline {t_gmm:.2f} s; "
          f"ratio {t_fit / t_gmm:.2f}x")

    temps = rng.uniform(-24, -10, 1_000_000)
    t_pred, _ = timed(lambda: model.predict(temps, channel="MUV", int_time=4200), repeat=3)
    t_int, _ = timed(lambda: model.predict_interval(temps, channel="MUV", int_time=4200), repeat=3)
    joint = model.joint_["MUV"]
    t_np, _ = timed(lambda: joint.offset / 4.2 + np.exp(joint.p + joint.q * (temps + 18.0)), repeat=3)
    # the straightforward implementation of the same interval: the exact bounds on the grid,
    # then np.interp of their logs (a binary search per point and per bound)
    grid = np.linspace(temps.min(), temps.max(), 2048)
    g_lo, g_hi = model.predict_interval(grid, channel="MUV", int_time=4200)

    def straightforward():
        if not np.isfinite(temps).all() or ((temps < -150) | (temps > 150)).any():  # the checks it needs too
            raise ValueError("implausible temperature")
        return np.exp(np.interp(temps, grid, np.log(g_lo))), np.exp(np.interp(temps, grid, np.log(g_hi)))

    t_ref, _ = timed(straightforward, repeat=3)
    print(f"## predict\n1,000,000 temperatures: predict {t_pred * 1e3:.0f} ms ({len(temps) / t_pred:,.0f}/s), "
          f"predict_interval {t_int * 1e3:.0f} ms ({len(temps) / t_int / 1e6:.0f} M/s; straightforward grid + "
          f"np.interp {t_ref * 1e3:.0f} ms, ratio {t_ref / t_int:.1f}x); bare numpy formula {t_np * 1e3:.0f} ms; "
          f"predict / numpy = {t_pred / t_np:.1f}x")


if __name__ == "__main__":
    main()
