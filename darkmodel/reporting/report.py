"""Diagnostic reports: one self-contained HTML page, or a multi-page PDF of the same figures.

The HTML is rendered with jinja2 (autoescaping on); every figure is embedded as a base64
PNG, so the page has no external reference and can be mailed or archived as one file.
"""

from __future__ import annotations

import base64
import io
import warnings
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.transforms import Bbox

from ..io.storage import atomic_write
from ..model.fingerprint import data_fingerprint
from ..model.verdicts import answer_sentences
from ..validation import N_JOBS, validate_arguments
from . import figures
from .figures import _quiet_model_warnings

__all__ = ["report", "report_figures", "model_mismatch", "verdict_notes", "simulated_note", "render_pngs", "render_report_figures"]


def _png(fig) -> str:
    buf = io.BytesIO()
    FigureCanvasAgg(fig)
    fig.savefig(buf, format="png", dpi=100)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def render_pngs(figures_, workers: int | None = None) -> list:
    """Every figure as a base64 PNG (100 dpi), rendered in worker processes.

    Rendering (constrained layout and Agg drawing) is most of a report's time and each
    figure is independent, so the figures travel pickled to a process pool; the PNGs are
    the same bytes as rendering them one after the other in this process.

    Parameters
    ----------
    figures_ : sequence of matplotlib.figure.Figure
        The figures.
    workers : int, optional
        Worker processes (scikit-learn's convention: ``None`` or 1 renders here, ``-1`` all
        cores, at most one per figure).

    Returns
    -------
    list of str
        Base64-encoded PNGs, in the figures' order.
    """
    from ..parallel import n_workers, run_tasks

    # the costliest (most panels) first, so the pool's makespan is not set by one late start
    return run_tasks(_png, list(figures_), workers=n_workers(workers, default_all=False), size=lambda fig: len(fig.axes))


def _built_png(task) -> str:
    """Build one figure from ``(builder, arguments)`` and render it: the work unit of :func:`render_report_figures`."""
    builder, args = task
    with warnings.catch_warnings():
        _quiet_model_warnings()
        fig = builder(*args)
    return _png(fig)


def render_report_figures(calibrated: pd.DataFrame, model, verdicts: pd.DataFrame | None = None,
                          workers: int | None = None) -> list:
    """The report's figures as base64 PNGs, each built and rendered in a worker process.

    The workers receive the data and the model, not drawn figures: building a figure is
    spread over the pool too, and nothing large is pickled back.  The PNGs are the same
    bytes as ``render_pngs`` of :func:`report_figures` gives.

    Parameters
    ----------
    calibrated : pandas.DataFrame
        A calibrated table (see :func:`report_figures`).
    model : DarkRateModel
        The fitted model.
    verdicts : pandas.DataFrame, optional
        Flip-flop verdicts (a FlipFlopResult or its table; default: those saved with the model).
    workers : int, optional
        Worker processes (``None`` or 1: this process, ``-1``: all cores, at most one per figure).

    Returns
    -------
    list of (str, str, str)
        Section id, caption and base64 PNG, in the order of :func:`report_figures`.
    """
    from ..parallel import n_workers, run_tasks

    with warnings.catch_warnings():
        _quiet_model_warnings()
        plan = _figure_plan(calibrated, model, verdicts)
    pngs = run_tasks(_built_png, [(builder, args) for _, _, builder, args in plan], workers=n_workers(workers, default_all=False),
                     size=lambda task: _FIGURE_COST.get(task[0].__name__, 1))  # the costliest first
    return [(sid, caption, png) for (sid, caption, _, _), png in zip(plan, pngs)]


#: Relative rendering cost of the figures (ten-panel family figures, the 4 x 4 scatter matrix).
_FIGURE_COST = {"rate_vs_temperature": 4, "scatter_matrix": 3, "model_curves": 2}


