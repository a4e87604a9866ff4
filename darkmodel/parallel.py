"""Independent tasks over a process pool, largest first, with progress.

The fit and the flip-flop test both run one task per (XUV, INT_TIME) group.  The groups
differ in size by a factor of 50, so the largest start first; results come back in the
tasks' order whatever the number of workers, so every result is independent of ``n_jobs``.

A single group can still be most of the work (its bootstrap replicates).  With
``share_largest`` the largest task runs in this process and hands its replicates to the
same pool (:func:`ordered_map`), so every worker helps with it once the other groups are
done.  Each replicate draws from its own random stream, so the result does not depend on
which process computed it.
"""

from __future__ import annotations

import numbers
import os
from collections import deque
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Callable, Generator, Iterator, Sequence

__all__ = ["n_workers", "available_cores", "WorkerPool", "run_tasks", "ordered_map", "ReplicatePool",
           "die_with_parent", "process_pool"]

#: Replicates per job handed to a worker, and jobs in flight per worker, in :func:`ordered_map`.
REPLICATE_CHUNK = 4
JOBS_IN_FLIGHT_PER_WORKER = 3


def die_with_parent() -> None:
    """Ask the kernel to end this process when its parent dies (Linux; a no-op elsewhere).

    Used as the initializer of every worker pool: a scan or fit killed with ``kill -9``
    must not leave workers of a few hundred MB behind.
    """
    import signal
    import sys

    # the parent alone answers Ctrl-C (and ends its workers, see ``WorkerPool``); a
    # worker interrupted inside a compiled kernel would report a SystemError instead
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
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


class WorkerPool(ProcessPoolExecutor):
    """A process pool whose workers end with their parent and with an interrupt.

    Its workers ignore Ctrl-C (:func:`die_with_parent`); when the block that uses the
    pool ends by an exception (an interrupt, an error), the workers are ended at once
    instead of being waited for, so no process outlives the command.
    """

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            self.terminate()
            return False
        return super().__exit__(exc_type, exc, tb)

    def terminate(self) -> None:
        """Cancel the waiting tasks, end the workers now (SIGTERM, then a join) and let the pool close."""
        processes = list((getattr(self, "_processes", None) or {}).values())
        manager = getattr(self, "_executor_manager_thread", None)  # shutdown forgets it
        self.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            if process.is_alive():
                process.terminate()
        for process in processes:
            process.join(timeout=5)
        # and wait for the pool's manager thread to close its pipes: left running, it races the
        # interpreter's exit hook, which then writes to a pipe the thread just closed (EBADF, a
        # traceback after the command's last line)
        if manager is not None and manager.is_alive():
            manager.join(timeout=5)


def process_pool(workers: int) -> WorkerPool:
    """A process pool whose workers end with their parent (see :class:`WorkerPool`).

    Parameters
    ----------
    workers : int
        Worker processes (at least 1; capped at :func:`n_workers`' limit by the callers).

    Returns
    -------
    WorkerPool
    """
    return WorkerPool(max_workers=max(1, int(workers)), initializer=die_with_parent)


