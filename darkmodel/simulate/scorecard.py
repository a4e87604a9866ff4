"""The flip-flop verdicts scored against a simulated archive's ground truth.

The simulator writes, per integration, the instrument state it was in (``truth.parquet``).
:func:`true_verdicts` reads from it what the right verdict of every (XUV, INT_TIME) group
is -- one state throughout; one step between two states; states that alternate -- and the
scenario adds what states alone cannot show (a smooth aging, a state tied to a binning set).
:func:`score_verdicts` sets the test's verdicts beside them: ``right``, ``wrong`` or
``inconclusive`` (the test said it could not tell), with the reason of every miss.
``darkmodel demo`` prints this scorecard.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["true_verdicts", "score_verdicts", "INCONCLUSIVE_VERDICTS"]

#: Verdicts that say the data cannot tell: neither right nor wrong.
INCONCLUSIVE_VERDICTS = ("insufficient-data", "inconclusive")


def true_verdicts(truth: pd.DataFrame, scenario: str) -> pd.DataFrame:
    """The right verdict of every group, from the simulator's ground truth.

    Parameters
    ----------
    truth : pandas.DataFrame
        ``truth.parquet`` of :func:`darkmodel.simulate_archive` (``FILENAME``, ``Time``,
        ``XUV``, ``INT_TIME``, ``state`` and ``DN_per_s_true``; MCP-on darks, which hold NaN
        there, are left out as the calibration leaves them out).
    scenario : str
        The simulated scenario (:data:`darkmodel.simulate.scenarios.SCENARIOS`).

    Returns
    -------
    pandas.DataFrame
        ``XUV``, ``INT_TIME``, ``n_files``, ``n_states``, ``n_switches`` (changes of state
        between consecutive files in time) and ``truth``: ``single-state`` (one state;
        ``drift`` in the drift scenario, where the one state ages), ``change-point`` (one
        switch), ``flip-flop`` (more; ``confounded`` in the confounded scenario, where the
        state comes with a binning set).

    Examples
    --------
    >>> truth = pd.DataFrame({"FILENAME": list("abcdef"), "XUV": "MUV", "INT_TIME": 4200,
    ...                       "Time": pd.date_range("2015-01-01", periods=6, freq="h"),
    ...                       "state": [0, 1, 0, 1, 1, 0], "DN_per_s_true": 1.0})
    >>> true_verdicts(truth, "flipflop")[["n_switches", "truth"]].values.tolist()
    [[4, 'flip-flop']]
    """
    rows = truth[np.isfinite(pd.to_numeric(truth["DN_per_s_true"], errors="coerce"))] \
        if "DN_per_s_true" in truth else truth
    files = (rows.sort_values("Time").groupby(["XUV", "INT_TIME", "FILENAME"], sort=False)
             .agg(Time=("Time", "min"), state=("state", "first")).reset_index().sort_values("Time"))
    out = []
    for (xuv, it), g in files.groupby(["XUV", "INT_TIME"], sort=True):
        s = g["state"].to_numpy()
        switches = int(np.count_nonzero(s[1:] != s[:-1]))
        if switches == 0:
            kind = "drift" if scenario == "drift" else "single-state"
        elif switches == 1:
            kind = "change-point"
        else:
            kind = "confounded" if scenario == "confounded" else "flip-flop"
        out.append({"XUV": str(xuv), "INT_TIME": int(it), "n_files": int(len(g)), "n_states": int(len(set(s))),
                    "n_switches": switches, "truth": kind})
    return pd.DataFrame(out)


def score_verdicts(verdicts, truth: pd.DataFrame, scenario: str) -> pd.DataFrame:
    """Every verdict against the truth.

    Parameters
    ----------
    verdicts : FlipFlopResult or pandas.DataFrame
        Output of :func:`darkmodel.flipflop_test` (or its table).
    truth : pandas.DataFrame
        The simulator's ``truth.parquet``.
    scenario : str
        The simulated scenario.

    Returns
    -------
    pandas.DataFrame
        One row per group: ``XUV``, ``INT_TIME``, ``truth``, ``verdict``, ``outcome``
        (``right``, ``wrong`` or ``inconclusive``) and the verdict's ``reason``; groups
        the test did not see are left out.
    """
    table = getattr(verdicts, "table", verdicts)
    right = true_verdicts(truth, scenario)
    merged = right.merge(table[["XUV", "INT_TIME", "verdict", "reason"]], on=["XUV", "INT_TIME"], how="inner")
    merged["outcome"] = np.where(merged["verdict"].isin(INCONCLUSIVE_VERDICTS), "inconclusive",
                                 np.where(merged["verdict"] == merged["truth"], "right", "wrong"))
    return merged[["XUV", "INT_TIME", "n_files", "truth", "verdict", "outcome", "reason"]]
