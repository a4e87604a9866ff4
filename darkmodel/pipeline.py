"""The whole job as one chain: scan, calibrate, fit, flip-flop test, save, report.

Each step is the package's own public function; this module only strings them together
with one set of settings (:class:`ChainSettings`) and, given a folder, writes every output
into it.  ``darkmodel demo`` is a simulator in front of this chain.
"""

from __future__ import annotations

import contextlib
import hashlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:  # the chain's steps are imported when it runs, so the CLI starts fast
    import pandas as pd

    from .io.scanning import ScanResult
    from .model.estimator import DarkRateModel
    from .model.verdicts import FlipFlopResult

__all__ = ["ChainSettings", "ChainResult", "run_chain", "file_provenance"]


@dataclass(frozen=True)
class ChainSettings:
    """Settings of :func:`run_chain`.

    Attributes
    ----------
    fit_alpha, fit_n_boot : float, int
        Family test of the fit (:class:`~darkmodel.DarkRateModel` ``alpha`` and ``n_boot``).
    flipflop_alpha, flipflop_n_boot : float, int
        The flip-flop test's level and replicates.
    random_state : int
        Seed of the fit and the test.
    n_jobs : int
        Worker processes of the scan, the fit, the test and the report (-1: all cores).
    """

    fit_alpha: float = 0.02
    fit_n_boot: int = 99
    flipflop_alpha: float = 0.05
    flipflop_n_boot: int = 199
    random_state: int = 0
    n_jobs: int = -1


@dataclass
class ChainResult:
    """Everything :func:`run_chain` made.

    Attributes
    ----------
    scan : ScanResult
        The scan (table, errors, counts, file list).
    calibrated : pandas.DataFrame
        Every row, the excluded ones with their ``exclusion``.
    model : DarkRateModel
        The fitted model.
    flipflop : FlipFlopResult
        The verdicts.
    outputs : dict
        Output name -> path, when a folder was given.
    """

    scan: ScanResult
    calibrated: pd.DataFrame
    model: DarkRateModel
    flipflop: FlipFlopResult
    outputs: dict = field(default_factory=dict)


def file_provenance(path, key: str = "input") -> dict:
    """A file's name and SHA-256: what it was, without the folders of the machine it sat on.

    Parameters
    ----------
    path : path-like
        The file.
    key : str, optional
        Name of the entry.

    Returns
    -------
    dict
        ``{key: name, key + "_sha256": "sha256:..."}``.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return {key: Path(path).name, f"{key}_sha256": "sha256:" + digest.hexdigest()}


def _no_bar(_name: str, _total: int):
    return contextlib.nullcontext(lambda n=1: None)


def run_chain(paths, outdir=None, *, settings: ChainSettings = ChainSettings(), note: str = "",
              bar: Callable | None = None) -> ChainResult:
    """Scan dark files, calibrate, fit, test for flip-flops and (given ``outdir``) write it all.

    Parameters
    ----------
    paths : path-like or list of path-like
        Folders, globs or files of dark data.
    outdir : path-like, optional
        Where ``summary.parquet``, ``calibrated.parquet``, ``flipflop.csv``,
        ``darkrate.json`` (with the verdicts) and ``report.html`` go.
    settings : ChainSettings, optional
        The chain's settings.
    note : str, optional
        A note for the model's provenance.
    bar : callable, optional
        ``bar(name, total)`` -> a context manager yielding an ``update(n)`` callable
        (the CLI passes tqdm bars); none by default.

    Returns
    -------
    ChainResult
    """
    from .calibration.chain import calibrate
    from .flipflop.test import flipflop_test
    from .io.scanning import find_files, scan
    from .io.storage import write_table
    from .model.estimator import DarkRateModel

    bar = bar or _no_bar
    with bar("scan", len(find_files(paths if isinstance(paths, (list, tuple)) else [paths]))) as update:
        scanned = scan(paths, n_jobs=settings.n_jobs, progress=update)
    outputs, source = {}, {}
    if outdir is not None:
        outdir = Path(outdir)
        outputs["summary"] = outdir / "summary.parquet"
        scanned.write(outputs["summary"])
        source = file_provenance(outputs["summary"])
    calibrated = calibrate(scanned.table, keep_excluded=True)
    kept = calibrated[calibrated["exclusion"].isna()]
    model = DarkRateModel(alpha=settings.fit_alpha, n_boot=settings.fit_n_boot, random_state=settings.random_state,
                          n_jobs=settings.n_jobs)
    groups = kept[["XUV", "INT_TIME"]].drop_duplicates().shape[0]
    with bar("fit", groups) as update:
        model.fit(kept, progress=update, source={**source, **({"note": note} if note else {}),
                                                  "chain": asdict(settings)})
    with bar("flip-flop test", groups) as update:
        verdicts = flipflop_test(kept, model, n_boot=settings.flipflop_n_boot, alpha=settings.flipflop_alpha,
                                 random_state=settings.random_state, n_jobs=settings.n_jobs, progress=update)
    if outdir is not None:
        from .reporting.report import report

        outputs["calibrated"] = write_table(calibrated.reset_index(), outdir / "calibrated.parquet")
        outputs["verdicts"] = write_table(verdicts.to_frame(), outdir / "flipflop.csv")
        outputs["model"] = model.save(outdir / "darkrate.json", flipflop=verdicts)
        outputs["report"] = report(calibrated, model, outdir / "report.html", verdicts=verdicts,
                                   scan_errors=scanned.errors, inputs=source, n_jobs=settings.n_jobs)
    return ChainResult(scanned, calibrated, model, verdicts, outputs)
