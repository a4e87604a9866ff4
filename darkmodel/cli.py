"""The ``darkmodel`` command line: a thin layer over the Python API.

Imports are lazy: ``darkmodel --help`` and ``darkmodel scan`` load no statistics or
plotting (``benchmarks/bench_startup.py`` measures it).
"""

from __future__ import annotations

import functools
import json
import logging
import sys
import time
import warnings
from pathlib import Path

import click

from .simulate.scenarios import NOISE_STRUCTURES, SCENARIOS

log = logging.getLogger("darkmodel")


def _setup_logging(verbose: int, quiet: bool) -> None:
    level = logging.ERROR if quiet else (logging.DEBUG if verbose > 1 else logging.INFO if verbose else logging.WARNING)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    root = logging.getLogger("darkmodel")
    root.handlers[:] = [handler]
    root.setLevel(level)


def _verbosity(command):
    """``-v``/``-q`` on a subcommand too (``darkmodel scan ... -q`` as well as ``darkmodel -q scan``)."""

    @click.option("-v", "--verbose", "sub_verbose", count=True, help="More log messages (-vv for debug).")
    @click.option("-q", "--quiet", "sub_quiet", is_flag=True, help="Only errors; no progress bar.")
    @click.pass_context
    @functools.wraps(command)
    def wrapper(ctx, *args, sub_verbose=0, sub_quiet=False, **kwargs):
        obj = ctx.ensure_object(dict)
        obj["quiet"] = obj.get("quiet", False) or sub_quiet
        obj["verbose"] = obj.get("verbose", 0) + sub_verbose
        _setup_logging(obj["verbose"], obj["quiet"])
        return ctx.invoke(command, *args, **kwargs)

    return wrapper


class _Terminated(KeyboardInterrupt):
    """SIGTERM, turned into an interrupt so that it ends like Ctrl-C (one line, no partial file)."""


def _on_sigterm(signum, frame):
    raise _Terminated()


def _os_error_text(exc: OSError) -> str:
    """``<file>: <what the system said>`` for an OS error, without the errno noise."""
    if exc.filename is not None and exc.strerror:
        where = exc.filename if exc.filename2 is None else f"{exc.filename} -> {exc.filename2}"
        return f"{where}: {exc.strerror}"
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]  # CFITSIO's are several
    return "; ".join(dict.fromkeys(lines)) or type(exc).__name__


def _show_warning(message, category, filename, lineno, file=None, line=None):
    text = str(message)
    click.echo(f"warning: {text.split(': ', 1)[1] if text.startswith(('darkmodel: ', 'report: ')) else text}",
               err=True)


class _GuardedGroup(click.Group):
    """The command group, with one boundary for what the machine does to a command.

    Inside every command: a bad argument ends with one line naming it and exit status 1;
    Ctrl-C and SIGTERM (also when they land inside compiled code, :func:`~darkmodel.compiled.interrupts_as_such`)
    end with one line and exit status 130 (143 for SIGTERM); an operating-system error
    (full disk, read-only folder, a file that vanished) and a failed allocation end with
    one line naming the file and exit status 1.  Every write is atomic, so none of these
    leaves a partial file or touches an earlier output.
    """

    def invoke(self, ctx):
        import signal
        import threading

        previous = None
        if threading.current_thread() is threading.main_thread():
            previous = signal.signal(signal.SIGTERM, _on_sigterm)
        from .compiled import interrupts_as_such

        try:
            with warnings.catch_warnings(), interrupts_as_such():
                warnings.simplefilter("default")  # shown, once each, whatever the caller's filters
                warnings.showwarning = _show_warning  # one line each, not the source line of the warning
                return super().invoke(ctx)
        except click.UsageError as exc:  # one line, exit 1, like every other refusal
            hint = f" (see '{exc.ctx.command_path} -h')" if exc.ctx is not None else ""
            raise click.ClickException(exc.format_message() + hint) from None
        except _Terminated:
            click.echo("terminated (SIGTERM): stopped; no output written or replaced", err=True)
            raise click.exceptions.Exit(143) from None
        except KeyboardInterrupt:
            click.echo("interrupted: stopped; no output written or replaced", err=True)
            raise click.exceptions.Exit(130) from None
        except MemoryError:
            raise click.ClickException("out of memory: give the command less input at a time (fewer files, "
                                       "a smaller --max-file-size) or run it on a larger machine") from None
        except OSError as exc:
            raise click.ClickException(_os_error_text(exc)) from None
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)


@click.group(cls=_GuardedGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="darkmodel", prog_name="darkmodel")
@click.option("-v", "--verbose", count=True, help="More log messages (-vv for debug).")
@click.option("-q", "--quiet", is_flag=True, help="Only errors; no progress bar.")
@click.pass_context
def main(ctx: click.Context, verbose: int, quiet: bool) -> None:
    """Model the dark rate of the MAVEN IUVS detectors.

    \b
    A typical session:
      darkmodel scan /data/iuvs/l1a -o summary.parquet
      darkmodel calibrate summary.parquet -o calibrated.parquet
      darkmodel fit calibrated.parquet -o darkrate.json
      darkmodel flipflop calibrated.parquet --model darkrate.json -o flipflop.csv
      darkmodel report calibrated.parquet --model darkrate.json -o report.html
      darkmodel predict darkrate.json --channel MUV --int-time 4200 --temp -18
    """
    ctx.ensure_object(dict)
    ctx.obj["quiet"] = quiet
    ctx.obj["verbose"] = verbose
    _setup_logging(verbose, quiet)


