r"""A realistic simulated archive of IUVS Level-1A dark files, with its ground truth.

No real L1A archive is reachable, so darkmodel ships a generator that writes files a real-
file reader cannot tell from real ones (layout, keywords, units, extension names, on-board
compression) with explicit physics.  Every binned value is

.. math::

    DN = n_{pix} \, (a\,(1 + \epsilon_{frame}) + r(T, s)\, t) + \text{read noise}
         + \text{hot bins} + \text{particle hits},

where ``n_pix`` is the number of detector pixels summed in the bin, ``a`` the per-read
offset (DN/pixel), ``t`` the integration time (s), ``epsilon_frame`` the frame common-mode
jitter of the read offset (5-8 % in short real darks, where the offset dominates) and

.. math::

    r(T, s) = r_{-18} \, 2^{(T + 18)/T_2} \, (1 + c\,s)

the dark current (DN/s/pixel) at detector temperature ``T`` (degC) in instrument state
``s`` (0 or 1), with doubling temperature ``T_2`` and state contrast ``c``.  The seed's
``DN_per_s = dark_mean / npix / t`` therefore has expectation ``a/t + r(T, s)``, which is
written to the ground truth as ``DN_per_s_true``.

Scenarios: ``stable`` (state 0 everywhere), ``flipflop`` (the channel/INT_TIME groups in
``flip_groups`` follow a two-state continuous-time Markov chain), ``changepoint`` (the
groups in ``changepoint_groups`` step permanently to state 1 at ``changepoint_time``),
``confounded`` (in ``confound_groups`` the brighter state goes with a second binning set).
"""

from __future__ import annotations

import gzip
import os
from dataclasses import dataclass
from pathlib import Path

import fitsio
import numpy as np
import pandas as pd

from ..instrument import binning_key, case_celsius_to_dn, case_dn_to_celsius, det_celsius_to_dn, det_dn_to_celsius, mcp_gain_to_volt
from ..io.storage import atomic_write, write_table
from ..validation import RANDOM_STATE, Interval, validate_arguments
from .scenarios import _NOISE_DEFAULTS, NOISE_STRUCTURES, SCENARIOS, noise_knobs  # noqa: F401 (re-exported)

__all__ = ["simulate_archive", "quantise", "dark_current", "SEGMENTS", "SCENARIOS"]

@dataclass(frozen=True)
class Segment:
    """How the darks of one orbit segment are taken (reference sections 5.5 and 5.8)."""

    int_time: int                      # ms
    weight: float                      # share of dark files
    n_int: tuple                       # possible integrations per file
    n_int_p: tuple                     # and their probabilities
    binning: dict                      # channel -> (SPE_OFS, SPE_SIZE, SPA_OFS, SPA_SIZE, n_spe, n_spa)
    bin_rows: tuple                    # (BIN_X_ROW, BIN_Y_ROW)
    cadence: int                       # ms
    orbit_phase: float                 # where in the orbit (0..1) the darks are taken


#: Orbit segments with their INT_TIME, binning sets and frame counts (2014-15 orbital darks).
SEGMENTS = {
    "periapse": Segment(4200, 0.34, (1, 2), (0.45, 0.55),
                        {"FUV": (0, 4, 89, 115, 256, 7), "MUV": (0, 4, 96, 115, 256, 7)}, (7, 8), 4800, 0.0),
    "apoapse": Segment(14400, 0.36, (2, 5, 21), (0.45, 0.25, 0.30),
                       {"FUV": (0, 4, 89, 80, 256, 10), "MUV": (2, 34, 101, 80, 30, 10)}, (15, 16), 15000, 0.5),
    "outbound": Segment(1400, 0.12, (1, 2), (0.5, 0.5),
                        {"FUV": (52, 8, 89, 115, 120, 7), "MUV": (140, 8, 96, 115, 110, 7)}, (11, 12), 1900, 0.2),
    "inbound": Segment(10200, 0.10, (1, 2), (0.5, 0.5),
                       {"FUV": (52, 4, 89, 115, 240, 7), "MUV": (2, 34, 96, 115, 30, 7)}, (7, 14), 11000, 0.8),
    "outdisk": Segment(60000, 0.08, (1, 2), (0.6, 0.4),
                       {"FUV": (0, 16, 0, 16, 64, 64), "MUV": (0, 16, 0, 16, 64, 64)}, (5, 6), 61000, 0.3),
}

_MCP_ON_GAINS = (3477, 3016, 3065, 2654)   # DN: 846.558, 734.074, 746.030, 645.746 V
_SCLK_EPOCH = pd.Timestamp("2000-01-01T12:00:00")


def quantise(values, channel: str) -> np.ndarray:
    """Apply the on-board 16-bit compression grid and the MUV even-value rule.

    Values below 8192 are kept exactly; larger values are truncated (rounded down) to a
    multiple of ``2**(floor(log2 v) - 12)``.  MUV values are then made even.

    Parameters
    ----------
    values : array_like
        Non-negative integer DN values.
    channel : {'FUV', 'MUV'}
        Detector channel.

    Returns
    -------
    numpy.ndarray
        Quantised values, int64.

    Examples
    --------
    >>> quantise([8191, 8193, 16387, 70001], "FUV").tolist()
    [8191, 8192, 16384, 70000]
    """
    v = np.clip(np.asarray(values, dtype=np.int64), 0, 67_100_672)
    step = np.ones_like(v)
    big = v >= 8192
    step[big] = 2 ** (np.floor(np.log2(v[big])).astype(np.int64) - 12)
    v = v - v % step
    if channel == "MUV":
        v = v - v % 2
    return v


def dark_current(temperature, state=0, *, rate_at_minus18: float = 0.33,
                 doubling_temperature: float = 7.5, state_contrast: float = 0.15):
    """The simulator's dark current in DN/s/pixel.

    Parameters
    ----------
    temperature : array_like
        Detector temperature (degC).
    state : array_like of int, optional
        Instrument state, 0 (nominal) or 1 (brighter by ``state_contrast``).
    rate_at_minus18 : float, optional
        Dark current at -18 degC (DN/s/pixel).
    doubling_temperature : float, optional
        Temperature rise that doubles the dark current (degC).
    state_contrast : float, optional
        Fractional excess of state 1 over state 0.

    Returns
    -------
    numpy.ndarray
        ``rate_at_minus18 * 2**((T + 18)/doubling_temperature) * (1 + state_contrast*state)``.
    """
    t = np.asarray(temperature, dtype=float)
    return rate_at_minus18 * 2.0 ** ((t + 18.0) / doubling_temperature) * (1.0 + state_contrast * np.asarray(state))


