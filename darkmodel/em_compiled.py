"""The EM of :mod:`darkmodel.families`, compiled with numba.

The bootstrap tests refit the mixture thousands of times on a few hundred files, where the
NumPy reference (:func:`darkmodel.families._em_numpy`) spends its time in call overhead.
:func:`em_kernel` runs the same algorithm, step for step and in the same order, in one
compiled loop; the tests hold the two to 1e-9 relative.  Without numba the reference runs.
"""

from __future__ import annotations

import math

import numpy as np

try:  # numba is a dependency; the reference path keeps working without it
    from numba import njit
except ImportError:  # pragma: no cover
    njit = None

__all__ = ["em_kernel", "AVAILABLE", "warm_up"]

AVAILABLE = njit is not None


def _em_kernel_py(x, y, cnt, alpha, coef, add_sq, rel_sq, df, eps, weights, log_bg, floor, max_iter, tol):
    """EM iterations; returns ``(alpha, coef, add_sq, rel_sq, weights, loglik, n_iter, converged, normal, ok)``.

    ``ok`` is False for a start that diverged (non-finite likelihood or a singular
    normal matrix).  See :func:`darkmodel.families._em_numpy` for the algorithm.
    """
    n, m = x.shape
    k = alpha.shape[0]
    p = k + m
    gauss = math.isinf(df)
    if gauss:
        tconst = -0.5 * math.log(2.0 * math.pi)
    else:
        tconst = math.lgamma((df + 1.0) / 2.0) - math.lgamma(df / 2.0) - 0.5 * math.log(df * math.pi)
    keep_norm = (1.0 - eps) * math.exp(tconst)   # (1 - eps) times the density's constant
    out_dens = eps * math.exp(log_bg)            # the uniform outlier part
    low = floor * floor
    alpha = alpha.copy()
    coef = coef.copy()
    weights = weights.copy()
    mu = np.empty((n, k))
    v = np.empty((n, k))
    main = np.empty((n, k))
    row = np.empty((n, k))
    z = np.empty((n, k))
    tau = np.empty((n, k))
    u = np.empty((n, k))
    aa_all = np.empty((n, k))
    e_all = np.empty((n, k))
    w_all = np.empty((n, k))
    resp_sum = np.empty(k)
    xb = np.empty(n)
    per = np.empty(k)
    ea = np.empty(k)
    a = np.zeros((p, p))
    b = np.zeros(p)
    out_alpha, out_coef, out_w = alpha.copy(), coef.copy(), weights.copy()
    out_add, out_rel, out_ll, out_it, out_conv = add_sq, rel_sq, -np.inf, 0, False
    out_normal = np.zeros((p, p))
    last = -np.inf
    for it in range(max_iter):
        rel_eff = max(math.sqrt(rel_sq), floor) ** 2
        for i in range(n):
            s = 0.0
            for j in range(m):
                s += x[i, j] * coef[j]
            xb[i] = s
        loglik = 0.0
        # the E-step in linear densities (the reference works in logs): one exponential per
        # file and family instead of six; exp(-2 mu) factorises into family and file parts
        for kk in range(k):
            ea[kk] = math.exp(-2.0 * alpha[kk])
        for i in range(n):
            ex = math.exp(-2.0 * xb[i]) / cnt[i]
            tot = 0.0
            for kk in range(k):
                mui = alpha[kk] + xb[i]
                mu[i, kk] = mui
                arg = -2.0 * mui
                growth = ea[kk] * ex
                if arg > 700.0 or not growth <= 1e300:  # the factors over- or underflowed: as the reference
                    growth = math.exp(min(arg, 700.0)) / cnt[i]
                vi = add_sq * growth + rel_eff
                v[i, kk] = vi
                si = math.sqrt(vi)
                zi = (y[i] - mui) / si
                z[i, kk] = zi
                if gauss:
                    dens = keep_norm * math.exp(-0.5 * zi * zi) / si
                else:
                    dens = keep_norm * math.exp(-0.5 * (df + 1.0) * math.log1p(zi * zi / df)) / si
                main[i, kk] = dens
                r = dens + out_dens
                row[i, kk] = r
                per[kk] = r * weights[kk]
                tot += per[kk]
            loglik += math.log(tot)
            for kk in range(k):
                rp = per[kk] / tot
                tau[i, kk] = rp * main[i, kk] / row[i, kk]
                u[i, kk] = 1.0 if gauss else (df + 1.0) / (df + z[i, kk] * z[i, kk])
                row[i, kk] = rp  # keep the responsibility
        if not math.isfinite(loglik):
            return out_alpha, out_coef, out_add, out_rel, out_w, -np.inf, out_it, False, out_normal, False
        # M-step: location
        a[:, :] = 0.0
        b[:] = 0.0
        for i in range(n):
            wsum = 0.0
            wy = 0.0
            for kk in range(k):
                ws = tau[i, kk] * u[i, kk] / v[i, kk]
                a[kk, kk] += ws
                b[kk] += ws * y[i]
                for j in range(m):
                    a[k + j, kk] += x[i, j] * ws
                wsum += ws
                wy += ws * y[i]
            for j in range(m):
                for jj in range(m):
                    a[k + j, k + jj] += x[i, j] * wsum * x[i, jj]
                b[k + j] += x[i, j] * wy
        for j in range(m):
            for kk in range(k):
                a[kk, k + j] = a[k + j, kk]
        det_ok = True
        theta = np.empty(p)
        try:
            theta = np.linalg.solve(a, b)
        except Exception:  # singular
            det_ok = False
        if not det_ok:
            return out_alpha, out_coef, out_add, out_rel, out_w, -np.inf, out_it, False, out_normal, False
        for kk in range(k):
            alpha[kk] = theta[kk]
        for j in range(m):
            coef[j] = theta[k + j]
        # M-step: the variance components (one Fisher-scoring step)
        sw = swa = swaa = swe = swae = 0.0
        for kk in range(k):
            ea[kk] = math.exp(-2.0 * alpha[kk])
        for i in range(n):
            s = 0.0
            for j in range(m):
                s += x[i, j] * coef[j]
            ex = math.exp(-2.0 * s) / cnt[i]
            for kk in range(k):
                mui = alpha[kk] + s
                aa = ea[kk] * ex
                if -2.0 * mui > 700.0 or not aa <= 1e300:
                    aa = math.exp(min(-2.0 * mui, 700.0)) / cnt[i]
                e = u[i, kk] * (y[i] - mui) ** 2
                w = tau[i, kk] / (v[i, kk] * v[i, kk])
                aa_all[i, kk], e_all[i, kk], w_all[i, kk] = aa, e, w
                sw += w
                swa += w * aa
                swaa += w * aa * aa
                swe += w * e
                swae += w * aa * e
        det = swaa * sw - swa * swa
        done = False
        if det > 1e-300 * max(swaa * sw, 1e-300):
            c0 = (sw * swae - swa * swe) / det
            c1 = (swaa * swe - swa * swae) / det
            if c0 >= 0 and c1 >= low:
                add_sq, rel_sq = c0, c1
                done = True
        if not done:
            r1 = max(swe / max(sw, 1e-300), low)
            a2 = max((swae - low * swa) / max(swaa, 1e-300), 0.0)
            o1 = 0.0
            o2 = 0.0
            for i in range(n):
                for kk in range(k):
                    o1 += w_all[i, kk] * (r1 - e_all[i, kk]) ** 2
                    o2 += w_all[i, kk] * (a2 * aa_all[i, kk] + low - e_all[i, kk]) ** 2
            if o2 < o1:
                add_sq, rel_sq = a2, low
            else:
                add_sq, rel_sq = 0.0, r1
        # weights
        total = 0.0
        for kk in range(k):
            s = 0.0
            for i in range(n):
                s += row[i, kk]
            resp_sum[kk] = max(s / n, 1e-6)
            total += resp_sum[kk]
        for kk in range(k):
            weights[kk] = resp_sum[kk] / total
        out_alpha, out_coef, out_w = alpha.copy(), coef.copy(), weights.copy()
        out_add, out_rel, out_ll, out_it = add_sq, rel_sq, loglik, it + 1
        out_normal = a.copy()
        if abs(loglik - last) <= tol:
            out_conv = True
            break
        last = loglik
    ok = True
    for kk in range(k):
        if not math.isfinite(out_alpha[kk]):
            ok = False
    for j in range(m):
        if not math.isfinite(out_coef[j]):
            ok = False
    return out_alpha, out_coef, out_add, out_rel, out_w, out_ll, out_it, out_conv, out_normal, ok


# reassociation lets LLVM vectorise the sums (the results move by rounding only, far inside
# the tests' 1e-9); no 'nnan'/'ninf', so the divergence checks stay
em_kernel = (njit(cache=True, nogil=True, fastmath={"reassoc", "contract", "arcp"})(_em_kernel_py) if AVAILABLE
             else _em_kernel_py)


def warm_up() -> None:
    """Load (or compile) :func:`em_kernel` in this process.

    Called before a process pool forks its workers, so that they inherit the loaded
    kernel instead of each loading it from numba's cache (about 0.6 s per worker and pool).

    Examples
    --------
    >>> warm_up()
    """
    if not AVAILABLE:  # pragma: no cover
        return
    x = np.zeros((4, 2))
    y = np.linspace(0.0, 0.3, 4)
    em_kernel(x, y, np.ones(4), np.array([0.0, 0.1]), np.zeros(2), 0.01, 0.01, math.inf, 0.01, np.full(2, 0.5),
              -0.5, 1e-3, 1, 1e-3)
