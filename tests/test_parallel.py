"""Work shared across processes gives the answer computed in one process."""

import numpy as np
import pandas as pd
import pytest

import darkmodel as dm
from darkmodel.parallel import ReplicatePool, ordered_map, process_pool, run_tasks
from darkmodel.simulate.archive import simulate_table
from darkmodel.stats.bootstrap import FamilyLRReplicate, sequential_p
from darkmodel.stats.mixture import fit_mixreg


def _square(x):
    return x * x


def _with_pool(task, replicate_pool=None):
    return (task, replicate_pool is not None)


def _replicating(task, replicate_pool=None):
    if replicate_pool is None:
        return task
    return sum(replicate_pool.imap(_square, list(range(task))))


class _Progress:
    def __init__(self):
        self.groups, self.n_replicates = 0, 0

    def __call__(self, n):
        self.groups += n

    def replicates(self, n):
        self.n_replicates += n


def test_the_largest_tasks_replicates_move_the_progress():
    """Issue 22: the bars stayed at 0/10 while the largest group (most of the run) bootstrapped."""
    progress = _Progress()
    out = run_tasks(_replicating, [3, 30, 2], workers=2, size=lambda t: t, progress=progress, share_largest=True)
    assert out == [3, sum(i * i for i in range(30)), 2]
    assert progress.groups == 3 and progress.n_replicates == 30
    assert run_tasks(_replicating, [3, 30], workers=2, size=lambda t: t, progress=lambda n: None,
                     share_largest=True)[1] == sum(i * i for i in range(30))  # a plain callable still does


@pytest.fixture(scope="module")
def pool():
    with process_pool(2) as executor:
        yield executor


def test_ordered_map_keeps_order_and_stops_early(pool):
    items = list(range(37))
    assert list(ordered_map(_square, items, pool, workers=2, chunk=4)) == [i * i for i in items]
    values = ordered_map(_square, list(range(10_000)), pool, workers=2, chunk=4)
    assert [next(values) for _ in range(5)] == [0, 1, 4, 9, 16]
    values.close()  # the chunks not yet started are cancelled: the pool is free at once
    assert pool.submit(_square, 3).result(timeout=10) == 9


def test_run_tasks_runs_the_largest_task_here_with_the_pool():
    tasks = [3, 9, 1, 4]
    out = run_tasks(_with_pool, tasks, workers=2, size=lambda t: t, share_largest=True)
    assert out == [(3, False), (9, True), (1, False), (4, False)]
    assert run_tasks(_with_pool, [5], workers=2, size=lambda t: t, share_largest=True) == [(5, True)]
    assert run_tasks(_with_pool, tasks, workers=1, share_largest=True) == [(t, False) for t in tasks]


@pytest.mark.parametrize("contrast", [0.0, 0.12])
def test_bootstrap_p_is_the_same_wherever_the_replicates_run(pool, contrast):
    """A replicate draws from its own stream, so a pool changes nothing, early stop included."""
    rng = np.random.default_rng(5)
    n = 160
    t = rng.uniform(-22, -14, n)
    state = (np.arange(n) // 20) % 2
    y = -1.1 + 0.08 * (t + 18) + contrast * state + rng.normal(0, 0.03, n)
    counts = np.full(n, 4.0)
    one = fit_mixreg(t, y, 1, counts=counts, rng=np.random.default_rng(0))
    two = fit_mixreg(t, y, 2, counts=counts, covariates=one.covariates, df=one.noise.df, n_init=3,
                     rng=np.random.default_rng(0))
    lr = max(2.0 * (two.loglik - one.loglik), 0.0)
    draw = FamilyLRReplicate(one, t, counts, None, one.covariates, one.noise.df, False, 2, 1234)
    here = sequential_p(lr, draw, 59)
    shared = sequential_p(lr, draw, 59, replicate_pool=ReplicatePool(pool, 2))
    assert here == shared
    if contrast == 0.0:
        assert here[2] < 59  # stopped early: the pool's extra replicates were discarded
    else:
        assert here[0] == pytest.approx(1 / 60) and here[2] == 59


@pytest.mark.slow
def test_fit_and_flipflop_test_do_not_depend_on_n_jobs():
    table, _ = simulate_table(n_files=700, scenario="flipflop", random_state=9)
    one = dm.DarkRateModel(n_boot=39, alpha=0.1, n_jobs=1).fit(table)
    two = dm.DarkRateModel(n_boot=39, alpha=0.1, n_jobs=2).fit(table)
    a, b = one.to_dict(), two.to_dict()
    assert a["settings"].pop("n_jobs") == 1 and b["settings"].pop("n_jobs") == 2
    assert {k: v for k, v in a.items() if k != "provenance"} == {k: v for k, v in b.items() if k != "provenance"}
    assert sum(g.fitted and g.mixture.k == 2 for g in one.groups_.values()) >= 1
    a = dm.flipflop_test(table, one, n_boot=39, alpha=0.1, random_state=2, n_jobs=1).table
    b = dm.flipflop_test(table, one, n_boot=39, alpha=0.1, random_state=2, n_jobs=2).table
    pd.testing.assert_frame_equal(a, b)
    assert (a["verdict"] == "flip-flop").any()


def test_an_ended_pool_leaves_no_process_and_no_thread_racing_the_exit():
    import time

    with pytest.raises(RuntimeError):
        with process_pool(2) as workers:
            workers.submit(time.sleep, 30)
            processes, manager = list(workers._processes.values()), workers._executor_manager_thread
            raise RuntimeError("the block ends by an exception: an interrupt, an error")
    assert processes and not any(p.is_alive() for p in processes)
    # the manager thread has closed its pipes, so the exit hook has nothing left to write to
    assert manager is not None and not manager.is_alive()