def report_figures(calibrated: pd.DataFrame, model, verdicts: pd.DataFrame | None = None) -> list:
    """All the report's figures, in order, with their captions.

    Parameters
    ----------
    calibrated : pandas.DataFrame
        A calibrated table (rows with an ``exclusion``, non-finite or implausible values
        are left out of the figures).
    model : DarkRateModel
        The fitted model.
    verdicts : pandas.DataFrame, optional
        Flip-flop verdicts (a FlipFlopResult or its table; default: those saved with the model).

    Returns
    -------
    list of (str, str, matplotlib.figure.Figure)
        Section id, caption and figure.
    """
    return [(sid, caption, builder(*args)) for sid, caption, builder, args in _figure_plan(calibrated, model, verdicts)]


def _figure_plan(calibrated: pd.DataFrame, model, verdicts) -> list:
    """Every figure as ``(section, caption, builder, arguments)``: what to draw, not yet drawn."""
    from ..stats.perfile import usable_mask

    frame = calibrated.reset_index() if calibrated.index.name == "Time" else calibrated
    data = calibrated[usable_mask(frame)]  # excluded, non-finite and implausible rows stay out
    if data.empty:
        raise ValueError("no usable rows to report (every row is excluded, non-finite or implausible)")
    labels = model.assign(data)
    verdicts = _verdict_table(model, verdicts)
    plan: list[tuple] = [("seed", "Scatter matrix of DN_per_s, CASE_TEMP, DET_TEMP and INT_TIME (the seed's view).",
             figures.scatter_matrix, (data,)),
            ("seed", "DET_TEMP and DN_per_s over time; CASE_TEMP below.", figures.temperature_and_rate_over_time, (data,))]
    for ch in sorted(data["XUV"].unique()):
        plan.append(("families", f"{ch}: DN/s against DET_TEMP per INT_TIME, points coloured by family, fitted curves "
                                 f"with 95 % prediction bands, linear and log axes.",
                     figures.rate_vs_temperature, (data, model, labels, ch)))
    for ch in sorted(data["XUV"].unique()):
        plan.append(("residuals", f"{ch}: residuals from the family curves against temperature and time.",
                     figures.residuals, (data, model, labels, ch)))
    plan.append(("timeline", "Family of every dark over time for the groups with several families; grey lines mark "
                             "switches.", figures.family_timeline, (data, labels, verdicts)))
    plan.append(("joint", "The joint offset model: DN/s at the reference temperature against 1/INT_TIME.",
                 figures.joint_offset, (data, model, labels)))
    plan.append(("model", "The model alone: each fitted group's family curves with 95 % prediction bands, over its "
                          "fitted temperature range.", figures.model_curves, (model,)))
    return plan


def _text_pages(title: str, lines: list, per_page: int = 44, width: int = 150) -> list:
    """Text as A4 pages of a PDF (monospace, long lines wrapped): the verdicts, the parameters
    and the provenance travel with the figures.
    """
    import textwrap

    from matplotlib.figure import Figure

    wrapped = []
    for line in lines:
        wrapped += textwrap.wrap(line, width, subsequent_indent="      ") or [""]
    pages = []
    for start in range(0, max(len(wrapped), 1), per_page):
        fig = Figure(figsize=PDF_PAGE)
        fig.text(0.06, 0.97, title if start == 0 else f"{title} (continued)", fontsize=12, va="top")
        fig.text(0.06, 0.94, "\n".join(wrapped[start:start + per_page]), fontsize=7, va="top", family="monospace")
        pages.append(fig)
    return pages


#: Every page of the PDF report: A4 landscape (inches), which the report's wide figures fill.
PDF_PAGE = (11.69, 8.27)


