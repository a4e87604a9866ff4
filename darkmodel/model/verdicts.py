"""The flip-flop test's result: per-group evidence and verdicts with the settings that made them.

In the manner of statsmodels' results classes: the numbers stay in a table
(:meth:`FlipFlopResult.to_frame`), the settings travel with them (saved with a model and
read back intact), :meth:`~FlipFlopResult.summary` prints the answer, and
:meth:`~FlipFlopResult.conf_int` gives the effect interval at any level.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import special

__all__ = ["FlipFlopResult", "answer_sentences"]


#: How each verdict reads in the answer's tally (the groups not flip-flopping).
_TALLY = {"single-state": "one state", "change-point": "a change point", "drift": "a drift",
          "confounded": "families explained by a recorded variable", "families-without-memory":
          "families without memory", "inconclusive": "cannot tell (too little power)",
          "insufficient-data": "too few files to test"}


def _ms(int_time) -> str:
    """``14\u00a0400\u00a0ms``: thousands apart, never broken across lines."""
    return f"{int(int_time):,}".replace(",", "\u00a0") + "\u00a0ms"


def _flip_flop_clause(r) -> str:
    """``14 400 ms flip-flops between two states 14 % apart, switching every ~69 h (p = 0.005)``."""
    text = _ms(r.INT_TIME) + " flip-flops between two states"
    ratio = getattr(r, "effect_ratio", np.nan)
    if not pd.isna(ratio):
        text += f" {abs(ratio - 1) * 100:.0f} % apart"
    dwell = getattr(r, "dwell_hours_median", np.nan)
    if not pd.isna(dwell):
        text += f", switching every ~{dwell:.0f} h"
    p = getattr(r, "p_memory", np.nan)
    if not pd.isna(p):
        text += f" (memory test p = {p:.2g})"
    return text


def answer_sentences(table: pd.DataFrame) -> dict:
    """The answer to "does the instrument flip-flop?", one sentence per channel.

    Parameters
    ----------
    table : pandas.DataFrame
        Verdicts (:attr:`FlipFlopResult.table`): ``XUV``, ``INT_TIME``, ``verdict`` and,
        for flip-flops, ``effect_ratio``, ``dwell_hours_median`` and ``p_memory``.

    Returns
    -------
    dict
        Channel -> sentence: which INT_TIMEs flip-flop, how far apart and how often, then
        a tally of the other groups' verdicts in words.

    Examples
    --------
    >>> t = pd.DataFrame({"XUV": ["FUV", "FUV", "MUV"], "INT_TIME": [14400, 4200, 4200],
    ...                   "verdict": ["flip-flop", "single-state", "insufficient-data"],
    ...                   "effect_ratio": [1.14, np.nan, np.nan], "dwell_hours_median": [69.0, np.nan, np.nan],
    ...                   "p_memory": [0.005, np.nan, np.nan]})
    >>> nbsp = chr(160)  # the sentences keep numbers and units together
    >>> print(answer_sentences(t)["FUV"].replace(nbsp, " "))  # doctest: +NORMALIZE_WHITESPACE
    FUV: yes. 14 400 ms flip-flops between two states 14 % apart, switching every ~69 h
    (memory test p = 0.005); the other group: one state (4 200 ms).
    >>> print(answer_sentences(t)["MUV"].replace(nbsp, " "))
    MUV: not known. The only group: too few files to test (4 200 ms).
    """
    out = {}
    for channel, rows in table.groupby("XUV", sort=True):
        rows = rows.sort_values("INT_TIME")
        flips = rows[rows["verdict"] == "flip-flop"]
        others = rows[rows["verdict"] != "flip-flop"]
        tally = []
        for verdict, part in others.groupby("verdict", sort=False):
            said = _TALLY.get(verdict, verdict)
            limits = part.get("resolvable_contrast", pd.Series(dtype=float)).dropna()
            if verdict == "single-state" and len(limits):  # a negative claim says what it could have missed
                said += f", as far as the scatter resolves (states under {_span(limits)} apart"
                drifts = part.get("resolvable_drift", pd.Series(dtype=float)).dropna()
                said += f", or drifts under {_span(drifts)} over the period," if len(drifts) else ""
                said += " would be missed)"
            tally.append(f"{said} ({', '.join(_ms(t) for t in part['INT_TIME'])})")
        tested = others["verdict"].isin(["single-state", "families-without-memory", "confounded", "drift",
                                          "change-point"]).any()
        if len(flips):
            head = f"{channel}: yes. " + "; ".join(_flip_flop_clause(r) for r in flips.itertuples())
            if tally:
                head += f"; the other group{'s' if len(others) > 1 else ''}: " + "; ".join(tally)
        else:
            unsure = (others["verdict"] == "inconclusive").any()
            found = "no flip-flop found where the test could tell" if unsure else "no flip-flop found"
            head = f"{channel}: {found if tested else 'not known'}. " + (
                f"{'The only group' if len(others) == 1 else 'Its groups'}: " + "; ".join(tally))
        out[str(channel)] = head + "."
    return out


@dataclass
class FlipFlopResult:
    """Verdicts of :func:`darkmodel.flipflop_test`, one row per (XUV, INT_TIME) group.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per group: ``XUV``, ``INT_TIME``, ``verdict`` and its ``reason``, and the
        evidence (see :func:`darkmodel.flipflop_test`).
    settings : dict
        ``n_boot``, ``alpha``, ``seed``, ``min_files``, ``min_separation``, ``min_drift``,
        ``min_runs_per_state``, and what the verdicts are bound to: ``data_fingerprint``
        (the rows tested, :func:`darkmodel.model.fingerprint.data_fingerprint`) and
        ``model_fingerprint`` (the model whose offsets were used; ``None`` when the test
        fitted its own).
    """

    table: pd.DataFrame
    settings: dict = field(default_factory=dict)

    def to_frame(self) -> pd.DataFrame:
        """The per-group table (a copy), with the settings in ``.attrs``.

        Returns
        -------
        pandas.DataFrame
        """
        out = self.table.copy()
        out.attrs.update(self.settings)
        return out

    @property
    def verdicts(self) -> pd.Series:
        """``verdict`` indexed by (XUV, INT_TIME)."""
        return self.table.set_index(["XUV", "INT_TIME"])["verdict"]

    def conf_int(self, alpha: float = 0.05) -> pd.DataFrame:
        """Interval of the effect (ratio of the two families' dark currents) per group.

        Parameters
        ----------
        alpha : float, optional
            One minus the coverage (0.05: a 95 % Wald interval on the log ratio).

        Returns
        -------
        pandas.DataFrame
            ``XUV``, ``INT_TIME``, ``effect_ratio``, ``lower``, ``upper``; NaN for groups
            with one family.

        Examples
        --------
        >>> t = pd.DataFrame({"XUV": ["MUV"], "INT_TIME": [4200], "verdict": ["flip-flop"],
        ...                   "effect_log": [np.log(1.15)], "effect_log_se": [0.01]})
        >>> round(float(FlipFlopResult(t).conf_int(0.05)["lower"].iloc[0]), 4)  # 1.15 * exp(-1.96 * 0.01)
        1.1277
        """
        if not 0 < alpha < 1:
            raise ValueError("alpha must lie between 0 and 1")
        z = special.ndtri(1 - alpha / 2)
        log, se = self.table["effect_log"].to_numpy(float), self.table["effect_log_se"].to_numpy(float)
        return pd.DataFrame({"XUV": self.table["XUV"], "INT_TIME": self.table["INT_TIME"],
                             "effect_ratio": np.exp(log), "lower": np.exp(log - z * se),
                             "upper": np.exp(log + z * se)})

    def summary(self):
        """The answer in words, the settings and the verdicts, in the manner of statsmodels.

        Returns
        -------
        darkmodel.summary.Summary
            The answer per channel (:meth:`answer`), the settings, and one row per group
            with its verdict, effect interval and reason (``.tables``); ``print`` it for
            text, show it in Jupyter for HTML.
        """
        from ..summary import Section, Summary

        s = self.settings
        counts = self.table["verdict"].value_counts()
        settings = Section("Settings", [
            f"alpha = {s.get('alpha', float('nan')):g}, n_boot = {s.get('n_boot', '?')}, seed = {s.get('seed', '?')}, "
            f"min_files = {s.get('min_files', '?')}; families: {s.get('families', '?')}",
            "verdicts: " + ", ".join(f"{v} {n}" for v, n in counts.items())])
        ci = self.conf_int(s.get("alpha", 0.05)) if "effect_log" in self.table else None
        lines, rows = [], []
        for i, r in enumerate(self.table.itertuples(index=False)):
            effect = ""
            if ci is not None and np.isfinite(ci["effect_ratio"].iloc[i]):
                effect = f"{ci['effect_ratio'].iloc[i]:.3f} [{ci['lower'].iloc[i]:.3f}, {ci['upper'].iloc[i]:.3f}]"
            lines.append(f"{r.XUV} {int(r.INT_TIME):>6} ms  {r.verdict:<24}" + (f"  effect {effect}" if effect else ""))
            lines.append(f"    {r.reason}")
            rows.append({"XUV": r.XUV, "INT_TIME": int(r.INT_TIME), "verdict": r.verdict, "effect": effect,
                         "reason": r.reason})
        verdicts = Section("Verdicts", lines, pd.DataFrame(rows), lines_or_table=True)
        answer = Section("", [sentence.replace("\u00a0", " ") for sentence in self.answer().values()])
        return Summary("Do we have some flip-flopping state the instrument is in?", [answer, settings, verdicts])

    def answer(self) -> dict:
        """The answer, one sentence per channel (see :func:`answer_sentences`).

        Returns
        -------
        dict
            Channel -> sentence.
        """
        return answer_sentences(self.table)

    def __repr__(self) -> str:
        counts = ", ".join(f"{v}: {n}" for v, n in self.table["verdict"].value_counts().items())
        return f"FlipFlopResult({len(self.table)} groups; {counts}; alpha={self.settings.get('alpha')})"

    def mismatch(self, model) -> str | None:
        """Why these verdicts do not belong to ``model``, in one sentence.

        Parameters
        ----------
        model : DarkRateModel
            A fitted model.

        Returns
        -------
        str or None
            ``None`` when the verdicts were computed on the rows the model was fitted on
            (and with this model, where the test used one); else the reason.  Verdicts or
            models saved before fingerprints were recorded cannot be checked and pass.
        """
        from .fingerprint import model_fingerprint, other_data

        problem = other_data(model, self.settings.get("data_fingerprint"))
        if problem:
            return (f"the verdicts were computed on other data: {problem}; test the data the model was fitted on, "
                    "or fit a model to the verdicts' data first")
        used = self.settings.get("model_fingerprint")
        given = model_fingerprint(model)
        if used and given and used != given:
            return ("the verdicts were computed with another model fitted on the same data (a refit?); "
                    "run the flip-flop test again with this model")
        return None

    def data_mismatch(self, table: pd.DataFrame | None = None, *, fingerprint: str | None = None) -> str | None:
        """Why these verdicts were not computed on ``table``, in one sentence.

        Parameters
        ----------
        table : pandas.DataFrame, optional
            A calibrated or scan table.
        fingerprint : str, optional
            Its :func:`~darkmodel.model.fingerprint.data_fingerprint`, where known already.

        Returns
        -------
        str or None
            ``None`` when the table holds the rows the verdicts were computed on, or when
            the verdicts carry no fingerprint (saved by an earlier version); else the reason.
        """
        from .fingerprint import data_fingerprint

        mine = self.settings.get("data_fingerprint")
        if not mine:
            return None
        given = fingerprint if fingerprint is not None else data_fingerprint(table)
        if given != mine:
            return f"the flip-flop verdicts were computed on other data ({mine}) than these ({given})"
        return None

    def to_dict(self) -> dict:
        """Plain JSON-able data: ``settings`` and ``rows``."""
        settings = json.loads(json.dumps(self.settings, default=str))
        return {"settings": settings, "rows": json.loads(self.table.to_json(orient="records", default_handler=str))}

    @classmethod
    def from_dict(cls, d: dict) -> "FlipFlopResult":
        """Rebuild from :meth:`to_dict` data."""
        return cls(pd.DataFrame(d["rows"]), dict(d.get("settings") or {}))


def _span(limits: pd.Series) -> str:
    """A range of percentages as the answer shows it: ``5-26 %``, or ``12 %`` when they round alike."""
    lo, hi = 100 * limits.min(), 100 * limits.max()

    def pct(v):  # whole per cent, but a limit under 1 % keeps its digit (0.4, not 0)
        return f"{v:.0f}" if v >= 0.95 else f"{v:.1g}"

    return f"{pct(hi)}\u00a0%" if pct(lo) == pct(hi) else f"{pct(lo)}-{pct(hi)}\u00a0%"
