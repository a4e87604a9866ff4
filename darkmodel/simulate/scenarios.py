"""The simulator's instrument histories and scatter structures, as plain data.

Kept apart from :mod:`darkmodel.simulate.archive` (which needs numpy, pandas and fitsio) so that
the command line can offer these choices without importing them.
"""

from __future__ import annotations

__all__ = ["SCENARIOS", "NOISE_STRUCTURES", "noise_knobs"]

#: Instrument-state histories: one state; two states that alternate (``flipflop``); a step
#: in time (``changepoint``); a state tied to a binning set (``confounded``); a smooth
#: aging of the dark current (``drift``).
SCENARIOS = ("stable", "flipflop", "changepoint", "confounded", "drift")

_NOISE_DEFAULTS = {"frame_jitter": 0.05, "jitter_df": None, "relative_scatter": 0.0, "temperature_error": 0.0,
                   "cosmic_ray_rate": 0.03, "particle_size": 0.0, "temperature_rounding": False}
#: Named scatter structures (``simulate --noise``), each a set of the simulator's settings:
#: ``frame_jitter`` (relative sd of the frame's read offset: additive in DN/s), ``jitter_df``
#: (Student-t degrees of freedom of that jitter; ``None``: Gaussian), ``relative_scatter``
#: (per-file gain scatter, proportional to the level), ``temperature_error`` (sd of the
#: detector's true temperature around the recorded one, degC, per file),
#: ``cosmic_ray_rate`` (particle hits per second per frame) and ``particle_size`` (mean
#: one-sided excess of a hit as a fraction of the frame's dark rate; 0 keeps the physical
#: single-pixel hits, which barely move a frame's mean) and ``temperature_rounding`` (the
#: dark current follows the detector's true temperature, of which the telemetry records a
#: value rounded to its DN grid, 0.075 degC: a flat-topped scatter of +-0.3 % of the rate
#: that dominates at long INT_TIMEs with little read noise; off, the rate follows the
#: recorded value).  ``rounding`` and ``hits`` are the regimes where the rounding and the
#: particle hits dominate the scatter (read-offset jitter of 0.5 %).
NOISE_STRUCTURES = {
    "additive": {},
    "proportional": {"frame_jitter": 0.01, "relative_scatter": 0.01},
    "mixed": {"frame_jitter": 0.05, "relative_scatter": 0.01},
    "heavy": {"frame_jitter": 0.04, "jitter_df": 3.0, "relative_scatter": 0.003},
    "temperature": {"frame_jitter": 0.02, "temperature_error": 0.25},
    "particles": {"frame_jitter": 0.05, "cosmic_ray_rate": 0.1, "particle_size": 0.02},
    "rounding": {"frame_jitter": 0.005, "temperature_rounding": True},
    "hits": {"frame_jitter": 0.005, "cosmic_ray_rate": 0.1, "particle_size": 0.02, "temperature_rounding": True},
}


def noise_knobs(noise: str | dict | None = None, **overrides) -> dict:
    """The simulator's scatter settings for a named noise structure.

    Parameters
    ----------
    noise : str or dict, optional
        A key of :data:`NOISE_STRUCTURES` (default ``'additive'``) or a dict of settings.
    **overrides
        Settings that replace the structure's (``None`` values are ignored).

    Returns
    -------
    dict
        ``frame_jitter``, ``jitter_df``, ``relative_scatter``, ``temperature_error``,
        ``cosmic_ray_rate``, ``particle_size``, ``temperature_rounding``.

    Examples
    --------
    >>> noise_knobs("temperature")["temperature_error"]
    0.25
    """
    if noise is None:
        noise = "additive"
    if isinstance(noise, str):
        if noise not in NOISE_STRUCTURES:
            raise ValueError(f"noise must be one of {tuple(NOISE_STRUCTURES)}, not {noise!r}")
        knobs = {**_NOISE_DEFAULTS, **NOISE_STRUCTURES[noise]}
    else:
        unknown = set(noise) - set(_NOISE_DEFAULTS)
        if unknown:
            raise ValueError(f"unknown noise settings {sorted(unknown)}; known: {sorted(_NOISE_DEFAULTS)}")
        knobs = {**_NOISE_DEFAULTS, **noise}
    knobs.update({k: v for k, v in overrides.items() if v is not None})
    return knobs