def _answer_page(title: str, simulated: str, notes: list, table: pd.DataFrame | None):
    """The PDF's first page, typeset: the answer per channel in sentences, then the verdicts in a table."""
    import textwrap

    from matplotlib.figure import Figure

    page = Figure(figsize=PDF_PAGE)
    y = 0.95

    def write(text, size=10, weight="normal", color="#222222", width=88, gap=0.006, **box):
        nonlocal y
        lines = textwrap.wrap(text, width) or [""]
        page.text(0.08, y, "\n".join(lines), fontsize=size, weight=weight, color=color, va="top",
                  linespacing=1.35, **box)
        y -= len(lines) * size * 1.35 / 72 / PDF_PAGE[1] + gap

    write(title, size=17, weight="bold", gap=0.012)
    write(f"Generated {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC by darkmodel", size=8, color="#666666")
    if simulated:
        write(simulated, size=9, color="#6b4e00", width=140,
              bbox={"facecolor": "#fff3cd", "edgecolor": "#e0a800", "boxstyle": "round,pad=0.4"})
    for note in notes:
        write(f"Warning: {note}", size=9, color="#a40000", width=140)
    y -= 0.015
    write("Do we have some flip-flopping state the instrument is in?", size=13, weight="bold", gap=0.012)
    if table is None:
        write("Not known: the model carries no flip-flop verdicts (darkmodel flipflop TABLE --model MODEL "
              "stores them).", size=11)
        return page
    for sentence in answer_sentences(table).values():
        write(sentence, size=11, width=120, gap=0.012)  # no-break spaces keep "14 400 ms" on one line
    shown = _verdict_display(table)
    shown = shown[[c for c in ("XUV", "INT_TIME", "files", "verdict", "p memory", "switches", "effect (95 % CI)")
                   if c in shown.columns]]
    height = min(0.045 * (len(shown) + 1), max(y - 0.08, 0.1))
    ax = page.add_axes((0.08, y - 0.02 - height, 0.84, height))
    ax.set_axis_off()
    widths = {"XUV": 0.7, "INT_TIME": 1.0, "files": 0.7, "verdict": 1.6, "p memory": 1.0, "switches": 0.9,
              "effect (95 % CI)": 2.1}
    cells = ax.table(cellText=shown.astype(str).to_numpy(), colLabels=list(shown.columns), loc="upper center",
                     cellLoc="center", bbox=Bbox.from_bounds(0, 0, 1, 1), colWidths=[widths[c] for c in shown.columns])
    cells.auto_set_font_size(False)
    cells.set_fontsize(8)
    colours = {"flip-flop": "#fde0c5", "change-point": "#d6eaf8", "confounded": "#e8daef", "drift": "#e9f7ef"}
    for (row, _), cell in cells.get_celld().items():
        cell.set_edgecolor("#cccccc")
        if row == 0:
            cell.set_facecolor("#f3f3f3")
            cell.set_text_props(weight="bold")
        elif shown["verdict"].iloc[row - 1] in colours:
            cell.set_facecolor(colours[shown["verdict"].iloc[row - 1]])
    page.text(0.08, 0.03, "The reasons, the parameters and the provenance follow the figures.", fontsize=8,
              color="#666666")
    return page


def _on_page(fig):
    """A figure of any size drawn onto one A4 page (scaled to fit, at 150 dpi): one page size for the PDF."""
    from matplotlib.figure import Figure

    canvas = FigureCanvasAgg(fig)
    fig.set_dpi(150)
    canvas.draw()
    image = np.asarray(canvas.buffer_rgba())
    page = Figure(figsize=PDF_PAGE)
    h, w = image.shape[:2]
    box_w, box_h = 0.9, 0.9
    scale = min(box_w * PDF_PAGE[0] / w, box_h * PDF_PAGE[1] / h)
    fw, fh = w * scale / PDF_PAGE[0], h * scale / PDF_PAGE[1]
    ax = page.add_axes(((1 - fw) / 2, 0.95 - fh, fw, fh))
    ax.imshow(image, interpolation="lanczos")
    ax.set_axis_off()
    return page


def _verdict_table(model, verdicts):
    """The verdicts as a table: those given (a FlipFlopResult or its table), else the model's."""
    if verdicts is None:
        verdicts = getattr(model, "flipflop_", None)
    return getattr(verdicts, "table", verdicts)


def _fmt(value) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)) or value is pd.NA:
        return ""
    if isinstance(value, (float, np.floating)):
        return f"{value:.4g}"
    if isinstance(value, tuple):
        return ", ".join(_fmt(v) for v in value)
    return str(value)


