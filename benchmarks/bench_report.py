"""The report of the demo archive: where its time goes, and the whole report in this process.

Run:  python benchmarks/bench_report.py [--n-files 600] [--repeat 3] [--baseline GIT-REV]

Simulates the demo's archive (600 files, flip-flop scenario, seed 0), fits and tests it,
then times (medians of ``--repeat`` runs, all in this process): building the figures, the
straightforward rendering of every figure to PNG one after the other, and ``report`` to
HTML and to PDF as the package writes them.  The ratio ``report / (build + serial
render)`` is the speed-up of the package's rendering over the straightforward one.

With ``--baseline REV`` the same benchmark first runs on the code at ``REV`` (a temporary
git worktree, in a subprocess on the same machine and load), so the two reports' times
are printed side by side with their ratio.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import darkmodel as dm
from darkmodel.reporting.report import _png, report_figures


def median_time(fn, repeat):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def baseline(rev: str, n_files: int, repeat: int) -> str:
    """This benchmark's output on the code at ``rev`` (its own copy of this script, if it has one)."""
    root = Path(__file__).resolve().parents[1]
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "baseline"
        subprocess.run(["git", "-C", str(root), "worktree", "add", "--detach", str(tree), rev], check=True,
                       capture_output=True)
        try:
            env = {**os.environ, "PYTHONPATH": str(tree)}
            out = subprocess.run([sys.executable, str(tree / "benchmarks" / "bench_report.py"), "--n-files",
                                  str(n_files), "--repeat", str(repeat)], env=env, capture_output=True, text=True,
                                 check=True)
            return out.stdout
        finally:
            subprocess.run(["git", "-C", str(root), "worktree", "remove", "--force", str(tree)], capture_output=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-files", type=int, default=600)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--baseline", default=None, help="A git revision to time first, side by side.")
    args = parser.parse_args()
    before = baseline(args.baseline, args.n_files, args.repeat) if args.baseline else None
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        dm.simulate_archive(tmp / "archive", n_files=args.n_files, scenario="flipflop", random_state=0)
        calibrated = dm.calibrate(dm.scan(tmp / "archive").table, keep_excluded=True)
        model = dm.DarkRateModel(random_state=0).fit(calibrated)
        verdicts = dm.flipflop_test(calibrated, model, n_jobs=1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            figs = report_figures(calibrated, model, verdicts)
            t_build = median_time(lambda: report_figures(calibrated, model, verdicts), args.repeat)
            t_render = median_time(lambda: [_png(f) for _, _, f in figs], args.repeat)
            t_html = median_time(lambda: dm.report(calibrated, model, tmp / "r.html", verdicts=verdicts, n_jobs=-1),
                                 args.repeat)  # every core, as the CLI and the chain ask
            t_pdf = median_time(lambda: dm.report(calibrated, model, tmp / "r.pdf", verdicts=verdicts), args.repeat)
    now = (f"{len(figs)} figures: build {t_build:.2f} s, straightforward PNG render {t_render:.2f} s "
           f"(sum {t_build + t_render:.2f} s)\n"
           f"report HTML {t_html:.2f} s (ratio to build + serial render {(t_build + t_render) / t_html:.2f}x), "
           f"PDF {t_pdf:.2f} s")
    if before is None:
        print(now)
        return
    was = float(re.search(r"report HTML ([0-9.]+) s", before).group(1))
    print(f"baseline {args.baseline}:\n{before.strip()}\n\nthis code:\n{now}\n\n"
          f"HTML report: {was:.2f} s -> {t_html:.2f} s ({was / t_html:.2f}x faster)")


if __name__ == "__main__":
    main()
