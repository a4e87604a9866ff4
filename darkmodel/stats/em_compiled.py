"""The EM of :mod:`darkmodel.stats.families`, compiled with numba.

The bootstrap tests refit the mixture thousands of times on a few hundred files, where the
NumPy reference (:func:`darkmodel.stats.mixture.em_numpy`) spends its time in call overhead.
:func:`em_kernel` runs the same algorithm, step for step, compiled; the tests hold the two
to 1e-9 relative.  Without numba the reference runs.

Its arrays are laid out family by family (``(k, n)``) and each step is a loop of its own,
so that LLVM vectorises every sum; only the exponentials and logarithms stay scalar.  The
file part of ``exp(-2 mu)`` computed for the variance step serves the next E-step, and the
Student-t kernel ``(1 + z^2/df)^-(df+1)/2`` is a product (and one square root) for the
degrees of freedom of :data:`darkmodel.stats.noise.DF_GRID`.  Summation order differs from the
reference, so a start whose normal matrix is near-singular (a family with no files) can
end elsewhere, as it can between any two implementations; such starts lose to the others.
"""

from __future__ import annotations

import math

import numpy as np

from ..compiled import jit

try:  # numba is a dependency; the reference path keeps working without it
    from numba import njit
except ImportError:  # pragma: no cover
    njit = None  # type: ignore[assignment]


def _scipy_log_ndtr():
    """SciPy's own ``log_ndtr`` (log of the normal CDF) as a C function compiled code can call.

    Registered with LLVM under a name of its own, so the compiled kernel refers to it by
    name and stays cacheable (a ctypes pointer would not be).  Returns ``(function, found)``;
    where SciPy no longer exports it under that name (or it does not give ``log Phi``), a
    stand-in from ``erfc`` is returned with ``found`` False, and the noise models with a
    particle excess keep to the NumPy EM.
    """
    import ctypes

    import llvmlite.binding
    from numba import types
    from numba.extending import get_cython_function_address

    try:
        address = get_cython_function_address("scipy.special.cython_special", "__pyx_fuse_1log_ndtr")  # float64
        probe = ctypes.CFUNCTYPE(ctypes.c_double, ctypes.c_double)(address)
        found = abs(probe(0.0) + math.log(2.0)) < 1e-15 and abs(probe(-10.0) + 53.23128515051247) < 1e-9
    except (ValueError, AttributeError, ImportError):
        found = False
    if not found:  # pragma: no cover - depends on the SciPy build
        return jit(lambda x: math.log(0.5 * math.erfc(-x / math.sqrt(2.0)))), False
    llvmlite.binding.add_symbol("darkmodel_scipy_log_ndtr", address)
    return types.ExternalFunction("darkmodel_scipy_log_ndtr", types.float64(types.float64)), True


if njit is not None:
    log_ndtr, EXCESS_COMPILED = _scipy_log_ndtr()
else:  # pragma: no cover
    from scipy.special import log_ndtr  # type: ignore[no-redef]
    EXCESS_COMPILED = False

__all__ = ["em_kernel", "AVAILABLE", "EXCESS_COMPILED", "warm_up"]

AVAILABLE = njit is not None


def _file_factors(xt, coef, cnt, xb, ex):
    """``xb = x . coef`` and the file part of ``exp(-2 mu)``, ``exp(-2 xb) / count``, in place."""
    m, n = xt.shape
    xb[:] = 0.0
    for j in range(m):
        cj = coef[j]
        for i in range(n):
            xb[i] += xt[j, i] * cj
    for i in range(n):
        ex[i] = math.exp(-2.0 * xb[i]) / cnt[i]