def _table(frame: pd.DataFrame, caption: str = "", css=None) -> dict:
    text = [c for c in frame.columns if frame[c].dtype == object or str(frame[c].dtype) in ("str", "string")]
    rows = [{"cells": {c: _fmt(v) for c, v in row.items()}, "css": css(row) if css else ""}
            for row in frame.to_dict(orient="records")]
    long = [c for c in text if frame[c].astype(str).str.len().mean() > 40]  # sentences: give them room
    return {"columns": list(frame.columns), "rows": rows, "caption": caption, "text_columns": text,
            "long_columns": long}


def _verdict_display(verdicts: pd.DataFrame) -> pd.DataFrame:
    """The verdict table narrow enough for a 1 300 px page: the effect and its interval in one
    column, numbers to the digits they carry, short headings; the reason wraps.
    """
    def number(v, digits=3):  # significant digits, never in exponent form (1450, not 1.45e+03)
        if pd.isna(v):
            return ""
        v = float(v)
        return f"{v:.0f}" if abs(v) >= 10 ** digits else f"{v:.{digits}g}"

    out = pd.DataFrame({"XUV": verdicts["XUV"], "INT_TIME": verdicts["INT_TIME"], "files": verdicts["n_files"],
                        "verdict": verdicts["verdict"], "reason": verdicts["reason"]})
    out["p families"] = [number(v, 2) for v in verdicts.get("p_families", pd.Series(np.nan, index=verdicts.index))]
    out["p memory"] = [number(v, 2) for v in verdicts.get("p_memory", pd.Series(np.nan, index=verdicts.index))]
    out["switches"] = ["" if pd.isna(v) or v == 0 else f"{int(v)}"
                       for v in verdicts.get("n_switches", pd.Series(np.nan, index=verdicts.index))]
    out["dwell (h)"] = [number(v) for v in verdicts.get("dwell_hours_median", pd.Series(np.nan, index=verdicts.index))]
    if {"effect_ratio", "effect_ci_low", "effect_ci_high"} <= set(verdicts.columns):
        out["effect (95 % CI)"] = ["" if pd.isna(r) else f"{r:.3f} [{lo:.3f}, {hi:.3f}]" for r, lo, hi in
                                   zip(verdicts["effect_ratio"], verdicts["effect_ci_low"], verdicts["effect_ci_high"])]
    if "confounded_by" in verdicts.columns:
        out["confounded by"] = verdicts["confounded_by"].fillna("").astype(str)
    return out.reset_index(drop=True)


def _overview(calibrated, scan_errors) -> list:
    status = np.where(calibrated["exclusion"].isna(), "kept", calibrated["exclusion"].astype(str)) \
        if "exclusion" in calibrated.columns else "kept"
    mode = np.where(calibrated["MCP_VOLT"] > 0, "MCP on (shutter)", "MCP off")
    counts = (calibrated.assign(dark_mode=mode, status=status)
              .groupby(["XUV", "INT_TIME", "dark_mode", "status"]).size().rename("integrations").reset_index())
    tables = [_table(counts, "Dark integrations per channel, INT_TIME, dark mode and status (excluded rows and "
                             "why).")]
    if scan_errors is not None and len(scan_errors):
        tables.append(_table(scan_errors, f"{len(scan_errors)} files could not be read."))
    else:
        tables.append(_table(pd.DataFrame({"files that failed to read": ["none"]})))
    return tables


