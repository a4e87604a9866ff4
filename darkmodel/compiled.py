"""numba compilation with a cache that works wherever the package is installed.

numba keeps compiled code beside the package or under the home folder; on a read-only
install with ``HOME`` pointing nowhere (a cron job, a container) it refuses to compile
at all.  :func:`jit` moves the cache to a private folder then, or compiles without one.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile

__all__ = ["jit", "private_cache_dir", "interrupts_as_such"]


def private_cache_dir() -> str | None:
    """A cache folder for compiled code that only this user can write, or ``None``.

    ``<tmp>/darkmodel-numba-<uid>``, made with mode 0700 and used only if it is a real
    folder owned by this user (not a link someone else planted).

    Returns
    -------
    str or None
    """
    folder = os.path.join(tempfile.gettempdir(), f"darkmodel-numba-{os.getuid() if hasattr(os, 'getuid') else 0}")
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
        st = os.lstat(folder)
    except OSError:
        return None
    if not stat.S_ISDIR(st.st_mode) or (hasattr(os, "getuid") and st.st_uid != os.getuid()):
        return None
    return folder if os.access(folder, os.W_OK) else None


def jit(func=None, **options):
    """``numba.njit(cache=True, **options)``, with a writable cache wherever this runs.

    numba caches compiled code beside the package, else under the home folder; where
    neither can be written (a read-only install with ``HOME`` pointing nowhere) it refuses
    to compile.  Then the cache moves to :func:`private_cache_dir`, and failing that
    the code is compiled without a cache.

    Parameters
    ----------
    func : callable, optional
        The function (``None``: return a decorator).
    **options
        Options of :func:`numba.njit` (``nogil``, ``fastmath``, ...).

    Returns
    -------
    numba.core.registry.CPUDispatcher
        The compiled function.
    """
    from numba import njit

    if func is None:
        return lambda f: jit(f, **options)
    try:
        return njit(cache=True, **options)(func)
    except RuntimeError as exc:
        if "no locator available" not in str(exc):
            raise
    from numba.core import config

    folder = private_cache_dir()
    if folder is not None:
        config.CACHE_DIR = folder
        try:
            return njit(cache=True, **options)(func)
        except RuntimeError:
            pass
    return njit(cache=False, **options)(func)


@contextlib.contextmanager
def interrupts_as_such():
    """Let an interrupt that lands inside compiled code end the program as an interrupt.

    A Ctrl-C that arrives while a compiled function runs surfaces, when it returns, as
    ``SystemError: ... returned a result with an exception set`` (the interrupt is its
    cause): an error that an ``except Exception`` may swallow.  Inside this block it is a
    :class:`KeyboardInterrupt` again.

    Raises
    ------
    KeyboardInterrupt
        In place of such a ``SystemError``.

    Examples
    --------
    >>> with interrupts_as_such():
    ...     pass
    """
    try:
        yield
    except SystemError as exc:
        if isinstance(exc.__cause__, KeyboardInterrupt) or isinstance(exc.__context__, KeyboardInterrupt):
            raise KeyboardInterrupt from None
        raise
