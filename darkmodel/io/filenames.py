"""IUVS file names: parsing and the LASP rule for picking the current product.

IUVS product names follow ``mvn_iuv_<level>_<obs>-<channel>_<YYYYMMDD>T<HHMMSS>_v<NN>_<r|s><NN>``
with ``.fits`` or ``.fits.gz``.  The observation token ``<obs>`` is
``<phase>[-cycle<NN..NNNNN>][-orbit<NNNNN>][-mode<NN..NNNN>]``, where the phase can be
empty (``mvn_iuv_l1a_-orbit01580-fuvdark_...``) or contain hyphens
(``relay-echelle-orbit24924-echdark``).  A naive ``split('-')`` breaks on both, so the
name is matched from both ends with one regular expression.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["IUVSFilename", "parse_filename", "select_current", "filename_times"]

_NAME = re.compile(
    r"^mvn_iuv_(?P<level>l[0-3][a-c]?)_"
    r"(?P<obs>.*)-(?P<channel>fuvdark|muvdark|echdark|fuv|muv|ech)_"
    r"(?P<date>\d{8})[Tt](?P<time>\d{6})_"
    r"v(?P<version>\d{2})_(?P<rtype>[rs])(?P<revision>\d{2})"
    r"(?P<ext>\.fits(?:\.gz)?)?$"
)
_OBS = re.compile(
    r"^(?P<phase>.*?)"
    r"(?:-cycle(?P<cycle>\d{2,5}))?"
    r"(?:-orbit(?P<orbit>\d{5}))?"
    r"(?:-mode(?P<mode>\d{2,4}))?$"
)


@dataclass(frozen=True)
class IUVSFilename:
    """The parts of one IUVS product file name.

    Attributes
    ----------
    name : str
        The base name as given (with extension, if any).
    level : str
        Processing level, e.g. ``'l1a'``.
    phase : str
        Mission phase or orbit segment (may be empty or hyphenated).
    cycle, orbit, mode : int or None
        Numbers from the ``cycle``, ``orbit`` and ``mode`` parts, when present.
    channel : str
        Channel token, e.g. ``'muvdark'``.
    time : pandas.Timestamp
        Observation start time (UTC) from the name.
    version, revision : int
        Product version ``vNN`` and revision number ``NN`` of ``rNN``/``sNN``.
    production : bool
        True for a production revision (``r``), False for a stage revision (``s``).
    """

    name: str
    level: str
    phase: str
    cycle: int | None
    orbit: int | None
    mode: int | None
    channel: str
    time: pd.Timestamp
    version: int
    revision: int
    production: bool

    @property
    def product_id(self) -> str:
        """The product identifier: the name without ``.fits``/``.fits.gz``."""
        return re.sub(r"\.fits(\.gz)?$", "", self.name)

    @property
    def product_key(self) -> str:
        """The name without version, revision and extension (LASP's grouping key)."""
        return self.product_id[:-8]

    @property
    def xuv(self) -> str:
        """The channel as the header writes it: ``'FUV'``, ``'MUV'`` or ``'ECH'``."""
        return self.channel.replace("dark", "").upper()

    @property
    def is_dark(self) -> bool:
        """True for a dark product (``fuvdark``, ``muvdark``, ``echdark``)."""
        return self.channel.endswith("dark")

    @property
    def version_string(self) -> str:
        """The version and revision as written, e.g. ``'v13_r01'``."""
        return f"v{self.version:02d}_{'r' if self.production else 's'}{self.revision:02d}"


def parse_filename(name: str | Path) -> IUVSFilename:
    """Parse an IUVS product file name.

    Parameters
    ----------
    name : str or path-like
        A file name or path; only the base name is parsed.  Both the usual upper-case
        ``T`` and the PDS lower-case ``t`` in the time stamp are accepted.

    Returns
    -------
    IUVSFilename
        The parsed parts.

    Raises
    ------
    ValueError
        If the name does not follow the IUVS pattern.

    Examples
    --------
    >>> f = parse_filename("mvn_iuv_l1a_relay-echelle-orbit24924-echdark_20251202T172148_v13_r01.fits.gz")
    >>> f.phase, f.orbit, f.channel, f.version, f.revision
    ('relay-echelle', 24924, 'echdark', 13, 1)
    """
    base = Path(name).name
    m = _NAME.match(base)
    if m is None:
        raise ValueError(f"{base!r} is not an IUVS product file name")
    obs = _OBS.match(m["obs"])
    if obs is None:  # pragma: no cover - _OBS matches any string
        raise ValueError(f"{base!r}: cannot parse observation token {m['obs']!r}")

    def _int(group: str | None) -> int | None:
        return None if group is None else int(group)

    return IUVSFilename(
        name=base,
        level=m["level"],
        phase=obs["phase"],
        cycle=_int(obs["cycle"]),
        orbit=_int(obs["orbit"]),
        mode=_int(obs["mode"]),
        channel=m["channel"],
        time=pd.Timestamp(f"{m['date']}T{m['time']}"),
        version=int(m["version"]),
        revision=int(m["revision"]),
        production=m["rtype"] == "r",
    )


def select_current(names) -> list[str]:
    """Pick the current product among several versions, by the LASP rule.

    Files are grouped by their name without version, revision and extension.  In each
    group the highest version wins; at equal version a production revision (``r``)
    beats a stage revision (``s``); then the highest revision number wins.

    Parameters
    ----------
    names : iterable of str or path-like
        File names or paths.  Names that are not IUVS product names are dropped.

    Returns
    -------
    list of str
        The selected entries, as given, in their original order.

    Examples
    --------
    >>> select_current(["x/mvn_iuv_l1a_apoapse-orbit00626-fuvdark_20150125T153302_v02_s10.fits.gz",
    ...                 "x/mvn_iuv_l1a_apoapse-orbit00626-fuvdark_20150125T153302_v02_r01.fits.gz"])
    ['x/mvn_iuv_l1a_apoapse-orbit00626-fuvdark_20150125T153302_v02_r01.fits.gz']
    """
    best: dict[str, tuple[tuple[int, int, int], int]] = {}
    items = [str(n) for n in names]
    for i, item in enumerate(items):
        try:
            f = parse_filename(item)
        except ValueError:
            continue
        rank = (f.version, int(f.production), f.revision)
        if f.product_key not in best or rank > best[f.product_key][0]:
            best[f.product_key] = (rank, i)
    keep = sorted(i for _, i in best.values())
    return [items[i] for i in keep]


def _stamp_times(names: np.ndarray) -> np.ndarray:
    """``datetime64[ns]`` of each name's ``YYYYMMDDTHHMMSS`` stamp (NaT where it does not parse)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    text = pa.array(names, type=pa.string(), from_pandas=True)
    base = pc.replace_substring_regex(text, pattern=r"^.*/", replacement="")
    valid = pc.match_substring_regex(base, _NAME.pattern)
    parts = pc.extract_regex(base, pattern=_NAME.pattern)
    stamp = pc.binary_join_element_wise(parts.field("date"), parts.field("time"), "T")
    stamp = pc.if_else(valid, stamp, pa.scalar(None, pa.string()))
    parsed = pc.strptime(stamp, format="%Y%m%dT%H%M%S", unit="s", error_is_null=True)
    return parsed.to_numpy(zero_copy_only=False).astype("datetime64[ns]")



def filename_times(names) -> pd.DatetimeIndex:
    """Observation start times of many IUVS file names at once (vectorised).

    This is the seed notebook's ``df.FILENAME.map(lambda x: io.Filename(x).time)``
    without a Python call per row.

    Parameters
    ----------
    names : iterable of str
        IUVS product file names or paths.

    Returns
    -------
    pandas.DatetimeIndex
        The ``YYYYMMDDTHHMMSS`` time of each name (UTC), NaT where a name does not parse;
        named ``Time``.

    Examples
    --------
    >>> filename_times(["mvn_iuv_l1a_apoapse-orbit18001-muvdark_20230114T071415_v13_r01.fits.gz"])[0]
    Timestamp('2023-01-14 07:14:15')
    """
    codes, uniques = pd.factorize(np.asarray(list(names) if not hasattr(names, "__array__") else names, dtype=object))
    times = _stamp_times(uniques)  # each distinct name parsed once, in C (Arrow's RE2 and strptime)
    return pd.DatetimeIndex(times[codes] if len(uniques) else times[:0], name="Time")