def model_mismatch(calibrated: pd.DataFrame, model, inputs: dict | None = None, *,
                   fingerprint: str | None = None) -> list[str]:
    """Why a model may not belong to a table, in sentences (empty if nothing is found).

    Parameters
    ----------
    calibrated : pandas.DataFrame
        The data of the report.
    model : DarkRateModel
        The model of the report.
    inputs : dict, optional
        ``input_sha256`` of the data file, compared with the one the model was fitted on
        where the model carries no fingerprint of its data.
    fingerprint : str, optional
        :func:`~darkmodel.model.fingerprint.data_fingerprint` of ``calibrated``, where known.

    Returns
    -------
    list of str
    """
    from ..model.fingerprint import other_data, rows_fingerprint
    from ..stats.perfile import usable_rows

    notes = []
    usable = usable_rows(calibrated)
    data_groups = {(str(x), int(t)) for x, t in usable[["XUV", "INT_TIME"]].drop_duplicates().itertuples(index=False)}
    model_groups = set(model.groups_)
    if data_groups - model_groups:
        missing = ", ".join(f"{x} {t} ms" for x, t in sorted(data_groups - model_groups))
        notes.append(f"The data hold groups the model never saw ({missing}).")
    if model_groups and not data_groups & model_groups:
        notes.append("The model and the data share no (channel, INT_TIME) group.")
    if model.provenance_.get("data_fingerprint"):  # the same integrations, whatever file holds them
        problem = other_data(model, fingerprint or rows_fingerprint(usable))
        if problem:
            notes.append(f"{problem[0].upper()}{problem[1:]} (fitted on {model.provenance_.get('input', 'a table')}).")
        return notes
    fitted_on = model.provenance_.get("input_sha256")
    given = (inputs or {}).get("input_sha256")
    if fitted_on and given and fitted_on != given:
        notes.append(f"The model was fitted on another file ({model.provenance_.get('input', 'unknown')}, "
                     f"{fitted_on[:19]}...) than these data ({given[:19]}...).")
    n_model = model.provenance_.get("n_rows_used")
    if n_model and not fitted_on and abs(len(usable) - n_model) > 0.5 * n_model:
        notes.append(f"The model was fitted on {n_model} rows; these data have {len(usable)}.")
    return notes


def simulated_note(calibrated: pd.DataFrame) -> str:
    """A sentence when the data are simulated (the ``SIMULATED`` column of a scan), else ``''``.

    Parameters
    ----------
    calibrated : pandas.DataFrame

    Returns
    -------
    str

    Examples
    --------
    >>> simulated_note(pd.DataFrame({"SIMULATED": [True, True]}))
    "Simulated data: these files were written by darkmodel's simulator (header SIMULATE = T), not by MAVEN."
    """
    if "SIMULATED" not in calibrated.columns:
        return ""
    flags = calibrated["SIMULATED"].fillna(False).astype(bool)
    if not flags.any():
        return ""
    what = "these files were" if flags.all() else f"{int(flags.sum())} of {len(flags)} integrations were"
    return f"Simulated data: {what} written by darkmodel's simulator (header SIMULATE = T), not by MAVEN."


def verdict_notes(calibrated: pd.DataFrame, model, verdicts=None, *, fingerprint: str | None = None) -> list[str]:
    """What a reader must know about the flip-flop verdicts of a report, in sentences.

    Parameters
    ----------
    calibrated : pandas.DataFrame
        The data of the report.
    model : DarkRateModel
        The model of the report.
    verdicts : FlipFlopResult or pandas.DataFrame, optional
        The verdicts given to the report (default: those stored in the model).
    fingerprint : str, optional
        :func:`~darkmodel.model.fingerprint.data_fingerprint` of ``calibrated``, where known.

    Returns
    -------
    list of str
        Empty when the verdicts were computed on these data (or carry no fingerprint to
        check); one sentence when there are no verdicts (with how to get them) or when
        they were computed on other data.
    """
    from ..model.verdicts import FlipFlopResult

    if verdicts is None:
        verdicts = getattr(model, "flipflop_", None)
    if verdicts is None:
        return ["The model holds no flip-flop verdicts, so this report does not answer whether the instrument "
                "flip-flops: store them with 'darkmodel flipflop DATA --model MODEL' (Python: "
                "model.save(path, flipflop=darkmodel.flipflop_test(calibrated, model))), or pass "
                "verdicts=... to report()."]
    if isinstance(verdicts, pd.DataFrame):
        verdicts = FlipFlopResult(verdicts, dict(verdicts.attrs))
    problem = verdicts.data_mismatch(calibrated, fingerprint=fingerprint)
    return [f"{problem[0].upper()}{problem[1:]}: they do not describe this report's data."] if problem else []


