"""Independent tasks over a process pool, largest first, with progress.

The fit and the flip-flop test both run one task per (XUV, INT_TIME) group.  The groups
differ in size by a factor of 50, so the largest start first (the pool's makespan is
bounded by the largest group); results come back in the tasks' order whatever the number
of workers, so every result is independent of ``n_jobs``.
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Callable, Sequence

__all__ = ["n_workers", "run_tasks", "die_with_parent", "process_pool"]


def die_with_parent() -> None:
    """Ask the kernel to end this process when its parent dies (Linux; a no-op elsewhere).

    Used as the initializer of every worker pool: a scan or fit killed with ``kill -9``
    must not leave workers of a few hundred MB behind.
    """
    import signal
    import sys

    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # pragma: no cover - exotic libc
        return
    if os.getppid() == 1:  # the parent died before we got here
        os._exit(1)


def process_pool(workers: int) -> ProcessPoolExecutor:
    """A process pool whose workers end with their parent (see :func:`die_with_parent`).

    Parameters
    ----------
    workers : int
        Worker processes.

    Returns
    -------
    concurrent.futures.ProcessPoolExecutor
    """
    return ProcessPoolExecutor(max_workers=workers, initializer=die_with_parent)


def n_workers(n_jobs: int | None, default_all: bool = True) -> int:
    """Worker count for an ``n_jobs`` setting in scikit-learn's convention.

    Parameters
    ----------
    n_jobs : int or None
        ``-1``: all cores; ``None``: all cores if ``default_all`` else 1; a positive count.
    default_all : bool, optional
        What ``None`` means.

    Returns
    -------
    int

    Examples
    --------
    >>> n_workers(3), n_workers(None, default_all=False)
    (3, 1)
    """
    cores = os.cpu_count() or 1
    if n_jobs is None:
        return cores if default_all else 1
    if n_jobs == -1:
        return cores
    if n_jobs < 1:
        raise ValueError(f"n_jobs must be a positive count or -1, not {n_jobs}")
    return int(n_jobs)


def run_tasks(func: Callable, tasks: Sequence, *, workers: int = 1, size: Callable | None = None,
              progress: Callable[[int], object] | None = None) -> list:
    """``[func(t) for t in tasks]``, in processes when ``workers > 1``.

    Parameters
    ----------
    func : callable
        A picklable, module-level function of one task.
    tasks : sequence
        The tasks.
    workers : int, optional
        Worker processes; 1 runs in this process.
    size : callable, optional
        Task -> its size; larger tasks are submitted first.
    progress : callable, optional
        Called with 1 as each task finishes (e.g. ``tqdm.update``).

    Returns
    -------
    list
        The results, in the order of ``tasks``.

    Examples
    --------
    >>> run_tasks(abs, [-2, 3, -5], size=abs)
    [2, 3, 5]
    """
    tick = progress or (lambda n: None)
    if workers <= 1 or len(tasks) <= 1:
        out = []
        for task in tasks:
            out.append(func(task))
            tick(1)
        return out
    order = sorted(range(len(tasks)), key=lambda i: -size(tasks[i])) if size else list(range(len(tasks)))
    results = [None] * len(tasks)
    with process_pool(min(workers, len(tasks))) as pool:
        futures = {pool.submit(func, tasks[i]): i for i in order}
        for future in as_completed(futures):
            results[futures[future]] = future.result()
            tick(1)
    return results
