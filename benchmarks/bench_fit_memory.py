"""Peak memory and time of ``fit`` on a large calibrated table (the issue's target: 1 M rows under 2 GB).

Run:  python benchmarks/bench_fit_memory.py [--rows 1000000] [--n-boot 99]

A 2 500-file table from ``simulate_table`` (seed-format columns, about 4 integrations per
file) is repeated with 0.05 degC of temperature jitter up to ``--rows`` rows, under
``--copies`` sets of new file names (default 50 000 files of about 20 integrations);
``fit`` then runs in a fresh child process (one worker), which reports its peak
resident memory (``ru_maxrss``) after building the table and after the fit, so the fit's
own share is the difference.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

CHILD = r"""
import json, resource, sys, time
import numpy as np, pandas as pd
import darkmodel as dm
from darkmodel.simulate.archive import simulate_table

rows, n_boot, copies = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
base, _ = simulate_table(n_files=2500, scenario="flipflop", random_state=3)
base = base.reset_index()
rng = np.random.default_rng(0)
parts, total, r = [], 0, 0
while total < rows:
    part = base.assign(FILENAME=base["FILENAME"] + f"#{r % copies}",
                       DET_TEMP=base["DET_TEMP"] + rng.normal(0, 0.05, len(base)))
    parts.append(part)
    total += len(part)
    r += 1
table = pd.concat(parts, ignore_index=True).iloc[:rows].set_index("Time")
del parts
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
t0 = time.perf_counter()
dm.DarkRateModel(n_boot=n_boot, random_state=0).fit(table)
elapsed = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"rows": len(table), "columns": table.shape[1], "table_mb": table.memory_usage(deep=True).sum() / 2**20,
                  "rss_before_fit_mb": before, "peak_mb": peak, "fit_s": elapsed}))
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--n-boot", type=int, default=99)
    parser.add_argument("--copies", type=int, default=20, help="distinct copies of the 2 500 files (50 000 files)")
    args = parser.parse_args()
    out = subprocess.run([sys.executable, "-c", CHILD, str(args.rows), str(args.n_boot), str(args.copies)],
                         capture_output=True,
                         text=True)
    if out.returncode:
        sys.exit(out.stderr)
    res = json.loads(out.stdout.strip().splitlines()[-1])
    added = res["peak_mb"] - res["rss_before_fit_mb"]
    print(f"{res['rows']:,} rows x {res['columns']} columns ({res['table_mb']:.0f} MB in memory): "
          f"peak RSS {res['peak_mb']:.0f} MB ({res['rss_before_fit_mb']:.0f} MB before the fit, so the fit adds "
          f"{added:.0f} MB, {2**20 * added / res['rows']:.0f} bytes per row); fit {res['fit_s']:.1f} s")


if __name__ == "__main__":
    main()