def _growth(alpha_k, ea_k, xb, ex, cnt, out):
    """``exp(-2 mu) / count`` of one family as ``ea_k * ex``, in place.

    Where that product over- or underflowed, ``exp(min(-2 mu, 700)) / count`` as the reference computes it.
    """
    n = xb.shape[0]
    bad = 0
    for i in range(n):
        gi = ea_k * ex[i]
        out[i] = gi
        bad += (-2.0 * (alpha_k + xb[i]) > 700.0) | (not gi <= 1e300)
    if bad:
        for i in range(n):
            arg = -2.0 * (alpha_k + xb[i])
            if arg > 700.0 or not out[i] <= 1e300:
                out[i] = math.exp(min(arg, 700.0)) / cnt[i]


def _em_kernel_py(x, y, cnt, alpha, coef, add_sq, rel_sq, df, eps, pi, lam, weights, log_bg, floor, max_iter, tol):
    """EM iterations; returns ``(alpha, coef, add_sq, rel_sq, pi, lam, weights, loglik, n_iter, converged, normal, ok)``.

    ``pi`` and ``lam`` are the share and mean of the particle excess (``pi = 0``: none).
    ``ok`` is False for a start that diverged (non-finite likelihood or a singular
    normal matrix).  See :func:`darkmodel.stats.mixture.em_numpy` for the algorithm.
    """
    n, m = x.shape
    k = alpha.shape[0]
    p = k + m
    gauss = math.isinf(df)
    if gauss:
        tconst = -0.5 * math.log(2.0 * math.pi)
        half = 0.0
    else:
        tconst = math.lgamma((df + 1.0) / 2.0) - math.lgamma(df / 2.0) - 0.5 * math.log(df * math.pi)
        half = 0.5 * (df + 1.0)
    # the Student-t kernel (1 + z^2/df)^-(df+1)/2 by multiplications (and one square root) when
    # (df+1)/2 is a whole or half number, as for every df of the grid; else by exp and log1p
    whole = int(half)
    frac = half - whole
    by_product = (not gauss) and (frac == 0.0 or frac == 0.5) and whole <= 64
    keep_all = (1.0 - eps) * math.exp(tconst)    # (1 - eps) times the density's constant
    has_excess = pi > 0.0
    half_log_2pi = 0.5 * math.log(2.0 * math.pi)
    out_dens = eps * math.exp(log_bg)            # the uniform outlier part
    low = floor * floor
    alpha = alpha.copy()
    coef = coef.copy()
    weights = weights.copy()
    xt = np.ascontiguousarray(x.T)
    v = np.empty((k, n))
    isd = np.empty((k, n))
    zz = np.empty((k, n))
    dens = np.empty((k, n))
    resp = np.empty((k, n))
    tau = np.empty((k, n))
    u = np.ones((k, n))
    g = np.empty((k, n))
    e_all = np.empty((k, n))
    w_all = np.empty((k, n))
    ws = np.empty((k, n))
    dens_x = np.zeros((k, n))   # the particle-excess part (exponentially modified Gaussian)
    tau_x = np.zeros((k, n))
    given = np.zeros((k, n))    # the expected excess of a file that has one
    wyk = np.empty((k, n))
    wsum = np.empty(n)
    wy = np.empty(n)
    xb = np.empty(n)
    ex = np.empty(n)      # exp(-2 x.coef) / count: the M-step's values serve the next E-step
    ea = np.empty(k)
    a = np.zeros((p, p))
    b = np.zeros(p)
    out_alpha, out_coef, out_w = alpha.copy(), coef.copy(), weights.copy()
    out_add, out_rel, out_ll, out_it, out_conv = add_sq, rel_sq, -np.inf, 0, False
    out_pi, out_lam = pi, lam
    out_normal = np.zeros((p, p))
    last = -np.inf
    _file_factors(xt, coef, cnt, xb, ex)
    for it in range(max_iter):
        rel_eff = max(math.sqrt(rel_sq), floor) ** 2
        keep_norm = keep_all * (1.0 - pi)
        lam_eff = max(lam, 1e-6)
        # E-step in linear densities; exp(-2 mu) factorises into family and file parts
        for kk in range(k):
            ea[kk] = math.exp(-2.0 * alpha[kk])
            ak = alpha[kk]
            _growth(ak, ea[kk], xb, ex, cnt, g[kk])
            for i in range(n):
                vi = add_sq * g[kk, i] + rel_eff
                v[kk, i] = vi
                s_inv = 1.0 / math.sqrt(vi)
                isd[kk, i] = s_inv
                zi = (y[i] - (ak + xb[i])) * s_inv
                zz[kk, i] = zi * zi
            if has_excess:
                for i in range(n):
                    r = y[i] - (ak + xb[i])
                    si = math.sqrt(v[kk, i])
                    log_emg = (-math.log(lam_eff) + v[kk, i] / (2.0 * lam_eff * lam_eff) - r / lam_eff
                               + log_ndtr(r / si - si / lam_eff))
                    dens_x[kk, i] = (1.0 - eps) * pi * math.exp(log_emg)
                    m_ = r - v[kk, i] / lam_eff
                    xm = m_ / si
                    mills = math.exp(-0.5 * xm * xm - half_log_2pi - log_ndtr(xm))
                    given[kk, i] = max(m_ + si * mills, 0.0)
            if gauss:
                for i in range(n):
                    dens[kk, i] = keep_norm * math.exp(-0.5 * zz[kk, i]) * isd[kk, i]
            elif by_product:
                for i in range(n):
                    q = 1.0 + zz[kk, i] / df
                    kern = 1.0
                    for _ in range(whole):
                        kern *= q
                    if frac != 0.0:
                        kern *= math.sqrt(q)
                    dens[kk, i] = keep_norm / kern * isd[kk, i]
                    u[kk, i] = (df + 1.0) / (df * q)
            else:
                for i in range(n):
                    q = 1.0 + zz[kk, i] / df
                    dens[kk, i] = keep_norm * math.exp(-half * math.log1p(zz[kk, i] / df)) * isd[kk, i]
                    u[kk, i] = (df + 1.0) / (df * q)
        loglik = 0.0
        for i in range(n):
            tot = 0.0
            for kk in range(k):
                tot += (dens[kk, i] + dens_x[kk, i] + out_dens) * weights[kk]
            loglik += math.log(tot)
            wsum[i] = 1.0 / tot
        if not math.isfinite(loglik):
            return out_alpha, out_coef, out_add, out_rel, out_pi, out_lam, out_w, -np.inf, out_it, False, out_normal, False
        for kk in range(k):
            wk = weights[kk]
            for i in range(n):
                resp[kk, i] = (dens[kk, i] + dens_x[kk, i] + out_dens) * wk * wsum[i]
                tau[kk, i] = dens[kk, i] * wk * wsum[i]   # member of kk and not an outlier
            if has_excess:
                for i in range(n):
                    tau_x[kk, i] = dens_x[kk, i] * wk * wsum[i]   # member of kk with a particle excess
        # M-step: location, by weighted normal equations
        a[:, :] = 0.0
        b[:] = 0.0
        wsum[:] = 0.0
        for kk in range(k):
            s0 = 0.0
            s1 = 0.0
            for i in range(n):
                w = tau[kk, i] * u[kk, i] / v[kk, i]
                wyi = w * y[i]
                if has_excess:  # a file with an excess counts at its level: y minus the excess
                    wx = tau_x[kk, i] / v[kk, i]
                    w += wx
                    wyi += wx * (y[i] - given[kk, i])
                ws[kk, i] = w
                wyk[kk, i] = wyi
                wsum[i] += w
                s0 += w
                s1 += wyi
            a[kk, kk] = s0
            b[kk] = s1
            for j in range(m):
                s = 0.0
                for i in range(n):
                    s += xt[j, i] * ws[kk, i]
                a[k + j, kk] = s
                a[kk, k + j] = s
        if has_excess:
            for i in range(n):
                t_ = 0.0
                for kk in range(k):
                    t_ += wyk[kk, i]
                wy[i] = t_
        else:
            for i in range(n):
                wy[i] = wsum[i] * y[i]
        for j in range(m):
            s = 0.0
            for i in range(n):
                s += xt[j, i] * wy[i]
            b[k + j] = s
            for jj in range(j, m):
                s = 0.0
                for i in range(n):
                    s += xt[j, i] * wsum[i] * xt[jj, i]
                a[k + j, k + jj] = s
                a[k + jj, k + j] = s
        det_ok = True
        theta = np.empty(p)
        try:
            theta = np.linalg.solve(a, b)
        except Exception:  # singular
            det_ok = False
        if not det_ok:
            return out_alpha, out_coef, out_add, out_rel, out_pi, out_lam, out_w, -np.inf, out_it, False, out_normal, False
        for kk in range(k):
            alpha[kk] = theta[kk]
        for j in range(m):
            coef[j] = theta[k + j]
        # M-step: the variance components (one Fisher-scoring step)
        _file_factors(xt, coef, cnt, xb, ex)
        sw = swa = swaa = swe = swae = 0.0
        for kk in range(k):
            ea[kk] = math.exp(-2.0 * alpha[kk])
            ak = alpha[kk]
            _growth(ak, ea[kk], xb, ex, cnt, g[kk])
            for i in range(n):
                r = y[i] - (ak + xb[i])
                e = u[kk, i] * r * r
                w = tau[kk, i] / (v[kk, i] * v[kk, i])
                aa = g[kk, i]
                e_all[kk, i] = e
                w_all[kk, i] = w
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
            for kk in range(k):
                for i in range(n):
                    o1 += w_all[kk, i] * (r1 - e_all[kk, i]) ** 2
                    o2 += w_all[kk, i] * (a2 * g[kk, i] + low - e_all[kk, i]) ** 2
            if o2 < o1:
                add_sq, rel_sq = a2, low
            else:
                add_sq, rel_sq = 0.0, r1
        if has_excess:  # share and mean of the excess
            tx = 0.0
            tc = 0.0
            txe = 0.0
            for kk in range(k):
                for i in range(n):
                    tx += tau_x[kk, i]
                    tc += tau[kk, i]
                    txe += tau_x[kk, i] * given[kk, i]
            pi = min(max(tx / max(tx + tc, 1e-300), 1e-4), 0.5)
            lam = max(txe / max(tx, 1e-300), 1e-4)
        # weights
        total = 0.0
        for kk in range(k):
            s = 0.0
            for i in range(n):
                s += resp[kk, i]
            ea[kk] = max(s / n, 1e-6)
            total += ea[kk]
        for kk in range(k):
            weights[kk] = ea[kk] / total
        out_alpha, out_coef, out_w = alpha.copy(), coef.copy(), weights.copy()
        out_add, out_rel, out_ll, out_it = add_sq, rel_sq, loglik, it + 1
        out_pi, out_lam = pi, lam
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
    return out_alpha, out_coef, out_add, out_rel, out_pi, out_lam, out_w, out_ll, out_it, out_conv, out_normal, ok


# reassociation lets LLVM vectorise the sums (the results move by rounding only, far inside
# the tests' 1e-9); no 'nnan'/'ninf', so the divergence checks stay
if AVAILABLE:  # the helpers compiled before the kernel that calls them
    _file_factors = jit(_file_factors, nogil=True, fastmath={"reassoc", "contract", "arcp"})
    _growth = jit(_growth, nogil=True)
em_kernel = (jit(_em_kernel_py, nogil=True, fastmath={"reassoc", "contract", "arcp"}) if AVAILABLE
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
    em_kernel(x, y, np.ones(4), np.array([0.0, 0.1]), np.zeros(2), 0.01, 0.01, math.inf, 0.01, 0.0, 0.0,
              np.full(2, 0.5), -0.5, 1e-3, 1, 1e-3)
