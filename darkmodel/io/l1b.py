"""What an IUVS Level-1B file carries about darks: the pipeline's own dark, reproduced.

The v13 IDL pipeline subtracts from each light integration a ``background_dark`` built by
one rule (reference section 5.2): per bin, a linear interpolation in time between a dark
frame of the dark product taken *before* the lights and the same frame of the product
taken *after*; light integration 0 uses dark frame 0 of each product, every later light
integration uses dark frame 1 (frames 2, 3, ... are never used).  The interpolation time
of a frame is that frame's own ``Dark_Integration`` time.

:func:`pipeline_dark` applies that rule to a file's ``detector_dark`` frames, so the
pipeline's dark can be checked against the file's own ``background_dark``
(:func:`compare_with_pipeline`) and, later, against darkmodel's own prediction.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .read import DarkFileError, open_fits

__all__ = ["pipeline_dark", "compare_with_pipeline", "interpolate_darks"]


def interpolate_darks(frames_before, frames_after, times_before, times_after, light_times) -> np.ndarray:
    """The pipeline's rule on arrays: frame 0 for light 0, frame 1 for every later light.

    Parameters
    ----------
    frames_before, frames_after : numpy.ndarray
        Dark frames of the products before and after the lights, ``(n_frames, n_spa, n_spe)``.
    times_before, times_after : array_like
        Each frame's time (any linear scale, e.g. ephemeris seconds), ``(n_frames,)``.
    light_times : array_like
        Light integrations' times on the same scale, ``(n_light,)``.

    Returns
    -------
    numpy.ndarray
        ``(n_light, n_spa, n_spe)``: ``before[j] + w (after[j] - before[j])`` with
        ``w = (t - tb[j]) / (ta[j] - tb[j])``, ``j = 0`` for the first light and 1 after.

    Examples
    --------
    >>> before, after = np.zeros((2, 1, 1)), np.full((2, 1, 1), 10.0)
    >>> interpolate_darks(before, after, [0, 1], [10, 11], [5, 6, 11])[:, 0, 0].tolist()
    [5.0, 5.0, 10.0]
    """
    before, after = np.asarray(frames_before, float), np.asarray(frames_after, float)
    tb, ta = np.asarray(times_before, float), np.asarray(times_after, float)
    t = np.asarray(light_times, float)
    j = np.where(np.arange(t.size) == 0, 0, min(1, len(before) - 1))
    span = ta[j] - tb[j]
    w = np.divide(t - tb[j], span, out=np.zeros_like(t), where=span != 0)
    return before[j] + w[:, None, None] * (after[j] - before[j])


def pipeline_dark(path) -> np.ndarray:
    """The dark the IUVS v13 pipeline subtracted from each light integration of an L1B file.

    Parameters
    ----------
    path : path-like
        A v13 Level-1B file with ``detector_dark``, ``Dark_Integration``,
        ``Dark_Observation`` and the lights' ``Integration`` table.

    Returns
    -------
    numpy.ndarray
        Shaped like the file's ``background_dark``: (light integrations, spatial bins,
        spectral bins), in DN.

    Raises
    ------
    DarkFileError
        If the file lacks what the rule needs.

    Examples
    --------
    >>> from pathlib import Path
    >>> lights = Path(__file__).parents[2] / "tests" / "data" / "real-lights"  # in a source checkout
    >>> pipeline_dark(next(lights.glob("*.fits.gz"))).shape  # 151 lights x 10 spatial x 51 spectral bins
    (151, 10, 51)
    """
    path = Path(path)
    with open_fits(path) as (fits, _):
        names = {h.get_extname().lower() for h in fits if h.get_extname()}
        missing = {"detector_dark", "dark_integration", "dark_observation", "integration"} - names
        if missing:
            raise DarkFileError(path, f"not an L1B file with dark frames: missing {sorted(missing)}")
        frames = fits["detector_dark"].read().astype(float)
        dark_times = fits["Dark_Integration"].read(columns=["ET"])["ET"].astype(float)
        n_products = fits["Dark_Observation"].get_nrows()
        light_times = fits["Integration"].read(columns=["ET"])["ET"].astype(float)
    if frames.ndim != 3 or len(frames) != len(dark_times) or n_products < 1 or len(frames) % n_products:
        raise DarkFileError(path, f"{len(frames)} dark frames do not split into {n_products} dark products")
    per = len(frames) // n_products
    products = [(dark_times[i * per:(i + 1) * per], frames[i * per:(i + 1) * per]) for i in range(n_products)]
    products.sort(key=lambda p: p[0][0])
    (tb, before), (ta, after) = products[0], products[-1]
    return interpolate_darks(before, after, tb, ta, light_times)


def _frame_stats(path: Path) -> dict:
    """What the pipeline leaves out: the scatter of the frame means it never uses (frames 2, 3, ...)."""
    with open_fits(path) as (fits, _):
        frames = fits["detector_dark"].read().astype(float)
        n_products = fits["Dark_Observation"].get_nrows()
        header = fits[0].read_header()
        light_temps = fits["Integration"].read(columns=["DET_TEMP_C"])["DET_TEMP_C"].astype(float) \
            if "DET_TEMP_C" in fits["Integration"].get_colnames() else None
    per = len(frames) // max(n_products, 1)
    spread, offsets = [], []
    for i in range(n_products):
        means = frames[i * per:(i + 1) * per].reshape(per, -1).mean(axis=1)
        later = means[1:] if per > 2 else means
        spread.append(np.std(later, ddof=1) / np.mean(later) if len(later) > 1 else np.nan)
        offsets.append(abs(means[min(1, per - 1)] / np.mean(later) - 1))
    return {"frame_scatter_pct": 100 * float(np.nanmean(spread)), "frame1_vs_mean_pct": 100 * float(np.mean(offsets)),
            "header": header, "light_temps": light_temps}


def compare_with_pipeline(path, model=None) -> dict:
    """:func:`pipeline_dark` against the file's own ``background_dark`` (and a model's rate).

    Parameters
    ----------
    path : path-like
        A v13 L1B file with lights.
    model : DarkRateModel, optional
        A fitted model: its predicted rate at each light's detector temperature against the
        pipeline's dark, both in DN/s/pixel.

    Returns
    -------
    dict
        ``file``, ``n_light``, ``max_abs_diff`` and ``mean_diff`` (DN), the share of bins
        within 1.05 DN (``within_rounding``); what the pipeline never uses: the scatter of
        the frame means after frame 1 (``frame_scatter_pct``) and how far frame 1 sits from
        their mean (``frame1_vs_mean_pct``); with a model, ``model_over_pipeline`` (median
        ratio of the model's rate to the pipeline dark's) with ``int_time_fitted``,
        ``extrapolated`` and ``model_flags`` (where the prediction leaves what the model
        was fitted on, in words; see :meth:`darkmodel.DarkRateModel.flags`), or ``model``
        (why it refused).
    """
    path = Path(path)
    ours = pipeline_dark(path)
    with open_fits(path) as (fits, _):
        theirs = fits["background_dark"].read().astype(float)
    if theirs.shape != ours.shape:
        raise DarkFileError(path, f"background_dark is {theirs.shape}, the rule gives {ours.shape}")
    diff = ours - theirs
    stats = _frame_stats(path)
    out = {"file": path.name, "n_light": int(len(ours)), "max_abs_diff": float(np.abs(diff).max()),
           "mean_diff": float(diff.mean()), "within_rounding": float(np.mean(np.abs(diff) <= 1.05)),
           "frame_scatter_pct": stats["frame_scatter_pct"], "frame1_vs_mean_pct": stats["frame1_vs_mean_pct"]}
    if model is not None:
        h = stats["header"]
        try:
            t_s = float(h["INT_TIME"])
            npix = float(h["SPE_SIZE"]) * float(h["SPA_SIZE"])
            pipeline_rate = theirs.reshape(len(theirs), -1).mean(axis=1) / npix / t_s
            temps = stats["light_temps"]
            channel, int_time = str(h["XUV"]).strip(), round(t_s * 1000)
            predicted = model.predict(temps, channel=channel, int_time=int_time)
            out["model_over_pipeline"] = float(np.median(predicted / pipeline_rate))
            flags = model.flags(temps, channel=channel, int_time=int_time)
            out["int_time_fitted"] = bool(flags["int_time_fitted"].all())
            out["extrapolated"] = bool(flags["extrapolated"].any())
            out["model_flags"] = "; ".join(dict.fromkeys(f for row in flags["flags"] for f in row.split("; ") if f))
        except (ValueError, KeyError, TypeError) as exc:
            out["model"] = f"no prediction: {str(exc)[:120]}"
    return out
