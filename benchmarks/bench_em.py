"""The compiled EM against its NumPy reference, in the same process, on the fits a bootstrap makes.

Run:  python benchmarks/bench_em.py [--files 420] [--iterations 50] [--repeat 5]

One simulated group (``simulate_table``, flip-flop scenario, the MUV 4200 ms files
thinned to ``--files``) is fitted by ``darkmodel.stats.families.run_em`` with the compiled kernel
and with the NumPy reference (``EM_BACKEND = 'numpy'``), for a fixed number of
iterations (no early stop, so both do the same work), under each noise model the fits
meet: Gaussian and Student-t (df 5 and 10) with one and two families, and the particle
excess.  Printed: time per file and iteration of each, their ratio, and the largest
relative difference of the fitted parameters (the tests hold it below 1e-9).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import darkmodel as dm
from darkmodel.stats import em_compiled as em_compiled
from darkmodel.stats import mixture
from darkmodel.stats.noise import NoiseModel


def best_time(fn, repeat):
    best = float("inf")
    out = None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=420)
    parser.add_argument("--iterations", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    table, _ = dm.simulate_table(n_files=6000, scenario="flipflop", random_state=2)
    cal = table.reset_index()  # already calibrated: DN_per_s per integration
    grp = cal[(cal["XUV"] == "MUV") & (cal["INT_TIME"] == 4200)]
    per_file = grp.groupby("FILENAME").agg(T=("DET_TEMP", "mean"), rate=("DN_per_s", "median"), n=("DN_per_s", "size"))
    per_file = per_file.iloc[np.linspace(0, len(per_file) - 1, min(args.files, len(per_file))).astype(int)]
    t = per_file["T"].to_numpy(float)
    y = mixture.log_dark_current(per_file["rate"].to_numpy(float), 4200, 1.0)
    counts = per_file["n"].to_numpy(float)
    x = mixture.Covariates.for_data(t, None).matrix(t, None)
    n = len(y)
    em_compiled.warm_up()
    print(f"{n} files, {x.shape[1]}-term shape, {args.iterations} iterations per fit, best of {args.repeat}")
    print(f"{'noise model':28s} {'K':>2s} {'compiled ns':>12s} {'NumPy ns':>10s} {'ratio':>7s} {'max rel diff':>13s}")
    cases = [("Gaussian", NoiseModel(0.002, 0.02)), ("Student-t df 5", NoiseModel(0.002, 0.02, 5.0)),
             ("Student-t df 10", NoiseModel(0.002, 0.02, 10.0)),
             ("Gaussian + particle excess", NoiseModel(0.002, 0.02, np.inf, 0.01, 0.05, 0.03))]
    for name, noise in cases:
        for k in (1, 2):
            alpha0 = np.median(y) + np.linspace(-0.05, 0.05, k)

            def run(alpha0=alpha0, noise=noise):
                return mixture.run_em(x, y, counts, alpha0, np.zeros(x.shape[1]), noise, None, -0.5,
                             max_iter=args.iterations, tol=-1.0)

            t_c, got = best_time(run, args.repeat)
            mixture.EM_BACKEND = "numpy"
            try:
                t_n, ref = best_time(run, max(1, args.repeat // 2))
            finally:
                mixture.EM_BACKEND = "compiled"
            diff = max(float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-12)))
                       for a, b in ((got.alpha, ref.alpha), (got.coef, ref.coef), (got.weights, ref.weights),
                                    (np.array([got.loglik]), np.array([ref.loglik]))))
            per = n * args.iterations
            print(f"{name:28s} {k:2d} {t_c / per * 1e9:12.0f} {t_n / per * 1e9:10.0f} {t_n / t_c:6.1f}x {diff:13.1e}")


if __name__ == "__main__":
    main()
