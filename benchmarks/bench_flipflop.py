"""Fit plus flip-flop test on a 10 000-integration simulated archive (the issue's target: < 1 min on 2 cores).

Run:  python benchmarks/bench_flipflop.py [--integrations 10000] [--n-boot 199]

Also times the fit alone, so the test's share is visible, and prints the verdicts.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import darkmodel as dm


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--integrations", type=int, default=10_000)
    parser.add_argument("--n-boot", type=int, default=199)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        n_files = int(args.integrations / 4.0)  # about four integrations per file in the default mix
        truth = dm.simulate_archive(tmp, n_files=n_files, scenario="flipflop", random_state=7, days=240)
        calibrated = dm.calibrate(dm.scan(tmp).table)
    t0 = time.perf_counter()
    model = dm.fit(calibrated, n_jobs=-1)
    t1 = time.perf_counter()
    result = dm.flipflop_test(calibrated, model, n_boot=args.n_boot)
    t2 = time.perf_counter()
    print(f"{len(truth)} simulated integrations, {len(calibrated)} calibrated, {n_files} files")
    print(f"fit {t1 - t0:.1f} s + flip-flop test {t2 - t1:.1f} s = {t2 - t0:.1f} s (n_boot={args.n_boot})")
    print(result.table[["XUV", "INT_TIME", "n_files", "verdict", "p_families", "n_boot_used", "p_memory",
                  "n_switches", "effect_ratio"]].to_string(index=False))
    print(model.groups[["XUV", "INT_TIME", "n_files", "n_families", "reason"]].to_string(index=False))


if __name__ == "__main__":
    main()