@validate_arguments({"n_jobs": N_JOBS, "title": [str]})
def report(calibrated: pd.DataFrame, model, path, *, verdicts: pd.DataFrame | None = None,
           scan_errors: pd.DataFrame | None = None, inputs: dict | None = None,
           title: str = "darkmodel: IUVS dark-rate report", n_jobs: int | None = None) -> Path:
    """Write the diagnostic report as HTML (one self-contained file) or PDF (one figure per page).

    Parameters
    ----------
    calibrated : pandas.DataFrame
        The calibrated table, ideally with excluded rows kept (``keep_excluded=True``) so that
        the overview can count them.
    model : DarkRateModel
        The fitted model.
    path : path-like
        ``*.html`` or ``*.pdf``.
    verdicts : pandas.DataFrame, optional
        Flip-flop verdicts (a FlipFlopResult or its table; default: those saved with the model).
    scan_errors : pandas.DataFrame, optional
        The scan's errors table, listed in the overview.
    inputs : dict, optional
        Input files and their hashes, for the provenance section.
    title : str, optional
        Page title.
    n_jobs : int, optional
        Processes building and rendering the HTML's figures (scikit-learn's convention:
        ``None`` one, ``-1`` all cores; see :func:`render_report_figures`).

    Returns
    -------
    pathlib.Path
        The written file.

    Raises
    ------
    ValueError
        If the suffix is not ``.html``/``.pdf`` or the table lacks a column the report needs.
    """
    from ..io.tables import calibrated_table

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".html", ".htm", ".pdf"):
        raise ValueError(f"{path}: a report is .html or .pdf")
    calibrated = calibrated_table(calibrated, "report")
    fingerprint = data_fingerprint(calibrated)
    mismatch = model_mismatch(calibrated, model, inputs, fingerprint=fingerprint)
    about_verdicts = verdict_notes(calibrated, model, verdicts, fingerprint=fingerprint)
    for text in mismatch + about_verdicts:
        warnings.warn(f"report: {text}", UserWarning, stacklevel=2)
    table = _verdict_table(model, verdicts)
    if suffix == ".pdf":
        return _write_pdf(path, calibrated, model, verdicts, table, mismatch + about_verdicts, inputs, title)
    sections = [*_warning_sections(mismatch, about_verdicts, table), _answer_section(table, about_verdicts),
                *_verdict_sections(table),
                {"id": "overview", "title": "Data overview", "text": "", "tables": _overview(calibrated, scan_errors),
                 "figures": []},
                *_figure_sections(render_report_figures(calibrated, model, table, n_jobs)),
                _parameter_section(model), _provenance_section(model, inputs)]
    return _write_html(path, title, sections, simulated_note(calibrated))


def _write_pdf(path: Path, calibrated, model, verdicts, table, notes, inputs, title) -> Path:
    """The PDF: a typeset first page with the answer, one figure per page, then the reasons as text."""
    with warnings.catch_warnings():
        _quiet_model_warnings()
        figs = report_figures(calibrated, model, verdicts)
    lines = []
    if table is not None:
        lines += ["Why, group by group:", ""]
        lines += [f"{r.XUV} {int(r.INT_TIME):>6} ms  {r.verdict}: {r.reason}" for r in table.itertuples()]
    lines += ["", *model.summary().as_text().splitlines(), "", "Provenance:"]
    lines += [f"  {k}: {v}" for k, v in {**model.provenance_, **(inputs or {})}.items()]
    first = _answer_page(title, simulated_note(calibrated), notes, table)
    with atomic_write(path) as tmp, PdfPages(tmp) as pdf:
        for page in [first, *(_on_page(fig) for _, _, fig in figs), *_text_pages(title, lines)]:
            FigureCanvasAgg(page)
            pdf.savefig(page)
    return path


def _write_html(path: Path, title: str, sections: list, simulated: str) -> Path:
    """The HTML page from its sections (jinja2, autoescaped), written atomically."""
    from jinja2 import Environment, PackageLoader, select_autoescape

    from .. import __version__

    provenance = {"generated": datetime.now(timezone.utc).isoformat(timespec="seconds"), "package_version": __version__}
    env = Environment(loader=PackageLoader("darkmodel", "reporting"), autoescape=select_autoescape(["html", "j2"]))
    html = env.get_template("template.html.j2").render(title=title, sections=sections, provenance=provenance,
                                                       simulated=simulated)
    with atomic_write(path) as tmp:
        tmp.write_text(html, encoding="utf-8")
    return path


