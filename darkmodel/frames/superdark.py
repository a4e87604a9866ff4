"""Dark frames per binning set: a per-bin pattern around the rate law, streamed from an archive (superdarks).

The rate law (:class:`~darkmodel.DarkRateModel`) predicts the *mean* of a dark frame.  A real
frame is not flat: hot bins carry a fixed excess, some bins are noisier than others, a few
are dead.  :func:`superdark` streams an archive's dark frames, batch by batch (never the whole
archive in memory), keeps the frames of the nominal state (family 0 of the model), and for
each channel x binning set stacks each frame's departure from its own median::

    r_b = value_b - median(frame)

(a frame's median is its robust level, whatever the temperature and INT_TIME).  Up to
``max_frames`` frames per binning set are combined by astropy's sigma clipping
(:func:`astropy.stats.sigma_clipped_stats`, which also removes particle hits): the pattern
``p_b`` is the clipped mean, the per-bin noise ``s_b`` the clipped standard deviation.

A predicted frame (:meth:`Superdark.predict_frame`) is then::

    SCI_b = M + p_b - mean(p),   M = rate(T) * n_pix * t   (the model's mean frame, DN per bin)
    ERR_b = sqrt(s_b**2 + (n_pix * t * sigma_rate)**2)

with ``sigma_rate`` from the model's prediction interval, and a data-quality mask ``DQ``
(bit flags :data:`DQ_FLAGS`; thresholds named in :data:`HOT_SIGMA`, :data:`NOISY_FACTOR`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..validation import RANDOM_STATE, Interval, validate_arguments

__all__ = ["Superdark", "BinningPattern", "superdark", "combine", "shrink", "DQ_FLAGS", "HOT_SIGMA", "HOT_MIN_FRACTION",
           "NOISY_FACTOR", "MAX_FRAMES"]

#: Data-quality bits.
DQ_FLAGS = {"hot": 1, "noisy": 2, "dead": 4, "unmeasured": 8}
#: A bin is hot when its pattern exceeds the median bin by this many standard errors ...
HOT_SIGMA = 5.0
#: ... and by this share of the frame level (a fixed excess a user would care about).
HOT_MIN_FRACTION = 0.02
#: A bin is noisy when its single-frame noise exceeds the median bin's by this factor.
NOISY_FACTOR = 3.0
#: Most frames stacked per binning set (a random reservoir beyond).
MAX_FRAMES = 2000
_BATCH = 100


@dataclass
class BinningPattern:
    """The per-bin pattern of one channel x binning set.

    Attributes
    ----------
    key : str
        ``binning_key`` (``MUV_2_34_101_80_10x30``).
    channel : str
        ``FUV`` or ``MUV``.
    binning : dict
        ``SPE_OFS``, ``SPE_SIZE``, ``SPA_OFS``, ``SPA_SIZE`` (pixels), ``n_spa``, ``n_spe``.
    pattern : numpy.ndarray
        Departure of each bin from the frame level, DN, mean over bins 0.
    noise : numpy.ndarray
        Single-frame standard deviation of each bin, DN.
    dq : numpy.ndarray
        Bit flags (:data:`DQ_FLAGS`).
    n_frames : int
        Frames combined.
    int_times : list of int
        INT_TIMEs of those frames (ms).
    """

    key: str
    channel: str
    binning: dict
    pattern: np.ndarray
    noise: np.ndarray
    dq: np.ndarray
    n_frames: int
    int_times: list = field(default_factory=list)

    @property
    def pixels_per_bin(self) -> int:
        """Detector pixels summed in one bin."""
        return int(self.binning["SPE_SIZE"]) * int(self.binning["SPA_SIZE"])


def _flags(pattern: np.ndarray, noise: np.ndarray, level: np.ndarray, n_frames: int) -> np.ndarray:
    dq = np.zeros(pattern.shape, np.uint8)
    finite = np.isfinite(pattern) & np.isfinite(noise)
    dq[~finite] |= DQ_FLAGS["unmeasured"]
    if not finite.any():
        return dq
    typical = float(np.median(noise[finite]))
    centre = float(np.median(pattern[finite]))
    with np.errstate(invalid="ignore"):
        se = np.maximum(noise, typical) / np.sqrt(max(n_frames, 1))
        frame_level = float(np.nanmedian(level))
        hot = (pattern - centre > HOT_SIGMA * se) & (pattern - centre > HOT_MIN_FRACTION * abs(frame_level))
        dq[finite & hot] |= DQ_FLAGS["hot"]
        dq[finite & (noise > NOISY_FACTOR * typical)] |= DQ_FLAGS["noisy"]
        dq[finite & ((noise == 0) | (level <= 0))] |= DQ_FLAGS["dead"]
    return dq


def combine(stack: np.ndarray, sigma: float = 3.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sigma-clipped mean and standard deviation per bin of a stack of frame residuals.

    Parameters
    ----------
    stack : numpy.ndarray
        ``(n_frames, n_spa, n_spe)`` residuals ``value - median(frame)``.
    sigma : float, optional
        Clipping threshold (astropy's ``sigma_clipped_stats``).

    Returns
    -------
    mean, std, median : numpy.ndarray
        Per bin.
    """
    import warnings

    from astropy.stats import sigma_clipped_stats
    from astropy.utils.exceptions import AstropyUserWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AstropyUserWarning)  # all-NaN bins: reported as unmeasured
        warnings.simplefilter("ignore", RuntimeWarning)
        mean, median, std = sigma_clipped_stats(stack, axis=0, sigma=sigma, maxiters=5)
    return np.asarray(mean, float), np.asarray(std, float), np.asarray(median, float)


