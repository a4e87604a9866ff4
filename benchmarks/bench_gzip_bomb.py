"""Peak memory of a scan that meets a gzip bomb, against a scan of good files only.

A 1 GiB FITS image of zeros compresses to about 1 MB.  Each scan runs in a fresh
interpreter (one worker) and reports its peak resident memory (``ru_maxrss``); the target
is under 600 MB with the bomb, and the bomb must be refused with an error row.

    python benchmarks/bench_gzip_bomb.py --size-gib 1
"""

import argparse
import gzip
import json
import subprocess
import sys
import tempfile
from pathlib import Path

_SCAN = ("import json, resource, sys, darkmodel as dm; r = dm.scan(sys.argv[1:], workers=1); "
         "print(json.dumps({'rows': len(r.table), 'errors': list(r.errors['reason']), "
         "'rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}))")


def write_bomb(path: Path, size_gib: float) -> None:
    n = int(size_gib * 2**30) // 4
    side = int(n**0.5)
    header = (f"SIMPLE  = T{'':<69}BITPIX  = 32{'':<67}NAXIS   = 2{'':<68}"
              f"NAXIS1  = {side:<70}NAXIS2  = {side:<70}END").ljust(2880).encode()
    block = bytes(1 << 24)
    with gzip.open(path, "wb", compresslevel=9) as fh:
        fh.write(header)
        remaining = side * side * 4
        while remaining > 0:
            fh.write(block[: min(len(block), remaining)])
            remaining -= len(block)


def run(paths) -> dict:
    out = subprocess.run([sys.executable, "-c", _SCAN, *map(str, paths)], capture_output=True, text=True,
                         check=True).stdout
    return json.loads(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-gib", type=float, default=1.0)
    args = parser.parse_args()
    good = Path(__file__).resolve().parents[1] / "tests" / "data" / "real"
    with tempfile.TemporaryDirectory() as tmp:
        bomb = Path(tmp) / "mvn_iuv_l1a_periapse-orbit01000-muvdark_20150101T000000_v02_r01.fits.gz"
        write_bomb(bomb, args.size_gib)
        print(f"bomb: {bomb.stat().st_size / 1e6:.2f} MB on disk, {args.size_gib:g} GiB inflated")
        for name, paths in (("good files only", [good]), ("good files + bomb", [good, bomb])):
            r = run(paths)
            print(f"{name:20s} rows {r['rows']:>4}  peak RSS {r['rss_mb']:>4} MB  errors: {r['errors']}")


if __name__ == "__main__":
    main()