def _quiet() -> bool:
    return click.get_current_context().find_root().obj.get("quiet", False)


def _say(text: str = "") -> None:
    """Print a line of a command's report on stdout, unless ``-q`` asked for errors only."""
    if not _quiet():
        click.echo(text)


def _refuse_to_overwrite(folder: Path, overwrite: bool, marker: str, what: str) -> bool:
    """Refuse a non-empty ``folder`` unless ``--overwrite``, and even then unless it holds ``marker``.

    Returns whether an earlier output is there to be replaced.
    """
    if not folder.is_dir() or not any(folder.iterdir()):
        return False
    if not overwrite:
        raise _fail(f"{folder} is not empty; give another folder, or --overwrite to replace the {what} in it")
    if not (folder / marker).exists():
        raise _fail(f"{folder} holds no {what} ({marker} is missing): it is not replaced even with --overwrite; "
                    "give another folder")
    return True


class _GroupProgress:
    """Progress of a fit or a flip-flop test: groups done, and the largest group's replicates.

    Called with 1 as a group finishes (the bar's count); :meth:`replicates` is called as
    each bootstrap replicate of the largest group is done in this process, which is most
    of the run, so the bar moves while it runs.
    """

    def __init__(self, bar):
        self.bar = bar
        self.n_replicates = 0

    def __call__(self, n: int = 1) -> None:
        self.bar.update(n)

    def replicates(self, n: int = 1) -> None:
        self.n_replicates += n
        if self.n_replicates % 4 == 0:
            self.bar.set_postfix_str(f"{self.n_replicates} replicates of the largest group", refresh=True)


def _bar(total: int, desc: str, unit: str):
    """A tqdm bar on stderr, silent under ``--quiet`` and when stderr is not a terminal."""
    from tqdm import tqdm

    return tqdm(total=total, unit=unit, desc=desc, disable=_quiet() or not sys.stderr.isatty(),
                file=sys.stderr, leave=False)


def _chain_bar(name: str, total: int):
    """A progress bar for :func:`darkmodel.pipeline.run_chain`: yields its ``update``."""
    import contextlib

    @contextlib.contextmanager
    def bar():
        with _bar(total, name, "file" if name == "scan" else "group") as b:
            yield b.update

    return bar()


def _fail(exc_or_text) -> click.ClickException:
    if isinstance(exc_or_text, OSError):
        return click.ClickException(_os_error_text(exc_or_text))
    return click.ClickException(str(exc_or_text))


TABLE_SUFFIXES = (".parquet", ".pq", ".h5", ".hdf5", ".hdf", ".csv")


def _output(path: Path, suffixes=None, inputs=(), name: str = "output") -> Path:
    """Refuse, before any work, an output that cannot be written (see :mod:`darkmodel.validation`)."""
    from .io.outputs import check_output

    try:
        return check_output(path, suffixes=suffixes, inputs=inputs, name=name)
    except (ValueError, OSError) as exc:
        raise _fail(exc) from None


def _output_folder(path: Path, inputs=(), name: str = "output folder") -> Path:
    from .io.outputs import check_output_folder

    try:
        return check_output_folder(path, inputs=inputs, name=name)
    except (ValueError, OSError) as exc:
        raise _fail(exc) from None


def _workers_option(ctx, param, value):
    """``--workers``/``--jobs``: -1 or nothing for all cores, else a positive count (capped at the cores)."""
    from .parallel import n_workers

    if value is None:  # the command line's default: every core (the Python API's None is one process)
        return -1
    try:
        n_workers(value)
    except ValueError:
        raise click.BadParameter(f"{value} is not a count of workers: use -1 (all cores) or 1 or more") from None
    return value


def _header_text(value, param):
    from .validation import check_header_text

    try:
        return check_header_text(value, param.opts[0])
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _finite(low=None, high=None, inclusive="both"):
    """A click callback: a finite number in an interval (:func:`darkmodel.validation.check_real`)."""

    def callback(ctx, param, value):
        from .validation import check_real

        if value is None:
            return None
        try:
            return check_real(value, param.opts[0], low=low, high=high, inclusive=inclusive)
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from None

    return callback


@main.command()
@click.argument("outdir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--n-files", type=click.IntRange(min=1), default=400, show_default=True, help="Number of dark files.")
@click.option("--scenario", type=click.Choice(SCENARIOS), default="stable", show_default=True,
              help="Instrument-state history.")
@click.option("--days", default=120.0, show_default=True, callback=_finite(0, None, "neither"),
              help="Length of the simulated period.")
@click.option("--state-contrast", default=0.15, show_default=True, callback=_finite(0, 10),
              help="Fractional excess of the second state's dark current.")
@click.option("--layout", type=click.Choice(["v01", "v02", "v13"]), default="v02", show_default=True,
              help="L1A file layout.")
@click.option("--noise", type=click.Choice(list(NOISE_STRUCTURES)), default="additive", show_default=True,
              help="Scatter structure: additive read-offset jitter, proportional (per-file gain), mixed, heavy "
                   "(Student-t jitter), temperature (detector vs recorded temperature), particles (one-sided).")
@click.option("--random-state", "--seed", "seed", default=0, show_default=True,
              help="Random seed (random_state in the Python API).")