def shrink(pattern: np.ndarray, noise: np.ndarray, n_frames: int) -> np.ndarray:
    """Positive-part James-Stein shrinkage of each bin's pattern towards zero.

    A bin's pattern is a mean of ``n_frames`` residuals with standard error
    ``se = noise / sqrt(n_frames)``; ``p * max(0, 1 - se**2 / p**2)`` keeps clear structure
    (hot bins) and removes most of the noise where there is none, which would otherwise be
    copied into every predicted frame.

    Parameters
    ----------
    pattern, noise : numpy.ndarray
        Per-bin clipped mean and standard deviation.
    n_frames : int
        Frames behind them.

    Returns
    -------
    numpy.ndarray

    Examples
    --------
    >>> shrink(np.array([100.0, 1.0]), np.array([10.0, 10.0]), 100).tolist()  # se = 1
    [99.99, 0.0]
    """
    se2 = (noise**2) / max(n_frames, 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = np.clip(1.0 - se2 / pattern**2, 0.0, 1.0)
    return np.where(np.isfinite(factor), pattern * factor, 0.0)


@dataclass
class Superdark:
    """Per-bin patterns for every channel x binning set of an archive (see the module docstring).

    Attributes
    ----------
    patterns : dict of str to BinningPattern
        By binning key.
    inputs : list of str
        File names that contributed.
    """

    patterns: dict
    inputs: list = field(default_factory=list)

    def predict_frame(self, model, temperature: float, *, channel: str, int_time, binning: str,
                      family: int | None = None, level: float = 0.6826894921370859) -> dict:
        """The expected dark frame of one integration, in DN per bin.

        Parameters
        ----------
        model : DarkRateModel
            The fitted rate law.
        temperature : float
            Detector temperature (degC).
        channel : {'FUV', 'MUV'}
            Channel.
        int_time : int
            Integration time (ms).
        binning : str
            Binning key (see :attr:`patterns`).
        family : int, optional
            A family (0 = nominal); default the mixture mean.
        level : float, optional
            Coverage whose half-width is taken as one sigma of the level (default: 1 sigma).

        Returns
        -------
        dict
            ``SCI``, ``ERR`` (float, DN per bin) and ``DQ`` (uint8 bit flags).

        Raises
        ------
        KeyError
            If the binning set has no pattern.
        """
        if binning not in self.patterns:
            raise KeyError(f"no pattern for binning set {binning!r}; known: {sorted(self.patterns)}")
        pat = self.patterns[binning]
        if pat.channel != str(channel).upper():
            raise ValueError(f"binning set {binning} belongs to {pat.channel}, not {channel}")
        npix_t = pat.pixels_per_bin * float(int_time) / 1000.0
        mean = float(model.predict([temperature], channel=channel, int_time=int_time, family=family)[0]) * npix_t
        lo, hi = model.predict_interval([temperature], channel=channel, int_time=int_time, family=family, level=level)
        sigma_level = float(hi[0] - lo[0]) / 2.0 * npix_t
        centred = pat.pattern - np.nanmean(pat.pattern)
        return {"SCI": mean + centred, "ERR": np.sqrt(pat.noise**2 + sigma_level**2), "DQ": pat.dq.copy()}

    def write(self, path) -> Path:
        """Save as FITS: per binning set ``<key>_PATTERN``, ``<key>_NOISE`` and ``<key>_DQ`` images.

        Parameters
        ----------
        path : path-like
            Target ``.fits`` file (written atomically).

        Returns
        -------
        pathlib.Path
        """
        from astropy.io import fits

        from ..io.storage import atomic_write

        hdus = [fits.PrimaryHDU()]
        hdus[0].header["ORIGIN"] = "darkmodel superdark"
        for name in self.inputs[:1000]:
            hdus[0].header.add_history(f"input {name}")
        for key, pat in sorted(self.patterns.items()):
            for kind, data in (("PATTERN", pat.pattern.astype(np.float32)), ("NOISE", pat.noise.astype(np.float32)),
                               ("DQ", pat.dq.astype(np.uint8))):
                hdu = fits.ImageHDU(data, name=f"{key}_{kind}")
                hdu.header["DETECTOR"] = pat.channel
                hdu.header["BINKEY"] = pat.key
                for k, v in pat.binning.items():
                    hdu.header[k[:8].upper()] = int(v)
                hdu.header["NFRAMES"] = pat.n_frames
                hdu.header["INTTIMES"] = ",".join(str(i) for i in pat.int_times)[:68]
                hdu.header["BUNIT"] = "DN" if kind != "DQ" else ""
                hdus.append(hdu)
        path = Path(path)
        with atomic_write(path) as tmp:
            fits.HDUList(hdus).writeto(tmp, overwrite=True)
        return path

    @classmethod
    def read(cls, path) -> "Superdark":
        """Read a file written by :meth:`write`.

        Parameters
        ----------
        path : path-like

        Returns
        -------
        Superdark

        Raises
        ------
        FileNotFoundError
            If there is no such file.
        ValueError
            If the file is not a superdark written by :meth:`write` (not FITS, or FITS
            without its pattern extensions, e.g. an L1A file).
        """
        try:
            result = cls._read(path)
        except (FileNotFoundError, IsADirectoryError):
            raise
        except (OSError, KeyError, ValueError, TypeError, IndexError) as exc:
            raise ValueError(f"{path}: not a superdark written by 'darkmodel superdark' ({type(exc).__name__}: "
                             f"{str(exc).splitlines()[0] if str(exc) else 'unreadable'})") from None
        if not result.patterns:
            raise ValueError(f"{path}: not a superdark written by 'darkmodel superdark' (no pattern extension)")
        return result

    @classmethod
    def _read(cls, path) -> "Superdark":
        from astropy.io import fits

        patterns = {}
        with fits.open(path) as hdul:
            inputs = [str(h)[6:] for h in hdul[0].header.get("HISTORY", []) if str(h).startswith("input ")]
            for hdu in hdul[1:]:
                ext, kind = hdu.name.rsplit("_", 1)
                if kind != "PATTERN":
                    continue
                h = hdu.header
                key = h.get("BINKEY", ext)
                binning = {k: int(h[k[:8].upper()]) for k in ("SPE_OFS", "SPE_SIZE", "SPA_OFS", "SPA_SIZE",
                                                              "n_spa", "n_spe")}  # the keys write() used
                patterns[key] = BinningPattern(
                    key, h["DETECTOR"], binning,
                    np.asarray(hdu.data, float), np.asarray(hdul[f"{ext}_NOISE"].data, float),
                    np.asarray(hdul[f"{ext}_DQ"].data, np.uint8), int(h["NFRAMES"]),
                    [int(v) for v in str(h.get("INTTIMES", "")).split(",") if v])
        return cls(patterns, inputs)


def _key(row) -> str:
    from ..instrument import binning_key

    return binning_key(row["XUV"], row["SPE_OFS"], row["SPE_SIZE"], row["SPA_OFS"], row["SPA_SIZE"],
                       row["n_spa"], row["n_spe"])


@validate_arguments({"max_frames": [Interval("int", 1, None)], "random_state": RANDOM_STATE})
def superdark(paths, model, *, max_frames: int = MAX_FRAMES, random_state: int = 0, progress=None) -> Superdark:
    """Stream an archive's nominal dark frames into a per-bin pattern per channel x binning set.

    Parameters
    ----------
    paths : path-like or list of path-like
        Folders, globs or files of dark data.
    model : DarkRateModel
        The fitted model; frames of family 0 (the nominal state) are used.
    max_frames : int, optional
        Most frames per binning set (a uniform random reservoir beyond).
    random_state : int, optional
        Seed of the reservoir.
    progress : callable, optional
        Called with the number of files done after each batch.

    Returns
    -------
    Superdark
    """
    from ..io.scanning import find_files

    files = find_files(paths if isinstance(paths, (list, tuple)) else [paths])
    reservoir = _Reservoir(max_frames, np.random.default_rng(random_state))
    for start in range(0, len(files), _BATCH):
        batch = files[start:start + _BATCH]
        for row, int_time, pid, frame in _nominal_frames(batch, model):
            reservoir.add(_key(row), row, int_time, pid, frame)
        if progress:
            progress(len(batch))
    patterns = {key: _pattern(key, items, reservoir.seen[key], *reservoir.meta[key])
                for key, items in reservoir.stacks.items()}
    return Superdark(patterns, sorted(set(reservoir.inputs)))


def _nominal_frames(batch: list, model):
    """``(binning row, INT_TIME, product id, frame)`` of every nominal frame of some files.

    Read (unreadable files are skipped: the scan reports them), calibrated by the standard
    chain and assigned by the model; a frame is nominal when it is not excluded and belongs
    to family 0.
    """
    from ..calibration.chain import calibrate
    from ..io.read import DarkFileError, load_products, tabulate

    products = []
    for path in batch:
        try:
            products.extend(load_products(path))
        except DarkFileError:
            continue
    if not products:
        return
    calibrated = calibrate(tabulate(products), keep_excluded=True)
    labels = model.assign(calibrated).to_numpy()
    nominal = calibrated[calibrated["exclusion"].isna().to_numpy() & (labels == 0)]
    by_id = {p.product_id: p for p in products}
    for pid, k in sorted(set(zip(nominal["PRODUCT_ID"], nominal["INTEGRATION"].astype(int)))):
        p = by_id.get(pid)
        if p is None:
            continue
        frame = p.values[k]
        n_spa, n_spe = frame.shape
        c = p.columns
        row = {"XUV": c["XUV"], "SPE_OFS": c["SPE_OFS"], "SPE_SIZE": c["SPE_SIZE"], "SPA_OFS": c["SPA_OFS"],
               "SPA_SIZE": c["SPA_SIZE"], "n_spa": n_spa, "n_spe": n_spe}
        if any(v is None or (isinstance(v, float) and not np.isfinite(v)) for v in row.values()):
            continue
        yield row, int(c["INT_TIME"]), pid, frame


class _Reservoir:
    """A uniform random sample of at most ``size`` frames per binning set (reservoir sampling)."""

    def __init__(self, size: int, rng):
        self.size, self.rng = size, rng
        self.stacks: dict = {}
        self.seen: dict = {}
        self.meta: dict = {}
        self.inputs: list = []

    def add(self, key: str, row: dict, int_time: int, pid: str, frame: np.ndarray) -> None:
        level = float(np.nanmedian(frame))
        item = ((frame - level).astype(np.float32), level)
        n = self.seen.get(key, 0)
        stack = self.stacks.setdefault(key, [])
        if n < self.size:
            stack.append(item)
        else:  # keeps a uniform sample of all frames
            j = self.rng.integers(0, n + 1)
            if j < self.size:
                stack[j] = item
        self.seen[key] = n + 1
        self.meta.setdefault(key, (row, set()))[1].add(int_time)
        self.inputs.append(pid)


def _pattern(key: str, items: list, n_frames: int, row: dict, int_times: set) -> "BinningPattern":
    """One binning set's pattern from its sampled frames: combined, flagged and shrunk."""
    stack = np.stack([r for r, _ in items])
    levels = np.array([lv for _, lv in items])
    mean, std, _ = combine(stack)
    binning = {k: int(row[k]) for k in ("SPE_OFS", "SPE_SIZE", "SPA_OFS", "SPA_SIZE", "n_spa", "n_spe")}
    dq = _flags(mean, std, np.median(levels) + mean, len(stack))
    return BinningPattern(key, str(row["XUV"]), binning, shrink(mean, std, len(stack)), std, dq, int(n_frames),
                          sorted(int_times))
