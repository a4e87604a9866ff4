"""Reference files a pipeline can read: one FITS file per channel x binning set x family.

Modelled on the HST/STIS and JWST reference-file conventions (refstis, jwst_reffiles):
``SCI``, ``ERR`` and ``DQ`` image extensions at a reference temperature, the rate law's
coefficients with their covariance as a binary table (so a reader can scale the frame to
any temperature), and header keywords ``INSTRUME``, ``DETECTOR``, ``BIN_TBL``, ``USEAFTER``,
``PEDIGREE``, ``DESCRIP``, ``REF_TEMP`` plus ``HISTORY`` cards naming the inputs and the
method.  Only standard HDU types, so IDL's ``mrdfits`` reads them, and every file passes
``astropy.io.fits`` verification.  Change points found by the flip-flop test start new
``USEAFTER`` epochs.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

__all__ = ["export_reference", "read_reference", "REFERENCE_TEMPERATURE"]

#: Temperature of the exported frames (degC).
REFERENCE_TEMPERATURE = -18.0


def _epochs(model) -> list:
    """USEAFTER dates: the start of the fitted period, then each change point the test found."""
    start = model.provenance_.get("data_start") or "2014-09-21T00:00:00"
    dates = [str(start)]
    flip = getattr(model, "flipflop_", None)
    if flip is not None and "changepoints" in flip.table:
        for r in flip.table.itertuples(index=False):
            if r.verdict == "change-point" and isinstance(r.changepoints, str) and r.changepoints:
                dates += [c.strip().replace(" ", "T")[:19] for c in r.changepoints.split(",")]
    return sorted(set(dates))


def export_reference(model, superdark, outdir, *, ref_temp: float = REFERENCE_TEMPERATURE,
                     pedigree: str = "INFLIGHT", overwrite: bool = False) -> list[Path]:
    """Write one reference file per channel x binning set x family (and USEAFTER epoch).

    Parameters
    ----------
    model : DarkRateModel
        The fitted rate law.
    superdark : Superdark
        The per-bin patterns.
    outdir : path-like
        Output folder.
    ref_temp : float, optional
        Temperature of the ``SCI`` frame (degC).
    pedigree : str, optional
        ``PEDIGREE`` keyword (``INFLIGHT``, ``SIMULATION``, ...).
    overwrite : bool, optional
        Replace the reference files of an earlier export in ``outdir`` (otherwise a folder
        that is not empty is refused).

    Returns
    -------
    list of pathlib.Path
        The written files.

    Raises
    ------
    ValueError
        If ``ref_temp`` is not a plausible temperature, ``pedigree`` is not text a FITS
        header holds, the superdark holds no pattern, or ``outdir`` holds files that are
        not reference files, or reference files of an earlier export without ``overwrite``
        (nothing is written then).

    Notes
    -----
    The files are written into a staging folder beside ``outdir`` and swapped in whole:
    a failure (a full disk, an interrupt) leaves ``outdir`` as it was, and the files of an
    earlier export in ``outdir`` are replaced, never left beside the new ones.
    """
    from ..calibration.plausibility import PREDICTION_TEMPERATURE_LIMITS
    from ..io.storage import staged_folder
    from ..validation import check_header_text, check_real

    ref_temp = check_real(ref_temp, "ref_temp", low=PREDICTION_TEMPERATURE_LIMITS[0],
                          high=PREDICTION_TEMPERATURE_LIMITS[1])
    pedigree = check_header_text(pedigree, "pedigree")
    if not superdark.patterns:
        raise ValueError("the superdark holds no pattern (no nominal dark frame was found): nothing to export")
    outdir = Path(outdir)
    if outdir.is_dir():
        foreign = sorted(p.name for p in outdir.iterdir() if not _is_reference_name(p.name))
        if foreign:
            raise ValueError(f"{outdir} holds files that are not reference files ({', '.join(foreign[:3])}"
                             f"{', ...' if len(foreign) > 3 else ''}); export into an empty or new folder")
        if not overwrite and any(outdir.iterdir()):
            raise ValueError(f"{outdir} holds the reference files of an earlier export; give another folder, or "
                             "--overwrite (overwrite=True) to replace them")
    with staged_folder(outdir) as stage:
        names = _write_all(model, superdark, stage, ref_temp, pedigree)
    return [outdir / name for name in names]


def _is_reference_name(name: str) -> bool:
    return name.startswith("iuvs_dark_") and name.endswith(".fits")


def _write_all(model, superdark, outdir: Path, ref_temp: float, pedigree: str) -> list[str]:
    """Write every reference file into ``outdir``; their names."""
    from astropy.io import fits

    written = []
    for key, pat in sorted(superdark.patterns.items()):
        for int_time in pat.int_times:
            g = model.groups_.get((pat.channel, int(int_time)))
            families = range(g.mixture.k) if g is not None and g.fitted else [0]
            for family in families:
                for useafter in _epochs(model):
                    frame = superdark.predict_frame(model, ref_temp, channel=pat.channel, int_time=int_time,
                                                    binning=key, family=family)
                    primary = fits.PrimaryHDU()
                    h = primary.header
                    h["INSTRUME"] = ("IUVS", "MAVEN Imaging Ultraviolet Spectrograph")
                    h["DETECTOR"] = (pat.channel, "channel")
                    h["FILETYPE"] = "DARK"
                    h["BIN_TBL"] = key
                    for k, v in pat.binning.items():
                        h[k[:8].upper()] = int(v)
                    h["INT_TIME"] = (int(int_time), "ms")
                    h["FAMILY"] = (int(family), "0 = nominal state")
                    h["USEAFTER"] = useafter
                    h["PEDIGREE"] = pedigree
                    h["DESCRIP"] = f"IUVS {pat.channel} dark, family {family}, from darkmodel"[:67]
                    h["REF_TEMP"] = (float(ref_temp), "degC, temperature of SCI")
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", UserWarning)  # said in the header instead
                        flags = model.flags([ref_temp], channel=pat.channel, int_time=int_time)
                    h["FITTED"] = (bool(flags["int_time_fitted"].iloc[0]), "INT_TIME was fitted (else joint law)")
                    h["EXTRAPOL"] = (bool(flags["extrapolated"].iloc[0]), "REF_TEMP outside the fitted range")
                    if flags["flags"].iloc[0]:
                        h.add_comment(f"WARNING: {flags['flags'].iloc[0]}")
                    h["BUNIT"] = "DN"
                    h.add_history("method: rate law per (XUV, INT_TIME) family x per-bin pattern (darkmodel)")
                    h.add_history(f"model fitted on {model.provenance_.get('input', 'a table')} "
                                  f"{model.provenance_.get('input_sha256', '')[:40]}")
                    for name in superdark.inputs[:2000]:
                        h.add_history(f"input {name}")
                    hdus = [primary, fits.ImageHDU(frame["SCI"].astype(np.float32), name="SCI"),
                            fits.ImageHDU(frame["ERR"].astype(np.float32), name="ERR"),
                            fits.ImageHDU(frame["DQ"].astype(np.uint8), name="DQ")]
                    hdus.append(_coefficients(model, pat.channel, int(int_time), family))
                    name = f"iuvs_dark_{key}_{int(int_time)}ms_f{family}_{useafter[:10].replace('-', '')}.fits"
                    fits.HDUList(hdus).writeto(outdir / name, overwrite=True, output_verify="exception")
                    written.append(name)
    return written


def _coefficients(model, channel: str, int_time: int, family: int):
    """The rate law of one family as a table: names, values and the covariance rows."""
    from astropy.io import fits

    g = model.groups_.get((channel, int_time))
    if g is not None and g.fitted:
        m = g.mixture
        names = [f"intercept_{k}" for k in range(m.k)] + [f"shape_{i}" for i in range(len(m.coef))]
        values = np.concatenate([m.intercepts, np.atleast_1d(m.coef)])
        cov = m.cov if m.cov is not None else np.full((len(values), len(values)), np.nan)
        offset = m.offset
    else:
        j = model.joint_[channel]
        names, values, cov, offset = ["p", "q"], np.array([j.p, j.q]), np.asarray(j.cov)[1:, 1:], j.offset
    cols = [fits.Column("NAME", "16A", array=np.array(names)), fits.Column("VALUE", "D", array=values),
            fits.Column("COVAR", f"{len(values)}D", array=np.asarray(cov, float))]
    hdu = fits.BinTableHDU.from_columns(cols, name="RATELAW")
    hdu.header["OFFSET"] = (float(offset), "DN/pixel per read")
    hdu.header["FAMILY"] = int(family)
    hdu.header["COMMENT"] = "log(DN_per_s - OFFSET/t) = intercept_FAMILY + shape . covariates(T - (-18 degC))"
    return hdu


def read_reference(path) -> dict:
    """Read a reference file back: ``SCI``, ``ERR``, ``DQ`` arrays and the header.

    Parameters
    ----------
    path : path-like

    Returns
    -------
    dict
    """
    from astropy.io import fits

    with fits.open(path) as hdul:
        hdul.verify("exception")
        return {"SCI": np.asarray(hdul["SCI"].data, float), "ERR": np.asarray(hdul["ERR"].data, float),
                "DQ": np.asarray(hdul["DQ"].data), "header": hdul[0].header.copy(),
                "ratelaw": np.asarray(hdul["RATELAW"].data)}