_QUESTION = "Do we have some flip-flopping state the instrument is in?"


def _warning_sections(mismatch: list, about_verdicts: list, table) -> list:
    """A warning first when the model or its verdicts may not belong to these data."""
    if not (mismatch or (table is not None and about_verdicts)):
        return []
    return [{"id": "mismatch", "title": "Warning: this model or its verdicts may not belong to these data",
             "text": " ".join(mismatch + (about_verdicts if table is not None else [])), "tables": [], "figures": []}]


def _answer_section(table, about_verdicts: list) -> dict:
    """The answer, one sentence per channel (or why it is not known)."""
    if table is None:
        return {"id": "answer", "title": _QUESTION, "tables": [], "figures": [],
                "text": "Not known: this model carries no flip-flop verdicts. " + " ".join(about_verdicts)}
    return {"id": "answer", "title": _QUESTION, "text": "", "tables": [], "figures": [],
            "bullets": list(answer_sentences(table).values())}


def _verdict_sections(table) -> list:
    """The verdicts, group by group, with the families' associations with recorded variables."""
    if table is None:
        return []
    shown = _table(_verdict_display(table),
                   "One verdict per channel and INT_TIME; p-values from parametric bootstraps; effect = ratio of "
                   "the two families' dark currents with its 95 % interval; dwell = median run between switches.",
                   css=lambda r: f"verdict-{r['verdict']}")
    findings = table.loc[table["confounders"].astype(str) != "", ["XUV", "INT_TIME", "confounders"]]
    tables = [shown] + ([_table(findings, "Association of the families with recorded variables.")] if len(findings) else [])
    return [{"id": "verdicts", "title": "The verdicts, group by group, and why", "text": "", "tables": tables,
             "figures": []}]


_FIGURE_SECTIONS = {"seed": "The seed notebook's views", "families": "Dark rate against temperature, by family",
                    "residuals": "Residuals", "timeline": "Family timeline", "joint": "Joint offset model",
                    "model": "The model alone"}


def _figure_sections(rendered: list) -> list:
    """One section per kind of figure, in the report's order, from ``(section, caption, png)``."""
    by_section: dict = {}
    for sid, caption, png in rendered:
        by_section.setdefault(sid, []).append({"caption": caption, "png": png})
    return [{"id": sid, "title": name, "text": "", "tables": [], "figures": by_section.get(sid, [])}
            for sid, name in _FIGURE_SECTIONS.items()]


def _parameter_section(model) -> dict:
    """The model's parameters in words, and its joint, groups and families tables."""
    groups = model.groups.drop(columns=["method"], errors="ignore")
    settings = model.get_params()
    text = (f"Families per group: one more family only if its bootstrap likelihood ratio is significant at alpha "
            f"{settings['alpha']:g} ({settings['n_boot']} replicates at most), the families are at least "
            f"{settings['min_separation']:g} within-family standard deviations apart and each holds at least "
            f"{settings['min_family_files']} files; the scatter is the noise model (additive, relative, Student-t "
            "tails) fitted with them.")
    return {"id": "parameters", "title": "Model parameters", "text": text, "figures": [],
            "tables": [_table(model.joint, "Joint offset model per channel."),
                       _table(groups, "Groups: number of families with the reason, the noise model and the fitted levels."),
                       _table(model.families, "Families: levels at the reference temperature with standard errors.")]}


def _provenance_section(model, inputs: dict | None) -> dict:
    """The model's provenance and the report's inputs."""
    rows = {**{f"model: {k}": v for k, v in model.provenance_.items()}, **(inputs or {})}
    return {"id": "provenance", "title": "Provenance", "text": "", "figures": [],
            "tables": [_table(pd.DataFrame({"item": list(rows), "value": [str(v) for v in rows.values()]}))]}
