"""Summaries of results in the manner of statsmodels: text, HTML and the tables behind them.

``model.summary()`` and ``result.summary()`` return a :class:`Summary`: printed it is the
text a terminal shows, in Jupyter it renders as HTML, and its ``tables`` are the
DataFrames behind both, so the CLI, the notebook and the report say the same thing from
one place.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

import pandas as pd

__all__ = ["Summary", "Section"]


@dataclass
class Section:
    """One part of a summary: a heading, sentences and (optionally) a table.

    Attributes
    ----------
    heading : str
    lines : list of str
        Sentences or preformatted lines, in order.
    table : pandas.DataFrame or None
        Values already formatted for reading (strings where a number needs a unit or a
        "not identified").
    lines_or_table : bool
        The lines and the table say the same thing: text shows the lines, HTML the table.
    """

    heading: str
    lines: list = field(default_factory=list)
    table: pd.DataFrame | None = None
    lines_or_table: bool = False


@dataclass
class Summary:
    """A result's summary: ``print`` it, show it in Jupyter, or take its tables.

    Attributes
    ----------
    title : str
    sections : list of Section

    Examples
    --------
    >>> s = Summary("Example", [Section("Numbers", ["two rows"], pd.DataFrame({"a": [1, 2]}))])
    >>> print(s.as_text())
    Example
    =======
    <BLANKLINE>
    Numbers:
      two rows
      a
      1
      2
    >>> s.tables[0].shape
    (2, 1)
    """

    title: str
    sections: list = field(default_factory=list)

    @property
    def tables(self) -> list:
        """The sections' tables (pandas DataFrames), in order."""
        return [s.table for s in self.sections if s.table is not None]

    def as_text(self) -> str:
        """The summary as plain text (what ``print`` shows).

        Returns
        -------
        str
        """
        out = [self.title, "=" * len(self.title)]
        for s in self.sections:
            out += ["", f"{s.heading}:" if s.heading else ""]
            out += [f"  {line}" for line in s.lines]
            if s.table is not None and len(s.table) and not (s.lines_or_table and s.lines):
                body = s.table.to_string(index=False, na_rep="", max_colwidth=100)
                out += [f" {line}" for line in body.splitlines()]
        return "\n".join(line for line in out).replace("\n\n\n", "\n\n")

    def as_html(self) -> str:
        """The summary as an HTML fragment: headings, paragraphs and tables.

        Returns
        -------
        str
        """
        out = [f"<h3>{html.escape(self.title)}</h3>"]
        for s in self.sections:
            if s.heading:
                out.append(f"<h4>{html.escape(s.heading)}</h4>")
            if not (s.lines_or_table and s.table is not None):
                out += [f"<p>{html.escape(line)}</p>" for line in s.lines]
            if s.table is not None and len(s.table):
                out.append(s.table.to_html(index=False, na_rep="", escape=True, border=0))
        return "\n".join(out)

    def _repr_html_(self) -> str:
        return self.as_html()

    def __str__(self) -> str:
        return self.as_text()

    def __repr__(self) -> str:
        return self.as_text()