def n_workers(n_jobs: int | None, default_all: bool = True) -> int:
    """Worker count for an ``n_jobs`` setting in scikit-learn's convention.

    Parameters
    ----------
    n_jobs : int or None
        ``-1``: all cores; ``None``: all cores if ``default_all`` else 1; a positive count,
        capped at the cores this process may use (more workers than cores only cost
        memory).
    default_all : bool, optional
        What ``None`` means.

    Returns
    -------
    int

    Raises
    ------
    ValueError
        If ``n_jobs`` is 0, below -1 or not a whole number.

    Examples
    --------
    >>> n_workers(1), n_workers(None, default_all=False)
    (1, 1)
    """
    cores = available_cores()
    if n_jobs is None:
        return cores if default_all else 1
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, numbers.Integral) or (n_jobs < 1 and n_jobs != -1):
        raise ValueError(f"n_jobs must be a positive count or -1 (all cores), not {n_jobs!r}")
    return cores if n_jobs == -1 else min(int(n_jobs), cores)


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity where the system says, else all).

    Returns
    -------
    int
    """
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _call_chunk(func: Callable, items: Sequence) -> list:
    return [func(item) for item in items]


def ordered_map(func: Callable, items: Sequence, executor=None, *, workers: int = 1,
                chunk: int = REPLICATE_CHUNK) -> Generator:
    """``func(item)`` for every item, yielded in order, computed by ``executor`` if given.

    Lazy: chunks of ``chunk`` items are submitted a few per worker ahead of the consumer,
    and closing the generator (a sequential test that has stopped) cancels the chunks not
    yet started.  Without an executor it is the plain generator.

    Parameters
    ----------
    func : callable
        A picklable callable of one item (e.g. a bootstrap replicate given its index).
    items : sequence
        The items.
    executor : concurrent.futures.Executor, optional
        Where to compute; ``None`` computes here, one item at a time.
    workers : int, optional
        The executor's workers (sets how many chunks are kept in flight).
    chunk : int, optional
        Items per submitted job.

    Yields
    ------
    object
        ``func(items[0])``, ``func(items[1])``, ...

    Examples
    --------
    >>> list(ordered_map(abs, [-1, 2, -3]))
    [1, 2, 3]
    """
    if executor is None:
        yield from (func(item) for item in items)
        return
    chunks = [items[i:i + chunk] for i in range(0, len(items), chunk)]
    ahead = max(1, workers * JOBS_IN_FLIGHT_PER_WORKER)
    pending: deque = deque()
    try:
        for part in chunks:
            pending.append(executor.submit(_call_chunk, func, part))
            if len(pending) >= ahead:
                yield from pending.popleft().result()
        while pending:
            yield from pending.popleft().result()
    finally:
        for future in pending:
            future.cancel()


def _counted(results: Generator, tick: Callable[[int], object]) -> Iterator:
    """``results``, calling ``tick(1)`` as each one is handed on (closing it closes ``results``)."""
    try:
        for item in results:
            tick(1)
            yield item
    finally:
        results.close()


@dataclass(frozen=True)
class ReplicatePool:
    """A process pool lent to one task for its bootstrap replicates.

    Parameters
    ----------
    executor : concurrent.futures.Executor
        The pool.
    workers : int
        Its worker count.
    on_item : callable, optional
        Called with 1 as each replicate's result is handed on (a progress bar's counter).
    """

    executor: Executor
    workers: int
    on_item: Callable[[int], object] | None = None

    def imap(self, func: Callable, items: Sequence) -> Iterator:
        """``func(item)`` for every item, in order, computed by the pool (see :func:`ordered_map`).

        Parameters
        ----------
        func : callable
            A picklable callable of one item.
        items : sequence
            The items.

        Returns
        -------
        iterator
        """
        results = ordered_map(func, items, self.executor, workers=self.workers)
        if self.on_item is None:
            return results
        return _counted(results, self.on_item)


def run_tasks(func: Callable, tasks: Sequence, *, workers: int = 1, size: Callable | None = None,
              progress: Callable[[int], object] | None = None, share_largest: bool = False) -> list:
    """``[func(t) for t in tasks]``, in processes when ``workers > 1``.

    Parameters
    ----------
    func : callable
        A picklable, module-level function of one task; with ``share_largest`` it must also
        accept ``replicate_pool=`` (a :class:`ReplicatePool` for the task's replicates).
    tasks : sequence
        The tasks.
    workers : int, optional
        Worker processes; 1 runs in this process.
    size : callable, optional
        Task -> its size; larger tasks are submitted first.
    progress : callable, optional
        Called with 1 as each task finishes (e.g. ``tqdm.update``).
    share_largest : bool, optional
        Run the largest task in this process, handing its replicates to the pool, which
        runs the other tasks first.  If ``progress`` has a ``replicates`` method, it is
        called with 1 as each of that task's replicates is done (the bar moves while the
        largest task, most of the time, runs).

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
    if workers <= 1 or len(tasks) == 0 or (len(tasks) == 1 and not share_largest):
        out = []
        for task in tasks:
            out.append(func(task))
            tick(1)
        return out
    order = sorted(range(len(tasks)), key=lambda i: -size(tasks[i])) if size else list(range(len(tasks)))
    results = [None] * len(tasks)
    here = order[0] if share_largest else None
    with process_pool(workers if share_largest else min(workers, len(tasks))) as pool:
        futures = {pool.submit(func, tasks[i]): i for i in order if i != here}
        if here is not None:
            results[here] = func(tasks[here], replicate_pool=ReplicatePool(pool, workers,
                                                                            getattr(progress, "replicates", None)))
            tick(1)
        for future in as_completed(futures):
            results[futures[future]] = future.result()
            tick(1)
    return results