@click.option("--overwrite", is_flag=True, help="Replace an earlier simulated archive in OUTDIR (swapped in whole).")
@_verbosity
def simulate(outdir: Path, n_files: int, scenario: str, days: float, state_contrast: float, layout: str,
             noise: str, seed: int, overwrite: bool) -> None:
    """Write a simulated archive of L1A dark files (and truth.parquet) to OUTDIR.

    \b
    Example:
      darkmodel simulate archive/ --n-files 600 --scenario flipflop --noise mixed
    """
    from .io.storage import staged_folder
    from .simulate.archive import simulate_archive

    _output_folder(outdir)
    _refuse_to_overwrite(outdir, overwrite, "truth.parquet", "simulated archive")
    with staged_folder(outdir) as stage:  # a failed run leaves an earlier archive as it was
        truth = simulate_archive(stage, n_files=n_files, scenario=scenario, days=days,
                                 state_contrast=state_contrast, layout=layout, noise=noise, random_state=seed)
    _say(f"wrote {n_files} dark files ({len(truth)} integrations) to {outdir}; "
               f"ground truth in {outdir / 'truth.parquet'}")


def _run_scan(paths, *, per="integration", workers=None, scheduler=None, batch_size=None, previous=None):
    from .io.scanning import find_files, scan

    n_files = len(find_files(paths))
    if n_files == 0:
        raise _fail(f"no FITS file (.fits, .fits.gz) found in {', '.join(map(str, paths))}: nothing scanned or written")
    with _bar(n_files, "scan", "file") as bar:
        return scan(paths, per=per, n_jobs=workers, scheduler=scheduler, batch_size=batch_size,
                    previous=previous, progress=bar.update)