def _utc_strings(times: pd.DatetimeIndex) -> list[str]:
    return [f"{t:%Y/%j %b %d %H:%M:%S}.{t.microsecond // 10:05d}UTC" for t in times]


def _temperature_history(times: pd.DatetimeIndex, rng, *, mean: float, swing: float,
                         orbit_phase: np.ndarray, orbit_swing: float) -> np.ndarray:
    """Detector temperature (degC): slow mission drift, per-orbit excursions, small noise.

    The slow part is a smoothed random walk in days (like the -15 to -24 degC wander of
    2014-15), the fast part a sinusoid over the orbit (darks of different segments see
    different temperatures), plus 0.3 degC of orbit-to-orbit noise.
    """
    days = (times - times[0]).total_seconds().to_numpy() / 86400.0
    span = max(days.max(), 1.0)
    knots = np.arange(0.0, span + 10.0, 5.0)
    walk = np.cumsum(rng.normal(0.0, 1.0, knots.size))
    walk = (walk - walk.mean()) / (walk.std() + 1e-9)
    slow = mean + swing * np.interp(days, knots, walk)
    fast = orbit_swing * np.sin(2 * np.pi * orbit_phase)
    return slow + fast + rng.normal(0.0, 0.3, days.size)


def _bin_table(ofs: int, size: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    widths = ([ofs] if ofs else []) + [size] * n
    rest = 1024 - ofs - size * n
    if rest < 0:
        raise ValueError(f"binning offset {ofs} + {n} x {size} exceeds 1024 pixels")
    widths += [rest] if rest else []
    send = ([0] if ofs else []) + [1] * n + ([0] if rest else [])
    return np.array(widths, dtype=np.int16), np.array(send, dtype=np.int16)


def _hot_pattern(rng, channel: str, shape: tuple, fraction: float) -> np.ndarray:
    pattern = np.zeros(shape)
    n_hot = rng.binomial(shape[0] * shape[1], fraction)
    idx = rng.choice(shape[0] * shape[1], n_hot, replace=False)
    pattern.flat[idx] = rng.uniform(250.0, 4000.0 if channel == "MUV" else 1500.0, n_hot)
    return pattern


def _plan(rng, *, n_files, scenario, start, days, orbit_period_hours, channels, segments, flip_groups,
          mean_dwell_hours, changepoint_groups, changepoint_time, confound_groups, det_temp_mean, det_temp_swing,
          orbit_temp_swing, fuv_warmer_by, mcp_on_fraction) -> dict:
    """The observing plan (which file, when, channel, segment, temperature) and the state history."""
    seg_names = list(segments)
    seg_w = np.array([segments[s].weight for s in seg_names])
    seg_idx = rng.choice(len(seg_names), n_files, p=seg_w / seg_w.sum())
    chan = rng.choice(list(channels), n_files)
    period = orbit_period_hours * 3600.0
    n_orbits = max(int(days * 86400.0 / period), 1)
    orbit_idx = np.sort(rng.integers(0, n_orbits, n_files))
    phase = np.array([segments[seg_names[i]].orbit_phase for i in seg_idx])
    t0 = pd.Timestamp(start)
    offsets = (orbit_idx + phase) * period + rng.uniform(-300, 0, n_files) + (chan == "MUV") * 4.0
    order = np.argsort(offsets, kind="stable")
    seg_idx, chan, orbit_idx, phase, offsets = (a[order] for a in (seg_idx, chan, orbit_idx, phase, offsets))
    # file names carry whole seconds: give every file its own second so no name repeats
    rank = np.arange(n_files)
    seconds = np.maximum.accumulate(np.floor(offsets) - rank) + rank
    offsets = seconds + (offsets - np.floor(offsets))
    times = t0 + pd.to_timedelta(np.round(offsets, 3), unit="s")
    temp_c = _temperature_history(times, rng, mean=det_temp_mean, swing=det_temp_swing,
                                  orbit_phase=phase, orbit_swing=orbit_temp_swing)
    temp_c = temp_c + (chan == "FUV") * fuv_warmer_by
    int_times = np.array([segments[seg_names[i]].int_time for i in seg_idx])
    mcp_gain = np.where(rng.random(n_files) < mcp_on_fraction, rng.choice(_MCP_ON_GAINS, n_files), 0)

    # --- instrument state per file ------------------------------------------------------
    state = np.zeros(n_files, dtype=int)
    if scenario == "flipflop":
        for ch, it in flip_groups:
            sel = np.flatnonzero((chan == ch) & (int_times == it))
            s = int(rng.integers(0, 2))
            last = None
            for i in sel:
                if last is not None:
                    dt_h = (offsets[i] - offsets[last]) / 3600.0
                    if rng.random() < 1.0 - np.exp(-dt_h / mean_dwell_hours):
                        s = 1 - s
                state[i] = s
                last = i
    elif scenario == "changepoint":
        cp = pd.Timestamp(changepoint_time) if changepoint_time else t0 + pd.Timedelta(days=days / 2)
        groups = changepoint_groups
        in_group = np.ones(n_files, bool) if groups is None else np.isin(
            [f"{c}/{i}" for c, i in zip(chan, int_times)], [f"{c}/{i}" for c, i in groups])
        state = ((times >= cp) & in_group).astype(int)
    elif scenario == "confounded":
        for ch, it in confound_groups:  # the brighter state comes with a second binning set
            sel = (chan == ch) & (int_times == it)
            state[sel] = rng.random(int(sel.sum())) < 0.5

    frac = (offsets - offsets.min()) / max(offsets.max() - offsets.min(), 1.0)
    return {"seg_names": seg_names, "seg_idx": seg_idx, "chan": chan, "orbit_idx": orbit_idx, "times": times,
            "temp_c": temp_c, "int_times": int_times, "mcp_gain": mcp_gain, "state": state, "frac": frac}


def _drift_factor(frac, scenario: str, amplitude: float) -> np.ndarray:
    """Detector aging in the ``drift`` scenario: a smooth, saturating rise by ``amplitude``."""
    frac = np.asarray(frac, float)
    if scenario != "drift":
        return np.ones_like(frac)
    return 1.0 + amplitude * (1.0 - np.exp(-2.0 * frac)) / (1.0 - np.exp(-2.0))


@validate_arguments({"n_files": [Interval("int", 1, None)], "days": [Interval("real", 0, None, closed="neither")],
                     "random_state": RANDOM_STATE, "noise": [str, dict], "layout": [str, dict]})
def simulate_archive(
    outdir,
    *,
    n_files: int = 400,
    scenario: str = "stable",
    noise: str | dict = "additive",
    drift_amplitude: float = 0.08,
    start: str = "2014-11-01",
    days: float = 120.0,
    orbit_period_hours: float = 4.6,
    channels: tuple = ("FUV", "MUV"),
    segments: dict | None = None,
    layout: str | dict = "v02",
    read_offset: float = 1.29,
    rate_at_minus18: float = 0.33,
    doubling_temperature: float = 7.5,
    state_contrast: float = 0.15,
    flip_groups: tuple = (("MUV", 4200), ("FUV", 14400)),
    mean_dwell_hours: float = 36.0,
    changepoint_groups: tuple | None = None,
    changepoint_time: str | None = None,
    confound_groups: tuple = (("MUV", 14400),),
    det_temp_mean: float = -18.0,
    det_temp_swing: float = 3.0,
    orbit_temp_swing: float = 1.0,
    fuv_warmer_by: float = 2.7,
    frame_jitter: float | None = None,
    first_frame_excess: float = 0.02,
    read_noise: dict | None = None,
    hot_bin_fraction: float = 0.003,
    cosmic_ray_rate: float | None = None,
    mcp_on_fraction: float = 0.04,
    missing_frame_fraction: float = 0.01,
    anomaly_fraction: float = 0.002,
    missing_binning_keys_fraction: float = 0.02,
    bscale_fraction: float = 0.01,
    gzip: bool = True,
    random_state: int = 0,
) -> pd.DataFrame:
    """Write a simulated archive of IUVS L1A dark files and its ground truth.

    Files land in orbit-block folders (``orbitNNN00/``) below ``outdir``, named like real
    ones (``mvn_iuv_l1a_<segment>-orbit<NNNNN>-<ch>dark_<time>_v02_r01.fits.gz``); the
    ground truth is written to ``outdir/truth.parquet`` and the per-bin truth (each
    binning set's fixed excess in DN per bin, hot bins where it is positive; keys from
    :func:`darkmodel.instrument.binning_key`) to ``outdir/truth_bins.npz``.

    Parameters
    ----------
    outdir : path-like
        Folder to write to (created if needed).
    n_files : int, optional
        Number of dark files.
    scenario : {'stable', 'flipflop', 'changepoint', 'confounded'}, optional
        Which instrument-state history to simulate (see the module docstring).
    start : str, optional
        UTC date of the first orbit.
    days : float, optional
        Length of the simulated period.
    orbit_period_hours : float, optional
        Orbit period (4.6 h in late 2014).
    channels : tuple of str, optional
        Channels to simulate.
    segments : dict, optional
        Orbit segments to take darks in; defaults to :data:`SEGMENTS`.
    layout : {'v01', 'v02', 'v13'} or dict, optional
        File layout, or a mapping of layout to probability for a mixed archive.
    read_offset : float, optional
        Per-read offset ``a`` (DN/pixel).
    rate_at_minus18, doubling_temperature : float, optional
        Dark-current law, see :func:`dark_current`.
    state_contrast : float, optional
        How much brighter (fractionally) state 1's dark current is.
    flip_groups : tuple of (channel, INT_TIME), optional
        Groups that switch state in the ``flipflop`` scenario.
    mean_dwell_hours : float, optional
        Mean time between state switches in the ``flipflop`` scenario.
    changepoint_groups : tuple of (channel, INT_TIME), optional
        Groups that step in the ``changepoint`` scenario (default: all).
    changepoint_time : str, optional
        UTC time of the step (default: the middle of the period).
    confound_groups : tuple of (channel, INT_TIME), optional
        Groups where, in the ``confounded`` scenario, half the files (at random) use a
        second binning set (bins moved along the slit) and the brighter state: the families
        are then explained by a recorded variable, not a hidden state.
    det_temp_mean, det_temp_swing, orbit_temp_swing : float, optional
        MUV detector temperature level, slow swing and per-orbit swing (degC).
    fuv_warmer_by : float, optional
        How much warmer the FUV detector runs (degC).
    frame_jitter : float, optional
        Relative standard deviation of the frame common-mode read offset.
    first_frame_excess : float, optional
        Mean relative excess of frame 0's read offset over later frames.
    read_noise : dict, optional
        Read noise per pixel (DN) by channel; default ``{'FUV': 5.5, 'MUV': 2.5}``.
    hot_bin_fraction : float, optional
        Fraction of bins with a fixed hot-pixel excess (+250 to +4000 DN).
    cosmic_ray_rate : float, optional
        Particle hits per second of integration per frame.
    mcp_on_fraction : float, optional
        Fraction of shutter darks taken with the MCP on (much brighter; to be excluded).
    missing_frame_fraction : float, optional
        Fraction of multi-frame files with one frame lost (all BLANK; SET_TOTAL < NUMBER).
    anomaly_fraction : float, optional
        Fraction of frames that look "light-like" (several times brighter).
    missing_binning_keys_fraction : float, optional
        Fraction of files without SPA/SPE keywords (readers must use the Binning table).
    bscale_fraction : float, optional
        Fraction of files whose primary uses BZERO/BSCALE scaling.
    gzip : bool, optional
        Write ``.fits.gz`` (True) or ``.fits``.
    random_state : int, optional
        Random seed; the same seed gives the same archive.

    Returns
    -------
    pandas.DataFrame
        The ground truth, one row per integration: ``FILENAME``, ``INTEGRATION``, ``Time``,
        ``XUV``, ``INT_TIME`` (ms), ``SEGMENT``, ``MCP_VOLT``, ``DET_TEMP_C`` (the recorded
        temperature), ``state``, ``rate_true`` (dark current, DN/s/pixel, state included),
        ``DN_per_s_true`` (expected seed DN/s: ``read_offset/t + rate_true``; NaN for
        MCP-on darks), ``missing`` (frame lost), ``anomalous`` (light-like frame).

    Raises
    ------
    FileExistsError
        If ``outdir`` exists and is not empty: a simulated archive never mixes with, or
        overwrites, what a folder already holds (the CLI's ``--overwrite`` replaces an
        earlier simulated archive whole).
    """
    if scenario not in SCENARIOS:
        raise ValueError(f"scenario must be one of {SCENARIOS}, not {scenario!r}")
    outdir = Path(outdir)
    if outdir.is_dir() and any(outdir.iterdir()):
        raise FileExistsError(f"{outdir} is not empty: simulate into a new or empty folder (a simulated archive "
                              "never mixes with what a folder holds)")
    rng = np.random.default_rng(random_state)
    outdir.mkdir(parents=True, exist_ok=True)
    segments = SEGMENTS if segments is None else segments
    read_noise_by_channel = {"FUV": 5.5, "MUV": 2.5} if read_noise is None else read_noise
    layouts = {layout: 1.0} if isinstance(layout, str) else dict(layout)
    for name in layouts:
        if name not in ("v01", "v02", "v13"):
            raise ValueError(f"unknown layout {name!r}; use 'v01', 'v02' or 'v13'")

    plan = _plan(rng, n_files=n_files, scenario=scenario, start=start, days=days,
                 orbit_period_hours=orbit_period_hours, channels=channels, segments=segments,
                 flip_groups=flip_groups, mean_dwell_hours=mean_dwell_hours,
                 changepoint_groups=changepoint_groups, changepoint_time=changepoint_time,
                 confound_groups=confound_groups, det_temp_mean=det_temp_mean, det_temp_swing=det_temp_swing,
                 orbit_temp_swing=orbit_temp_swing, fuv_warmer_by=fuv_warmer_by, mcp_on_fraction=mcp_on_fraction)
    knobs = noise_knobs(noise, frame_jitter=frame_jitter, cosmic_ray_rate=cosmic_ray_rate)
    seg_names, seg_idx, chan, orbit_idx = plan["seg_names"], plan["seg_idx"], plan["chan"], plan["orbit_idx"]
    times, temp_c, state, mcp_gain = plan["times"], plan["temp_c"], plan["state"], plan["mcp_gain"]
    first_orbit = 100
    # per-file scatter: drawn only when switched on, so the default archive stays the same
    temp_error = (knobs["temperature_error"] * rng.standard_normal(n_files) if knobs["temperature_error"]
                  else np.zeros(n_files))
    gain = (1.0 + knobs["relative_scatter"] * rng.standard_normal(n_files) if knobs["relative_scatter"]
            else np.ones(n_files))
    aging = _drift_factor(plan["frac"], scenario, drift_amplitude)
    lay_names = list(layouts)
    lay_p = np.array([layouts[k] for k in lay_names], dtype=float)
    file_layout = np.array(lay_names)[rng.choice(len(lay_names), n_files, p=lay_p / lay_p.sum())]
    hot: dict = {}
    truth = []
    for i in range(n_files):
        seg_name = seg_names[seg_idx[i]]
        seg = segments[seg_name]
        ch = str(chan[i])
        binning = seg.binning[ch]
        if scenario == "confounded" and state[i]:
            binning = _shifted_binning(binning)
        spe_ofs, spe_size, spa_ofs, spa_size, n_spe, n_spa = binning
        key = (ch, binning)
        if key not in hot:
            hot[key] = _hot_pattern(np.random.default_rng([random_state, len(hot)]), ch, (n_spa, n_spe), hot_bin_fraction)
        n_int = int(rng.choice(seg.n_int, p=seg.n_int_p))
        truth.append(_write_file(
            outdir, rng, time=times[i], orbit=first_orbit + int(orbit_idx[i]), segment=seg_name, seg=seg,
            binning=binning,
            channel=ch, n_int=n_int, temp_c=temp_c[i], state=int(state[i]), mcp_gain=int(mcp_gain[i]),
            layout=str(file_layout[i]), hot=hot[key], read_offset=read_offset,
            rate_law=dict(rate_at_minus18=rate_at_minus18, doubling_temperature=doubling_temperature,
                          state_contrast=state_contrast),
            temp_error=float(temp_error[i]), gain=float(gain[i]), aging=float(aging[i]), jitter_df=knobs["jitter_df"],
            particle_size=knobs["particle_size"], temperature_rounding=bool(knobs["temperature_rounding"]),
            frame_jitter=knobs["frame_jitter"], first_frame_excess=first_frame_excess, read_noise=read_noise_by_channel[ch],
            cosmic_ray_rate=knobs["cosmic_ray_rate"], missing_frame=rng.random() < missing_frame_fraction,
            anomaly_fraction=anomaly_fraction, drop_binning_keys=rng.random() < missing_binning_keys_fraction,
            bscale=rng.random() < bscale_fraction, gzip=gzip))
    table = pd.concat(truth, ignore_index=True)
    write_table(table, outdir / "truth.parquet")
    _write_bin_truth(outdir / "truth_bins.npz", hot)
    return table



def _write_bin_truth(path: Path, hot: dict) -> None:
    """Per-bin truth: each binning set's fixed excess (DN per bin; hot bins where > 0)."""
    arrays = {}
    for (ch, (spe_ofs, spe_size, spa_ofs, spa_size, n_spe, n_spa)), pattern in hot.items():
        arrays[binning_key(ch, spe_ofs, spe_size, spa_ofs, spa_size, n_spa, n_spe)] = pattern
    with atomic_write(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)


def _records(n_rows: int, fields) -> np.ndarray:
    """A structured array from ``(name, dtype, value)`` triples; values broadcast to the rows."""
    dtype = [(name, *(kind if isinstance(kind, tuple) else (kind,))) for name, kind, _ in fields]
    rec = np.zeros(n_rows, dtype=dtype)
    for name, _, value in fields:
        rec[name] = value
    return rec


def _write_fits(fname: Path, image: np.ndarray, header, bzero: int, tables) -> None:
    """Write one L1A file with CFITSIO, gzip it if the name ends in ``.gz``, atomically.

    The primary array holds the stored integers; BLANK, BSCALE and BZERO are written
    after the data, so the stored values are exactly ``physical - BZERO``.
    """
    with atomic_write(fname) as final:
        raw = final.with_name(final.name + ".raw.fits")  # CFITSIO does not compress on write: gzip below
        try:
            with fitsio.FITS(str(raw), "rw", clobber=True) as f:
                f.write(image)
                primary = f[0]
                for name, value, comment in header:
                    primary.write_key(name, value, comment=comment)
                if bzero:
                    primary.write_key("BSCALE", 1.0)
                    primary.write_key("BZERO", float(bzero))
                for extname, rec, units in tables:
                    f.write_table(rec, extname=extname, units=units)
            if fname.suffix == ".gz":  # as the archive does; mtime 0 keeps the bytes reproducible
                final.write_bytes(gzip.compress(raw.read_bytes(), compresslevel=6, mtime=0))
            else:
                os.replace(raw, final)
        finally:
            if raw.exists():
                raw.unlink()


def _shifted_binning(binning: tuple) -> tuple:
    """The same bins moved along the slit (or the spectrum): a second, recorded binning set."""
    spe_ofs, spe_size, spa_ofs, spa_size, n_spe, n_spa = binning
    room = min(64, 1024 - spa_ofs - spa_size * n_spa)
    if room > 0:
        return (spe_ofs, spe_size, spa_ofs + room, spa_size, n_spe, n_spa)
    room = min(64, 1024 - spe_ofs - spe_size * n_spe)
    return (spe_ofs + room, spe_size, spa_ofs, spa_size, n_spe, n_spa) if room > 0 else (
        spe_ofs, spe_size, max(spa_ofs - 32, 0), spa_size, n_spe, n_spa)


def _write_file(outdir: Path, rng, *, time, orbit, segment, seg: Segment, binning: tuple, channel, n_int, temp_c, state,
                mcp_gain, layout, hot, read_offset, rate_law, frame_jitter, first_frame_excess, read_noise,
                cosmic_ray_rate, missing_frame, temp_error=0.0, gain=1.0, aging=1.0, jitter_df=None, particle_size=0.0,
                temperature_rounding=False,
                anomaly_fraction, drop_binning_keys, bscale, gzip) -> pd.DataFrame:
    spe_ofs, spe_size, spa_ofs, spa_size, n_spe, n_spa = binning
    int_ms = seg.int_time
    t_s = int_ms / 1000.0
    npix = spe_size * spa_size
    version = {"v01": "v01_r01", "v02": "v02_r01", "v13": "v13_r01"}[layout]
    stamp = f"{time:%Y%m%dT%H%M%S}"
    product_id = f"mvn_iuv_l1a_{segment}-orbit{orbit:05d}-{channel.lower()}dark_{stamp}_{version}"
    folder = outdir / f"orbit{orbit // 100:03d}00"
    folder.mkdir(exist_ok=True)
    fname = folder / (product_id + (".fits.gz" if gzip else ".fits"))

    # temperatures as telemetry DN: MUV DN even, +-1-2 DN within a file
    base_dn = det_celsius_to_dn(temp_c)
    det_dn = np.round(base_dn + rng.normal(0.0, 1.0, n_int)).astype(np.int64)
    if channel == "MUV":
        det_dn = 2 * np.round(det_dn / 2).astype(np.int64)
    case_dn = np.round(case_celsius_to_dn(5.3 + rng.normal(0.0, 0.15)) + rng.integers(-1, 2, n_int)).astype(np.int64)
    if layout == "v01":
        det_dn[:] = det_dn[0]
        case_dn[:] = case_dn[0]
    det_c = det_dn_to_celsius(det_dn)
    case_c = case_dn_to_celsius(case_dn)

    # --- the physics ------------------------------------------------------------------
    # the detector's true temperature differs from the recorded one by temp_error (and, with
    # temperature_rounding, by the telemetry's DN rounding and jitter: the rate follows temp_c)
    physical = temp_c if temperature_rounding else det_c
    rate = dark_current(physical + temp_error, state, **rate_law) * gain * aging    # DN/s/pixel
    mcp_volt = float(mcp_gain_to_volt(mcp_gain))
    signal = npix * rate * t_s                                           # dark current, DN per bin
    if mcp_gain:
        signal = signal + npix * t_s * 5.0 * 2.0 ** ((mcp_volt - 700.0) / 50.0)
    # the frame common-mode jitter is a fluctuation of the read offset (reference 5.6 a, d)
    jitter = rng.standard_normal(n_int) if jitter_df is None else rng.standard_t(jitter_df, n_int)
    offset = npix * read_offset * (1.0 + frame_jitter * jitter)
    offset[0] *= 1.0 + first_frame_excess
    level = offset + signal
    anomalous = rng.random(n_int) < anomaly_fraction
    level = np.where(anomalous, level * rng.uniform(3.0, 8.0, n_int), level)
    cube = level[:, None, None] + read_noise * np.sqrt(npix) * rng.standard_normal((n_int, n_spa, n_spe))
    cube += hot[None]
    n_hits = rng.poisson(cosmic_ray_rate * t_s, n_int)
    for k in np.flatnonzero(n_hits):
        idx = rng.integers(0, n_spa * n_spe, n_hits[k])
        cube[k].flat[idx] += rng.lognormal(np.log(1500.0), 0.8, n_hits[k])
    if particle_size:  # hits that spread over the frame: a one-sided excess of its mean
        excess = np.array([rng.exponential(particle_size, h).sum() for h in n_hits])
        cube += (excess * level)[:, None, None]
    values = quantise(np.floor(np.maximum(cube, 0.0)), channel).astype(np.int32)
    missing = np.zeros(n_int, bool)
    if missing_frame and n_int > 1:
        missing[rng.integers(1, n_int)] = True
    bzero = 1000 if bscale else 0
    stored = values - bzero
    stored[missing] = -1

    # --- header and tables ------------------------------------------------------------
    cadence = seg.cadence
    ts = time + pd.to_timedelta(np.arange(n_int) * cadence, unit="ms")
    sclk = (ts - _SCLK_EPOCH).total_seconds().to_numpy()
    start_int = int(np.floor(sclk[0]))
    start_sub = int((sclk[0] - start_int) * 65536)
    utc = _utc_strings(pd.DatetimeIndex(ts))
    mirror_dn = 16088 if segment == "periapse" else 24928
    mirror_deg = (mirror_dn - 12939) / 364.0889
    bin_x, bin_y = seg.bin_rows
    bin_tbl = f"LINEAR {bin_x},{bin_y} linear_0006"

    process = _utc_strings(pd.DatetimeIndex([time + pd.Timedelta(days=280)]))[0]
    header = [
        ("BLANK", -1, ""),
        ("FILENAME", product_id + ".fits", ""),
        ("CAPTURE", utc[0], "Start of integration SCET"),
        ("PROCESS", process, "File processing time"),
    ]
    if layout != "v13":
        header.append(("SW_VER", "917", ""))
    header += [("XUV", channel, ""), ("OBS_ID", 1 if segment == "periapse" else 8198, ""),
               ("SIMULATE", True, "written by the darkmodel simulator, not by MAVEN")]
    if layout == "v13":  # MWRFITS truncates long names to 8 characters and keeps them in '//' comments
        header += [("PROCESS_", f"{time + pd.Timedelta(days=1):%Y-%m-%d %H:%M:%S}.00", "/PROCESS_DATE"),
                   ("SCI_IMG_", 2 * n_spa * n_spe % 1024 or 1024, "/SCI_IMG_DATA_LENGTH_"),
                   ("MIR_DN", mirror_dn, "/MIRROR_DN"), ("FOV_DEG", float(np.float32(2 * mirror_deg)), ""),
                   ("LYA_CENT", 1, "/LYA_CENTROID")]
    header += [("INT_TIME", float(f"{t_s:.3f}"), "Integration time in seconds"),
               ("MCP_VOLT", float(f"{mcp_volt:.3f}"), "MCP voltage in volts"),
               ("MIR_DEG", float(f"{mirror_deg:.3f}"), "Mirror position in deg"),
               ("N_FILL", int(missing.sum()) * n_spa * n_spe, "Number of absent bins in observation"),
               ("BIN_TBL", bin_tbl, "Binning mode, rows, and table used")]
    if not drop_binning_keys:
        header += [("SPA_OFS", spa_ofs, "Spatial linear bin offset"),
                   ("SPA_SIZE", spa_size, "Number of pixels per spatial bin"),
                   ("SPE_OFS", spe_ofs, "Spectral linear bin offset"),
                   ("SPE_SIZE", spe_size, "Number of pixels per spectral bin")]

    integ = [("TIMESTAMP", ">f8", sclk, "SCLK seconds"), ("ET", ">f8", sclk + 68.18, "ET s"),
             ("UTC", "S33", utc, ""), ("MIRROR_DN", "u2", mirror_dn, "DN"),  # uint16: TZERO 32768
             ("MIRROR_DEG", ">f4", mirror_deg, "deg"), ("FOV_DEG", ">f4", 2 * mirror_deg, "deg"),
             ("LYA_CENTROID", ">i2", -1 if layout != "v13" else 1, "pixel")]
    if layout == "v02":
        integ += [("CASE_TEMP", ">i4", case_dn, "DN"), ("DET_TEMP", ">i4", det_dn, "DN")]
    elif layout == "v13":
        integ += [("DET_TEMP_C", ">f8", det_c, "degC"), ("CASE_TEMP_C", ">f8", case_c, "degC")]
    length = n_spa * n_spe
    seg_total = max(1, -(-2 * length // 1024))
    set_total = n_int - int(missing.sum())
    average = int(min(values[~missing].mean() if (~missing).any() else 0, 65535))
    I2, J, K = ">i2", ">i4", ">i8"  # FITS's I2, J, K column codes
    eng = [
        ("SCI_PKT_CKSUM", I2, int(rng.integers(0, 256))), ("SCI_ERR_FLAGS", I2, 0), ("XUV", "S3", channel),
        ("LENGTH", K, length), ("IMAGE_NUMBER", J, n_int - 1), ("AVERAGE", J, average),
        ("CHECKSUM", J, int(rng.integers(0, 65536))), ("START_TIME", K, start_int),
        ("START_TIME__SUB", J, start_sub), ("CADENCE", J, cadence), ("NUMBER", J, n_int),
        ("INT_TIME", J, int_ms), ("MIRROR_POS", J, mirror_dn), ("STEP_NUM", J, 0), ("STEP_SIZE", I2, -1),
        ("STEP_INT", I2, 255), ("BIN_SHIFT", I2, int(rng.integers(0, 4))),
        ("OBS_ID", J, 1 if segment == "periapse" else 8198), ("FUV_BAD_PIXEL_MASK", I2, 0),
        ("MUV_BAD_PIXEL_MASK", I2, 0), ("DATA_COMPRESSION", I2, 1), ("TEST_PATTERN", I2, 12),
        ("ON_CHIP_WINDOWING", I2, 0), ("BIN_TYPE", "S6", "LINEAR"), ("SCAN_MODE", "S3", "CDS"),
        ("MODE", "S7", "NOMINAL"), ("TIME_FLAG", "S6", "Synced"), ("BIN_SHIFT_DIR", I2, 1),
        ("SHUTTER_ON", J, int_ms), ("SHUTTER_OFF", J, 0), ("SHUTTER_NUM", I2, 0), ("SET_TOTAL", J, set_total),
        ("BIN_X_ROW", I2, bin_x), ("BIN_Y_ROW", I2, bin_y),
    ]
    if layout == "v01":  # v01 kept one DET_TEMP/CASE_TEMP per file, in Engineering
        eng += [("DET_TEMP", J, int(det_dn[0])), ("CASE_TEMP", J, int(case_dn[0]))]
    eng += [("MCP_GAIN", J, mcp_gain), ("SCI_SEG_TOTAL", J, seg_total),
            ("SCI_SEG_LENGTH", J, 2 * length - 1024 * (seg_total - 1)), ("SCI_SEG_NUM", J, seg_total - 1)]
    if layout == "v13":
        eng += [("PROCESS_DATE", "S22", f"{time + pd.Timedelta(days=1):%Y-%m-%d %H:%M:%S}.00"),
                ("SCI_IMG_DATA_LENGTH_", J, 2 * length % 1024 or 1024)]

    spa_w, spa_t = _bin_table(spa_ofs, spa_size, n_spa)
    spe_w, spe_t = _bin_table(spe_ofs, spe_size, n_spe)
    spa_lo = spa_ofs + spa_size * np.arange(n_spa)
    spe_lo = spe_ofs + spe_size * np.arange(n_spe)
    binning_columns = [("SPABINWIDTH", (I2, spa_w.size), spa_w), ("SPABINTRANSMIT", (I2, spa_t.size), spa_t),
               ("SPEBINWIDTH", (I2, spe_w.size), spe_w), ("SPEBINTRANSMIT", (I2, spe_t.size), spe_t),
               ("SPAPIXLO", (I2, n_spa), spa_lo), ("SPAPIXHI", (I2, n_spa), spa_lo + spa_size - 1),
               ("SPEPIXLO", (I2, n_spe), spe_lo), ("SPEPIXHI", (I2, n_spe), spe_lo + spe_size - 1),
               ("BINTABLENAME", "S11", "linear_0006")]

    dispersion = 0.08134 if channel == "FUV" else 0.16325
    lam0 = 110.0 if channel == "FUV" else 175.0
    wave = np.broadcast_to(lam0 + dispersion * (spe_lo + spe_size / 2.0), (n_spa, n_spe))
    obs = [
        ("PRODUCT_ID", f"S{len(product_id)}", product_id), ("COLLECTION_ID", "S4", "disk"),
        ("BUNDLE_ID", "S3", "raw"), ("CODE_SVN_REVISION", "S4", "1141"), ("ANC_SVN_REVISION", "S4", "1141"),
        ("PRODUCT_CREATION_DATE", "S33", process), ("OBSERVATION_TYPE", "S3", "CDS"),
        ("MISSION_PHASE", "S5", "PRIME"), ("TARGET_NAME", "S4", "MARS"), ("ORBIT_SEGMENT", I2, 0),
        ("ORBIT_NUMBER", I2, orbit), ("SOLAR_LONGITUDE", ">f4", 216.5), ("GRATING_SELECT", "S6", "LOWRES"),
        ("KEYHOLE_SELECT", "S7", "NEITHER"), ("BIN_PATTERN_INDEX", "S18", "LINEAR linear_0006"),
        ("CADENCE", ">f8", cadence / 1000.0), ("INT_TIME", ">f8", t_s), ("DUTY_CYCLE", ">f8", 1.0),
        ("CHANNEL", "S3", channel), ("WAVELENGTH", (">f8", (n_spa, n_spe)), wave),
        ("WAVELENGTH_WIDTH", (">f8", (n_spa, n_spe)), np.full((n_spa, n_spe), dispersion * spe_size)),
        ("KERNELS", "S256", "naif0011.tls maven_orb.bsp"),
    ]

    image = np.ascontiguousarray(stored if n_int > 1 else stored[0], dtype=">i4")
    _write_fits(fname, image, header, bzero, [
        ("Integration", _records(n_int, [f[:3] for f in integ]), [f[3] for f in integ]),
        ("Engineering", _records(1, eng), None),
        ("Binning", _records(1, binning_columns), None),
        ("Observation", _records(1, obs), None),
    ])

    # the expectation given what is recorded: the law at the recorded temperature (aging included)
    expected = dark_current(det_c, state, **rate_law) * aging
    dn_per_s = np.where(mcp_gain == 0, read_offset / t_s + expected, np.nan)
    return pd.DataFrame({
        "FILENAME": product_id + ".fits", "INTEGRATION": np.arange(n_int), "Time": ts.to_numpy(),
        "XUV": channel, "INT_TIME": int_ms, "SEGMENT": segment, "MCP_VOLT": float(f"{mcp_volt:.3f}"),
        "DET_TEMP_C": det_c, "state": state, "rate_true": rate, "DN_per_s_true": dn_per_s,
        "missing": missing, "anomalous": anomalous, "LAYOUT": layout,
    })


@validate_arguments({"n_files": [Interval("int", 1, None)], "days": [Interval("real", 0, None, closed="neither")],
                     "random_state": RANDOM_STATE, "noise": [str, dict]})
def simulate_table(
    *,
    n_files: int = 2000,
    scenario: str = "stable",
    noise: str | dict = "additive",
    start: str = "2014-11-01",
    days: float = 120.0,
    channels: tuple = ("FUV", "MUV"),
    segments: dict | None = None,
    read_offset: float = 1.29,
    rate_at_minus18: float = 0.33,
    doubling_temperature: float = 7.5,
    state_contrast: float = 0.15,
    flip_groups: tuple = (("MUV", 4200), ("FUV", 14400)),
    mean_dwell_hours: float = 36.0,
    changepoint_groups: tuple | None = None,
    changepoint_time: str | None = None,
    confound_groups: tuple = (("MUV", 14400),),
    drift_amplitude: float = 0.08,
    det_temp_mean: float = -18.0,
    det_temp_swing: float = 3.0,
    orbit_temp_swing: float = 1.0,
    fuv_warmer_by: float = 2.7,
    read_noise: dict | None = None,
    anomaly_fraction: float = 0.002,
    first_frame_excess: float = 0.02,
    random_state: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A calibrated table (one row per dark integration) drawn from the simulator's physics.

    The same observing plan, temperature history, state histories and noise structures as
    :func:`simulate_archive`, without writing FITS files: the frame mean of every integration
    is drawn directly (read offset with its frame jitter, dark current at the detector's true
    temperature with per-file gain scatter and aging, the read noise of the frame mean,
    one-sided particle excess, rare light-like frames).  Thousands of archives can be drawn
    in the time one archive takes to write, for studies of the statistics.

    Parameters
    ----------
    n_files : int, optional
        Number of dark files.
    scenario : {'stable', 'flipflop', 'changepoint', 'confounded', 'drift'}, optional
        State history (see the module docstring; ``drift`` ages the detector smoothly by
        ``drift_amplitude`` over the period, one state).
    noise : str or dict, optional
        A key of :data:`NOISE_STRUCTURES` or a dict of its settings.
    start, days, channels, segments : optional
        As in :func:`simulate_archive`.
    read_offset, rate_at_minus18, doubling_temperature, state_contrast : float, optional
        The physics, as in :func:`simulate_archive`.
    flip_groups, mean_dwell_hours, changepoint_groups, changepoint_time, confound_groups : optional
        The state histories, as in :func:`simulate_archive`.
    drift_amplitude : float, optional
        Fractional aging over the period in the ``drift`` scenario.
    det_temp_mean, det_temp_swing, orbit_temp_swing, fuv_warmer_by : float, optional
        The temperature history, as in :func:`simulate_archive`.
    read_noise : dict, optional
        Read noise per pixel (DN) by channel.
    anomaly_fraction : float, optional
        Share of light-like frames (3-8 times brighter).
    first_frame_excess : float, optional
        Relative excess of the read offset in a file's first frame, as in
        :func:`simulate_archive` (the writer and this table share it; a test holds them together).
    random_state : int, optional
        Random seed.

    Returns
    -------
    table : pandas.DataFrame
        Like the output of :func:`darkmodel.calibrate`: index ``Time``; ``FILENAME``,
        ``XUV``, ``INT_TIME`` (ms), ``DET_TEMP`` and ``CASE_TEMP`` (degC), ``MCP_VOLT``,
        ``SEGMENT``, ``SPE_OFS``/``SPE_SIZE``/``SPA_OFS``/``SPA_SIZE``, ``NAXIS3``,
        ``DN_per_s`` and an empty ``exclusion``.
    truth : pandas.DataFrame
        Aligned with ``table``'s rows: ``state``, ``rate_true`` (the detector's dark
        current), ``DN_per_s_true`` (the expectation given the recorded temperature:
        ``read_offset/t + r(T_recorded, state) * aging``) and ``anomalous``.
    """
    if scenario not in SCENARIOS:
        raise ValueError(f"scenario must be one of {SCENARIOS}, not {scenario!r}")
    if n_files < 1:
        raise ValueError("n_files must be at least 1")
    rng = np.random.default_rng(random_state)
    segments = SEGMENTS if segments is None else segments
    knobs = noise_knobs(noise)
    read_noise = {"FUV": 5.5, "MUV": 2.5} if read_noise is None else read_noise
    plan = _plan(rng, n_files=n_files, scenario=scenario, start=start, days=days, orbit_period_hours=4.6,
                 channels=channels, segments=segments, flip_groups=flip_groups, mean_dwell_hours=mean_dwell_hours,
                 changepoint_groups=changepoint_groups, changepoint_time=changepoint_time,
                 confound_groups=confound_groups, det_temp_mean=det_temp_mean, det_temp_swing=det_temp_swing,
                 orbit_temp_swing=orbit_temp_swing, fuv_warmer_by=fuv_warmer_by, mcp_on_fraction=0.0)
    seg_names = plan["seg_names"]
    seg_of_file = [seg_names[i] for i in plan["seg_idx"]]
    chan, state = plan["chan"], plan["state"]
    n_int = np.array([rng.choice(segments[s].n_int, p=segments[s].n_int_p) for s in seg_of_file])
    # recorded temperature: the telemetry's DN grid (0.075 degC per DN)
    recorded = det_dn_to_celsius(np.round(det_celsius_to_dn(plan["temp_c"])))
    temp_error = knobs["temperature_error"] * rng.standard_normal(n_files)
    gain = 1.0 + knobs["relative_scatter"] * rng.standard_normal(n_files)
    aging = _drift_factor(plan["frac"], scenario, drift_amplitude)
    binning = [segments[s].binning[str(c)] for s, c in zip(seg_of_file, chan)]
    binning = [_shifted_binning(b) if scenario == "confounded" and st else b for b, st in zip(binning, state)]
    case = 5.3 + 0.15 * rng.standard_normal(n_files)

    rows = np.repeat(np.arange(n_files), n_int)
    k = np.concatenate([np.arange(n) for n in n_int])
    n = len(rows)
    t_s = plan["int_times"][rows] / 1000.0
    spe = np.array([b[1] for b in binning])[rows]
    spa = np.array([b[3] for b in binning])[rows]
    n_bins = np.array([b[4] * b[5] for b in binning])[rows]
    npix = spe * spa
    law = dict(rate_at_minus18=rate_at_minus18, doubling_temperature=doubling_temperature,
               state_contrast=state_contrast)
    physical = plan["temp_c"] if knobs["temperature_rounding"] else recorded  # the rate follows the true T
    rate = dark_current(physical[rows] + temp_error[rows], state[rows], **law) * gain[rows] * aging[rows]
    jitter = rng.standard_normal(n) if knobs["jitter_df"] is None else rng.standard_t(knobs["jitter_df"], n)
    offset = read_offset * (1.0 + knobs["frame_jitter"] * jitter)
    offset = np.where(k == 0, offset * (1.0 + first_frame_excess), offset)  # as the writer's first frame
    level = offset / t_s + rate
    sigma_mean = np.array([read_noise[c] for c in chan])[rows] / np.sqrt(npix * n_bins) / t_s
    value = level + sigma_mean * rng.standard_normal(n)
    if knobs["particle_size"]:
        hits = rng.poisson(knobs["cosmic_ray_rate"] * t_s)
        excess = np.zeros(n)
        has = np.flatnonzero(hits)
        excess[has] = [rng.exponential(knobs["particle_size"], h).sum() for h in hits[has]]
        value = value + excess * level
    anomalous = rng.random(n) < anomaly_fraction
    value = np.where(anomalous, value * rng.uniform(3.0, 8.0, n), value)
    times = plan["times"][rows] + pd.to_timedelta(k * np.array([segments[s].cadence for s in seg_of_file])[rows],
                                                  unit="ms")
    names = [f"mvn_iuv_l1a_{s}-orbit{100 + o:05d}-{c.lower()}dark_{t:%Y%m%dT%H%M%S}_v02_r01.fits"
             for s, o, c, t in zip(seg_of_file, plan["orbit_idx"], chan, plan["times"])]
    table = pd.DataFrame({
        "FILENAME": np.array(names)[rows], "XUV": chan[rows], "INT_TIME": plan["int_times"][rows],
        "SEGMENT": np.array(seg_of_file)[rows], "MCP_VOLT": 0.0, "DET_TEMP": recorded[rows],
        "CASE_TEMP": case[rows], "SPE_OFS": np.array([b[0] for b in binning])[rows], "SPE_SIZE": spe,
        "SPA_OFS": np.array([b[2] for b in binning])[rows], "SPA_SIZE": spa,
        "NAXIS3": np.where(n_int[rows] > 1, n_int[rows], np.nan), "INTEGRATION": k, "DN_per_s": value,
        "exclusion": pd.array([pd.NA] * n, dtype="string"),
    }, index=pd.DatetimeIndex(times, name="Time"))
    expected = read_offset / t_s + dark_current(recorded[rows], state[rows], **law) * aging[rows]
    truth = pd.DataFrame({"state": state[rows], "rate_true": rate, "DN_per_s_true": expected,
                          "anomalous": anomalous}, index=table.index)
    return table, truth