@main.command("scan")
@click.argument("paths", nargs=-1, required=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Summary file: .parquet (default format), .h5 (HDF5, key 'df') or .csv.")
@click.option("--per", type=click.Choice(["integration", "file"]), default="integration", show_default=True,
              help="One row per dark integration, or per file in the seed notebook's format.")
@click.option("--n-jobs", "--workers", "workers", type=int, default=None, callback=_workers_option,
              help="Worker processes (default or -1: all cores, more are capped at the cores; 1 = in-process).")
@click.option("--scheduler", envvar="DASK_SCHEDULER_ADDRESS", default=None,
              help="Run on an existing Dask cluster at this address (env DASK_SCHEDULER_ADDRESS).")
@click.option("--batch-size", type=click.IntRange(min=1), default=None, help="Files per task.")
@click.option("--update", is_flag=True, help="Read only new or changed files; keep the rest of OUTPUT, drop "
                                             "the rows of files that are gone.")
@click.option("--max-file-size", type=float, default=None, callback=_finite(0, 2.0**40, "right"),
              help="Largest uncompressed file to read, MiB (default 256); a gzip file is inflated as a "
                   "stream and stopped there.")
@_verbosity
def scan_command(paths, output: Path, per: str, workers, scheduler, batch_size, update: bool,
                 max_file_size) -> None:
    """Scan dark files (folders, globs or files) in PATHS into a summary table.

    \b
    Examples:
      darkmodel scan /data/iuvs/l1a -o summary.parquet
      darkmodel scan '/data/iuvs/l1a/orbit*/*muvdark*.fits.gz' -o muv.parquet --workers 4
      darkmodel scan /data/iuvs/l1a -o summary.parquet --update
    """
    from .io.scanning import ScanResult
    from .io.storage import OutputLockedError, output_lock
    from .validation import check_scheduler

    if update and per != "integration":
        raise click.UsageError("--update works on per-integration summaries")
    _output(output, TABLE_SUFFIXES, inputs=[p for p in paths if Path(p).is_file()], name="summary")
    try:
        check_scheduler(scheduler)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--scheduler") from None
    if max_file_size is not None:  # the workers inherit it
        import os

        os.environ["DARKMODEL_MAX_FILE_SIZE"] = str(int(max_file_size * 2**20))
    start = time.perf_counter()
    try:
        with output_lock(output):
            previous = ScanResult.read(output) if update and output.exists() else None
            result = _run_scan(paths, per=per, workers=workers, scheduler=scheduler, batch_size=batch_size,
                               previous=previous)
            err_file = result.write(output)
    except (FileNotFoundError, ValueError, OutputLockedError, ConnectionError, ImportError) as exc:
        raise _fail(exc) from None
    if not _quiet():
        where = f"on the Dask cluster at {scheduler}" if scheduler else "here"
        click.echo(f"{result.message()} in {time.perf_counter() - start:.1f} s ({where}) -> {output}")
        if len(result.errors):
            click.echo(f"unreadable files and their reasons -> {err_file}")


def _read_input(path: Path):
    from .io.storage import read_table

    try:
        return read_table(path)
    except (FileNotFoundError, ValueError, ImportError, OSError) as exc:
        raise _fail(exc) from None


def _recorded_scan_errors(path: Path):
    """The unreadable files a scan recorded for a table: inside it (Parquet), else beside it."""
    import pandas as pd

    from .io.storage import errors_path, read_metadata, read_table

    try:
        meta = read_metadata(path)
        if meta.get("errors") is not None:
            return pd.DataFrame(meta["errors"])
        beside = errors_path(path)
        return read_table(beside) if beside.exists() else None
    except (OSError, ValueError, KeyError):
        return None


def _scan_errors_metadata(path: Path) -> dict | None:
    errors = _recorded_scan_errors(path)
    return None if errors is None else {"errors": errors.astype(str).to_dict("list")}


def _calibrated_input(path: Path, keep_excluded: bool = False):
    """A table IN: calibrated already, or a scan summary calibrated here."""
    from .calibration.chain import calibrate
    from .io.tables import calibrated_table

    table = _read_input(path)
    try:
        if "DN_per_s" not in table.columns:
            return calibrate(table, keep_excluded=keep_excluded)
        table = calibrated_table(table, "darkmodel")
    except KeyError as exc:
        raise _fail(f"{path}: {exc.args[0]}") from None
    except ValueError as exc:
        raise _fail(f"{path}: {exc}") from None
    return table.set_index("Time") if "Time" in table.columns else table


def _load_model(path: Path):
    from .model.estimator import DarkRateModel, ModelFileError

    try:
        return DarkRateModel.load(path)
    except ModelFileError as exc:
        raise _fail(exc) from None


def _input_provenance(path: Path, key: str = "input") -> dict:
    """A file's name and hash: what it was, without the user's folders."""
    from .pipeline import file_provenance

    return file_provenance(path, key)


@main.command("calibrate")
@click.argument("input_path", metavar="IN", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Calibrated table (.parquet, .h5 or .csv).")
@click.option("--keep-excluded", is_flag=True, help="Keep excluded rows, with the reason in 'exclusion'.")
@click.option("--single-images", is_flag=True, help="Only single-image files (NAXIS3 missing), as the seed did.")
@_verbosity
def calibrate_command(input_path: Path, output: Path, keep_excluded: bool, single_images: bool) -> None:
    """Run the standard calibration chain on a summary table IN (scan output or the seed's HDF5).

    \b
    Example:
      darkmodel calibrate summary.parquet -o calibrated.parquet --keep-excluded
    """
    from .calibration.chain import calibrate
    from .io.storage import write_table

    _output(output, TABLE_SUFFIXES, inputs=[input_path], name="calibrated table")
    table = _read_input(input_path)
    try:
        result = calibrate(table, keep_excluded=True, single_images=single_images)
    except KeyError as exc:
        raise _fail(f"{input_path}: {exc.args[0]}") from None
    reasons = result["exclusion"].value_counts()
    if not keep_excluded:
        result = result[result["exclusion"].isna()]
    write_table(result.reset_index(), output, metadata=_scan_errors_metadata(input_path))
    _say(f"{len(result)} rows -> {output}")
    for reason, count in reasons.items():
        _say(f"  excluded {count:>6} rows: {reason}")


@main.command("fit")
@click.argument("input_path", metavar="IN", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Model file (JSON).")
@click.option("--method", type=click.Choice(["mixreg", "gmm"]), default="mixreg", show_default=True,
              help="Family finder: mixture of regressions, or the Gaussian-mixture baseline.")
@click.option("--k-max", type=click.IntRange(1, 10), default=3, show_default=True, help="Most families per group.")
@click.option("--alpha", default=0.02, show_default=True, callback=_finite(0, 1, "neither"),
              help="Significance level of the test for one more family.")
@click.option("--n-boot", type=click.IntRange(min=1), default=99, show_default=True,
              help="Most bootstrap replicates per test.")
@click.option("--min-separation", default=2.5, show_default=True, callback=_finite(0, 100, "right"),
              help="Smallest gap between families, in within-family standard deviations.")
@click.option("--random-state", "--seed", "seed", default=0, show_default=True,
              help="Random seed (random_state in the Python API).")
@click.option("--n-jobs", "--jobs", "jobs", type=int, default=-1, show_default=True, callback=_workers_option,
              help="Worker processes (-1: all cores; more are capped at the cores).")
@_verbosity
def fit_command(input_path: Path, output: Path, method: str, k_max: int, alpha: float, n_boot: int,
                min_separation: float, seed: int, jobs: int) -> None:
    """Fit dark-rate families to a table IN (calibrated, or a scan table: calibrated first).

    \b
    Example:
      darkmodel fit calibrated.parquet -o darkrate.json --n-boot 199 --alpha 0.01
    """
    from .model.estimator import DarkRateModel
    from .stats.bootstrap import check_monte_carlo

    _output(output, (".json",), inputs=[input_path], name="model file")
    try:
        check_monte_carlo(n_boot, alpha)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--n-boot") from None
    table = _calibrated_input(input_path)
    model = DarkRateModel(method=method, k_max=k_max, alpha=alpha, n_boot=n_boot, min_separation=min_separation,
                          random_state=seed, n_jobs=jobs)
    n_groups = table[["XUV", "INT_TIME"]].drop_duplicates().shape[0] if {"XUV", "INT_TIME"} <= set(table) else 0
    try:
        with _bar(n_groups, "fit", "group") as bar:
            model.fit(table, progress=_GroupProgress(bar), source=_input_provenance(input_path))
    except KeyError as exc:
        raise _fail(f"{input_path}: {exc.args[0]}") from None
    except ValueError as exc:
        raise _fail(f"{input_path}: {exc}") from None
    model.save(output)
    n_in, n_used = model.provenance_.get("n_rows_input"), model.provenance_.get("n_rows_used")
    if n_in is not None and n_used is not None and n_used < n_in and not _quiet():
        click.echo(f"note: {n_in - n_used} of {n_in} rows not used (excluded by the calibration, duplicated, or "
                   "without a finite temperature and a positive rate)", err=True)
    if not _quiet():
        _echo_groups(model)
    _say(f"model -> {output}")
    if not any(g.fitted for g in model.groups_.values()) and not any(j.identified for j in model.joint_.values()):
        click.echo("warning: the data identify no group and no joint model (see the reasons above): this model "
                   "will refuse every prediction", err=True)


def _echo_groups(model) -> None:
    """The groups and the joint model as tables; an estimate the data do not identify says so in words."""
    import pandas as pd

    from .stats.identification import IDENTIFIED, floor_label
    from .stats.noise import SCALE_FLOOR

    groups = model.groups
    cols = ["XUV", "INT_TIME", "n_files", "n_families", "noise_relative", "doubling_temperature", "reason"]
    shown = groups[[c for c in cols if c in groups.columns]].copy()
    if "doubling_status" in groups:
        shown["noise_relative"] = [floor_label(v, SCALE_FLOOR, note=" (floor)") if v == v else ""
                                   for v in groups["noise_relative"]]
        shown["doubling_temperature"] = [f"{v:.3g} degC" if s == IDENTIFIED else ("" if s != s else "not identified")
                                         for v, s in zip(groups["doubling_temperature"], groups["doubling_status"])]
    click.echo(shown.to_string(index=False, float_format=lambda v: f"{v:.3g}", max_colwidth=90))
    joint = model.joint
    text = pd.DataFrame({"XUV": joint["XUV"]})
    text["offset (DN/pixel per read)"] = [f"{o:.3g} +- {e:.2g}" if s == IDENTIFIED else "not identified"
                                          for o, e, s in zip(joint["offset"], joint["offset_err"],
                                                             joint["offset_status"])]
    text["doubling temperature"] = [f"{v:.3g} degC" if s == IDENTIFIED else "not identified"
                                    for v, s in zip(joint["doubling_temperature"], joint["doubling_status"])]
    text["int_time_spread_explained"] = joint["int_time_spread_explained"]
    click.echo(text.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    for r in joint.itertuples(index=False):
        for what, status in (("offset", r.offset_status), ("doubling temperature", r.doubling_status)):
            if status != IDENTIFIED:
                click.echo(f"  {r.XUV} joint {what}: {status}")
    for r in groups.itertuples(index=False):
        status = getattr(r, "doubling_status", IDENTIFIED)
        if isinstance(status, str) and status != IDENTIFIED:
            click.echo(f"  {r.XUV} {r.INT_TIME} ms doubling temperature: {status}")


class _Channel(click.Choice):
    """FUV or MUV, typed in any case, shown as users type them."""

    def __init__(self):
        super().__init__(["FUV", "MUV"], case_sensitive=False)

    def convert(self, value, param, ctx):
        return super().convert(value, param, ctx).upper()


@main.command("predict")
@click.argument("model_path", metavar="MODEL", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--channel", type=_Channel(), required=True, help="Detector channel.")
@click.option("--int-time", type=int, required=True, help="Integration time (ms).")
@click.option("--temp", "temps", type=float, multiple=True, required=True, help="Detector temperature (degC); repeat.")
@click.option("--family", type=int, default=None, help="One family (0 = lowest); default: the mixture.")
@click.option("--time", "times", multiple=True,
              help="When (UTC, e.g. 2015-03-01T12:00); repeat: one for all --temp, one per --temp, or several for "
                   "one --temp. Default: the period-wide answer for a group whose level moves in time.")
@click.option("--level", default=0.95, show_default=True, help="Prediction-interval coverage.")
@click.option("--json", "as_json", is_flag=True, help="JSON instead of CSV.")
@_verbosity
def predict_command(model_path: Path, channel: str, int_time: int, temps, family, times, level: float,
                    as_json: bool) -> None:
    """Expected dark rate (DN/s/pixel) with a prediction interval, from a saved MODEL.

    Every row carries flags where the prediction leaves what the model was fitted on (a
    temperature outside the fitted range, an INT_TIME never fitted, a time outside the
    fitted period), in columns and in words, and says whether it is the level at the given
    time or a period-wide answer.

    \b
    Example:
      darkmodel predict darkrate.json --channel MUV --int-time 4200 --temp -20 --temp -15
      darkmodel predict darkrate.json --channel MUV --int-time 4200 --temp -18 --time 2015-02-01
    """
    import numpy as np
    import pandas as pd

    from .model.estimator import ExtrapolationWarning, UnfittedIntTimeWarning

    model = _load_model(model_path)
    when = None
    if times:
        if len(temps) == 1 and len(times) > 1:  # one temperature at several times
            temps = temps * len(times)
        if len(times) not in (1, len(temps)):
            raise _fail(f"--time given {len(times)} times for {len(temps)} temperatures: give one, one per --temp, "
                        "or several for one --temp")
        try:
            when = pd.to_datetime(list(times), utc=True).tz_convert(None)
        except (ValueError, TypeError) as exc:
            raise _fail(f"--time: not a date and time ({exc})") from None
        when = when if len(when) == len(temps) else when.repeat(len(temps))
    try:
        with warnings.catch_warnings():
            # reported in the flag columns (and once on stderr)
            warnings.simplefilter("ignore", UnfittedIntTimeWarning)
            warnings.simplefilter("ignore", ExtrapolationWarning)
            mean = model.predict(temps, channel=channel, int_time=int_time, family=family, time=when)
            lower, upper = model.predict_interval(temps, channel=channel, int_time=int_time, level=level,
                                                  family=family, time=when)
            flags = model.flags(temps, channel=channel, int_time=int_time, time=when)
    except ValueError as exc:
        raise _fail(exc) from None
    basis = model.time_basis(channel, int_time, when)
    for text in dict.fromkeys(f for row in flags["flags"] for f in row.split("; ") if f):
        click.echo(f"warning: {text}", err=True)
    if basis.startswith("period-wide"):
        click.echo(f"note: {basis}", err=True)
    table = pd.DataFrame({"XUV": channel, "INT_TIME": int_time, "DET_TEMP": np.asarray(temps, float),
                          "Time": "" if when is None else [t.isoformat() for t in when],
                          "family": "mixture" if family is None else family,
                          "DN_per_s": _carried(mean, lower, upper), "lower": _carried(lower, lower, upper),
                          "upper": _carried(upper, lower, upper),
                          "level": level, "time_basis": basis.split(":")[0],
                          "source": model.prediction_source(channel, int_time), **flags})
    if as_json:
        click.echo(json.dumps(table.to_dict(orient="records"), indent=1))
    else:
        click.echo(table.to_csv(index=False), nl=False)


def _carried(values, lower, upper):
    """Values rounded to the digits the interval carries: two significant digits of its half-width.

    ``0.66704`` with the interval ``[0.6202, 0.7138]`` is ``0.667``; no row gets fewer than
    three significant digits of its own.
    """
    import numpy as np

    values = np.asarray(values, float)
    half = np.abs(np.asarray(upper, float) - np.asarray(lower, float)) / 2.0
    with np.errstate(divide="ignore", invalid="ignore"):
        by_width = 1 - np.floor(np.log10(np.where(half > 0, half, np.nan)))
        own = 2 - np.floor(np.log10(np.where(np.abs(values) > 0, np.abs(values), np.nan)))
    decimals = np.nan_to_num(np.fmax(by_width, own), nan=6).clip(0, 12).astype(int)
    return [float(np.round(v, d)) for v, d in zip(values, decimals)]


def _echo_verdicts(result) -> None:
    import numpy as np

    from .model.verdicts import answer_sentences

    for sentence in answer_sentences(result).values():
        click.echo(sentence)
    click.echo("")
    shown = result[["XUV", "INT_TIME", "n_files", "verdict", "p_families", "p_memory", "p_drift", "n_switches",
                    "dwell_hours_median", "effect_ratio", "effect_ci_low", "effect_ci_high", "confounded_by"]].copy()
    shown["effect (95% CI)"] = [
        "" if not np.isfinite(r) else f"{r:.3f} [{lo:.3f}, {hi:.3f}]"
        for r, lo, hi in zip(shown.pop("effect_ratio"), shown.pop("effect_ci_low"), shown.pop("effect_ci_high"))]
    click.echo(shown.to_string(index=False, na_rep="", float_format=lambda v: f"{v:.3g}"))
    click.echo("\nwhy:")
    for r in result.itertuples():
        click.echo(f"  {r.XUV} {r.INT_TIME} ms: {r.verdict}: {r.reason}")


def _run_flipflop(table, model, **settings):
    from .flipflop.test import flipflop_test
    from .stats.perfile import usable_rows

    rows = usable_rows(table)
    with _bar(rows[["XUV", "INT_TIME"]].drop_duplicates().shape[0], "flip-flop test", "group") as bar:
        return flipflop_test(table, model=model, progress=_GroupProgress(bar), **settings)


@main.command("flipflop")
@click.argument("input_path", metavar="IN", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=Path("flipflop.csv"),
              show_default=True, help="Verdict table (.csv, .parquet or .h5).")
@click.option("--model", "model_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="A saved model: its offsets are used and the verdicts are stored in it.")
@click.option("--n-boot", type=click.IntRange(min=1), default=199, show_default=True,
              help="Bootstrap replicates per test.")
@click.option("--alpha", default=0.05, show_default=True, callback=_finite(0, 1, "neither"), help="Significance level.")
@click.option("--random-state", "--seed", "seed", default=0, show_default=True,
              help="Random seed (random_state in the Python API).")
@click.option("--n-jobs", "--jobs", "jobs", type=int, default=None, callback=_workers_option,
              help="Worker processes (default or -1: all cores; more are capped at the cores).")
@_verbosity
def flipflop_command(input_path: Path, output: Path, model_path, n_boot: int, alpha: float, seed: int, jobs) -> None:
    """Does the instrument flip-flop between states? Calibrated verdicts per channel and INT_TIME.

    \b
    Example:
      darkmodel flipflop calibrated.parquet --model darkrate.json -o flipflop.csv --n-boot 399
    """
    from .io.storage import FileChangedError, file_stamp, replaceable_mode, write_table
    from .model.fingerprint import data_fingerprint, other_data
    from .stats.bootstrap import check_monte_carlo

    _output(output, TABLE_SUFFIXES, inputs=[input_path, model_path], name="verdict table")
    try:
        check_monte_carlo(n_boot, alpha)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--n-boot") from None
    table = _calibrated_input(input_path)
    model = stamp = None
    if model_path is not None:
        if not model_path.exists():
            raise _fail(f"{model_path}: no such model file")
        stamp = file_stamp(model_path)
        model = _load_model(model_path)
        try:  # refused before the work, not after it
            replaceable_mode(model_path)
        except PermissionError:
            raise _fail(f"{model_path}: is read-only, so the verdicts cannot be stored in it; make it writable, or "
                        "run without --model") from None
        problem = other_data(model, data_fingerprint(table))
        if problem:
            raise _fail(f"{model_path}: {problem} ({input_path}); its verdicts must come from its own data: test "
                        f"those, or fit a model to {input_path} first (darkmodel fit {input_path} -o MODEL)")
    try:
        result = _run_flipflop(table, model, n_boot=n_boot, alpha=alpha, random_state=seed, n_jobs=jobs)
    except (ValueError, KeyError) as exc:
        raise _fail(f"{input_path}: {exc}") from None
    write_table(result.to_frame(), output)
    if not _quiet():
        _echo_verdicts(result.table)
    _say(f"\nverdicts -> {output}")
    if model is not None:
        try:
            model.save(model_path, flipflop=result, unchanged_since=stamp)
        except FileChangedError:
            raise _fail(f"{model_path}: changed since it was read (refitted while the test ran?); the verdicts were "
                        f"not stored in it (they are in {output}); run the test again on the new model") from None
        except (ValueError, OSError) as exc:
            raise _fail(exc) from None
        _say(f"verdicts and their settings stored in {model_path}")


@main.command("report")
@click.argument("input_path", metavar="IN", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--model", "model_path", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="The model fitted to these data (darkmodel fit).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=Path("report.html"),
              show_default=True, help="report.html (one self-contained page) or report.pdf.")
@click.option("--errors", "errors_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="The scan's errors table, to list unreadable files (default: those the table itself "
                   "recorded, or its .errors.csv beside it).")
@_verbosity
def report_command(input_path: Path, model_path: Path, output: Path, errors_file) -> None:
    """Write the diagnostic report for a table IN (scan or calibrated) and its MODEL.

    A model fitted on other data is reported on the report's first page and here.

    \b
    Example:
      darkmodel report calibrated.parquet --model darkrate.json -o report.html
    """
    from .reporting.report import report as write_report

    _output(output, (".html", ".htm", ".pdf"), inputs=[input_path, model_path, errors_file], name="report")
    table = _calibrated_input(input_path, keep_excluded=True)
    model = _load_model(model_path)
    errors = _read_input(errors_file) if errors_file else _recorded_scan_errors(input_path)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", UserWarning)
            path = write_report(table, model, output, scan_errors=errors, n_jobs=-1,
                                inputs={**_input_provenance(input_path), **_input_provenance(model_path, "model")})
    except ValueError as exc:
        raise _fail(exc) from None
    for w in caught:
        if str(w.message).startswith("report:"):
            click.echo(f"warning: {str(w.message)[8:]}", err=True)
    _say(f"report -> {path}")


@main.command("superdark")
@click.argument("paths", nargs=-1, required=True)
@click.option("--model", "model_path", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="The fitted model: its nominal family selects the frames.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Superdark FITS file.")
@click.option("--max-frames", type=click.IntRange(min=1), default=2000, show_default=True,
              help="Most frames per binning set.")
@_verbosity
def superdark_command(paths, model_path: Path, output: Path, max_frames: int) -> None:
    """Per-bin dark patterns per channel x binning set, streamed from the dark files in PATHS.

    \b
    Example:
      darkmodel superdark /data/iuvs/l1a --model darkrate.json -o superdark.fits
    """
    from .frames.superdark import DQ_FLAGS, superdark
    from .io.scanning import find_files

    _output(output, (".fits",), inputs=[model_path, *[p for p in paths if Path(p).is_file()]], name="superdark")
    model = _load_model(model_path)
    try:
        n_files = len(find_files(paths))
        with _bar(n_files, "superdark", "file") as bar:
            result = superdark(list(paths), model, max_frames=max_frames, progress=bar.update)
    except FileNotFoundError as exc:
        raise _fail(exc) from None
    if not result.patterns:
        raise _fail(f"no nominal dark frame found in {', '.join(map(str, paths))}: no superdark written")
    result.write(output)
    for key, pat in sorted(result.patterns.items()):
        hot = int(((pat.dq & DQ_FLAGS["hot"]) > 0).sum())
        _say(f"  {key:<28} {pat.n_frames:>6} frames  {pat.dq.size:>6} bins  {hot:>4} hot")
    _say(f"superdark -> {output}")


@main.command("export")
@click.argument("model_path", metavar="MODEL", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--superdark", "superdark_path", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="A superdark from 'darkmodel superdark'.")
@click.option("-o", "--outdir", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option("--ref-temp", default=-18.0, show_default=True, callback=_finite(-60, 60),
              help="Temperature of the SCI frames (degC).")
@click.option("--pedigree", default="INFLIGHT", show_default=True, callback=lambda c, p, v: _header_text(v, p),
              help="PEDIGREE keyword (printable ASCII).")
@click.option("--overwrite", is_flag=True, help="Replace an earlier export in OUTDIR (swapped in whole).")
@_verbosity
def export_command(model_path: Path, superdark_path: Path, outdir: Path, ref_temp: float, pedigree: str,
                   overwrite: bool) -> None:
    """Reference files (SCI/ERR/DQ, rate law, USEAFTER, PEDIGREE) per channel x binning set x family.

    \b
    Example:
      darkmodel export darkrate.json --superdark superdark.fits -o reference/
    """
    from .frames.reference_files import export_reference
    from .frames.superdark import Superdark

    _output_folder(outdir, inputs=[model_path, superdark_path])
    model = _load_model(model_path)
    try:
        written = export_reference(model, Superdark.read(superdark_path), outdir, ref_temp=ref_temp,
                                   pedigree=pedigree, overwrite=overwrite)
    except ValueError as exc:
        raise _fail(exc) from None
    _say(f"{len(written)} reference files -> {outdir}")


@main.command("compare-l1b")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--model", "model_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also compare a model's predicted rate with the pipeline's dark.")
@_verbosity
def compare_l1b_command(paths, model_path) -> None:
    """The pipeline's dark rule against each v13 L1B file's own background_dark.

    Rebuilds the dark the pipeline subtracted (per-bin interpolation in time between the
    dark products before and after the lights; frame 0 for the first light, frame 1 for
    every later one) from the file's detector_dark frames, and reports the difference; also
    the scatter of the dark frames the pipeline never uses, and with --model the model's
    rate against the pipeline's dark.

    \b
    Example:
      darkmodel compare-l1b mvn_iuv_l1b_apoapse-orbit18001-fuv_*_v13_r01.fits.gz
    """
    import pandas as pd

    from .io.l1b import compare_with_pipeline
    from .io.read import DarkFileError
    from .model.estimator import ExtrapolationWarning, UnfittedIntTimeWarning

    model = _load_model(model_path) if model_path else None
    rows, failed = [], 0
    for path in paths:
        try:
            with warnings.catch_warnings():  # the table's 'model' column says what happened
                warnings.simplefilter("ignore", ExtrapolationWarning)
                warnings.simplefilter("ignore", UnfittedIntTimeWarning)
                rows.append(compare_with_pipeline(path, model))
        except (DarkFileError, OSError) as exc:
            failed += 1
            click.echo(f"error: {exc}", err=True)
    if rows:
        click.echo(pd.DataFrame(rows).to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    if failed:
        raise click.exceptions.Exit(1)


@main.command()
@click.option("--outdir", type=click.Path(file_okay=False, path_type=Path), default=Path("demo-output"),
              show_default=True, help="Where the archive and every result (the model included) go.")
@click.option("--n-files", type=click.IntRange(min=20), default=600, show_default=True, help="Dark files to simulate.")
@click.option("--scenario", type=click.Choice(SCENARIOS), default="flipflop", show_default=True)
@click.option("--random-state", "--seed", "seed", default=0, show_default=True,
              help="Random seed (random_state in the Python API).")
@click.option("--n-jobs", "--workers", "workers", type=int, default=None, callback=_workers_option,
              help="Worker processes for the scan (default or -1: all cores).")
@click.option("--overwrite", is_flag=True, help="Replace an earlier demo in OUTDIR.")
@_verbosity
def demo(outdir: Path, n_files: int, scenario: str, seed: int, workers, overwrite: bool) -> None:
    """Simulate an archive and run the whole job on it: scan, calibrate, fit, test, report, predict.

    Everything is written into OUTDIR; nothing else is touched.

    \b
    Example:
      darkmodel demo --outdir /tmp/demo --scenario changepoint
    """
    import shutil

    import pandas as pd

    from .pipeline import ChainSettings, run_chain
    from .simulate.archive import simulate_archive

    _output_folder(outdir)
    if _refuse_to_overwrite(outdir, overwrite, "archive/truth.parquet", "earlier demo"):
        shutil.rmtree(outdir)
    archive = outdir / "archive"
    t0 = time.perf_counter()
    truth = simulate_archive(archive, n_files=n_files, scenario=scenario, random_state=seed)
    t1 = time.perf_counter()
    _say(f"simulated {n_files} dark files ({len(truth)} integrations, scenario '{scenario}') "
               f"in {t1 - t0:.1f} s -> {archive}")
    note = f"fitted by 'darkmodel demo' on a simulated archive (scenario '{scenario}', seed {seed}, {n_files} files)"
    chain = run_chain([archive], outdir, settings=ChainSettings(n_jobs=workers, random_state=seed), note=note,
                      bar=_chain_bar)
    _say(f"scanned: {chain.scan.message()}")
    for reason, count in chain.calibrated["exclusion"].value_counts().items():
        _say(f"  excluded {count} integrations: {reason}")
    _say(f"scanned, calibrated, fitted, tested and reported in {time.perf_counter() - t1:.1f} s\n")
    model, verdicts = chain.model, chain.flipflop
    if not _quiet():
        _echo_groups(model)
    _say("\nDo we have some flip-flopping state the instrument is in? (alpha = 0.05)")
    if not _quiet():
        _echo_verdicts(verdicts.table)
    from .simulate.scorecard import score_verdicts

    score = score_verdicts(verdicts, pd.read_parquet(archive / "truth.parquet"), scenario)
    counts = score["outcome"].value_counts()
    _say(f"\nscorecard against the simulator's truth ({archive / 'truth.parquet'}): "
               f"{counts.get('right', 0)} right, {counts.get('wrong', 0)} wrong, "
               f"{counts.get('inconclusive', 0)} inconclusive of {len(score)} groups")
    _say(score[["XUV", "INT_TIME", "n_files", "truth", "verdict", "outcome"]].to_string(index=False))
    for r in score[score["outcome"] != "right"].itertuples():
        _say(f"  {r.outcome}: {r.XUV} {r.INT_TIME} ms is {r.truth}, called {r.verdict}: {r.reason}")
    temps = [-20.0, -15.0]
    _say("\nexpected dark rate, MUV INT_TIME 4200 ms (mixture of the families, 95 % interval):")
    mean = model.predict(temps, channel="MUV", int_time=4200)
    lower, upper = model.predict_interval(temps, channel="MUV", int_time=4200)
    for t, m, lo, hi in zip(temps, mean, lower, upper):
        _say(f"  {t:6.1f} degC: {m:.4f} DN/s/pixel  [{lo:.4f}, {hi:.4f}]")
    out = chain.outputs
    _say(f"\noutputs:\n  archive       {archive}\n  ground truth  {archive / 'truth.parquet'}\n"
               f"  summary       {out['summary']}\n  calibrated    {out['calibrated']}\n"
               f"  verdicts      {out['verdicts']}\n  model         {out['model']}\n  report        {out['report']}")
    _say(f"\nnext: open {out['report']} in a browser (the answer is on its first screen); then try\n"
         f"  darkmodel predict {out['model']} --channel MUV --int-time 4200 --temp -18\n"
         f"  darkmodel report {out['calibrated']} --model {out['model']} -o report.pdf")


if __name__ == "__main__":  # pragma: no cover
    main()
