"""The diagnostic report: a self-contained HTML page and a PDF, checked as a reader would."""

import base64
import io
import re
import shutil
import subprocess
from html.parser import HTMLParser

import numpy as np
import pytest
from matplotlib.image import imread

import darkmodel as dm
from darkmodel.reporting.report import report, report_figures


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    out = tmp_path_factory.mktemp("rep")
    dm.simulate_archive(out, n_files=200, scenario="flipflop", random_state=6, flip_groups=(("FUV", 14400),))
    scanned = dm.scan(out, n_jobs=1)
    calibrated = dm.calibrate(scanned.table, keep_excluded=True)
    model = dm.fit(calibrated)
    path = model.save(tmp_path_factory.mktemp("rep_model") / "m.json",
                      flipflop=dm.flipflop_test(calibrated, model, n_boot=39, n_jobs=1))
    return calibrated, dm.DarkRateModel.load(path), scanned.errors  # the verdicts travel with the model


class _Collector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.refs, self.images = [], [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        for name, value in attrs:
            if name in ("src", "href") and value:
                self.refs.append(value)
                if tag == "img" and name == "src":
                    self.images.append(value)


@pytest.mark.slow
def test_html_is_self_contained_and_every_image_is_a_real_picture(fitted, tmp_path):
    calibrated, model, errors = fitted
    path = report(calibrated, model, tmp_path / "report.html", scan_errors=errors)
    html = path.read_text()
    parser = _Collector()
    parser.feed(html)
    assert parser.tags.count("table") >= 4 and "h2" in parser.tags
    external = [r for r in parser.refs if not (r.startswith("data:") or r.startswith("#"))]
    assert external == []
    assert not re.search(r"https?://", html)
    assert len(parser.images) == len(report_figures(calibrated, model))
    for src in parser.images:
        assert src.startswith("data:image/png;base64,")
        pixels = imread(io.BytesIO(base64.b64decode(src.split(",", 1)[1])), format="png")
        assert pixels.shape[0] > 200 and pixels.shape[1] > 400
        assert pixels[..., :3].std() > 0.05  # not blank
    for text in ("Do we have some flip-flopping state", "flip-flop", "Provenance", "Joint offset model",
                 "MCP on (shutter dark, MCP_VOLT &gt; 0)", model.provenance_["package_version"]):
        assert text in html


@pytest.mark.slow
def test_html_escapes_what_it_shows(fitted, tmp_path):
    calibrated, model, _ = fitted
    path = report(calibrated, model, tmp_path / "r.html", inputs={"input": "<script>alert(1)</script>"})
    html = path.read_text()
    assert "<script>" not in html and "&lt;script&gt;" in html


@pytest.mark.slow
def test_pdf_carries_the_verdicts_parameters_provenance_and_every_figure(fitted, tmp_path):
    from pypdf import PdfReader

    from darkmodel.model.verdicts import answer_sentences

    calibrated, model, _ = fitted
    path = report(calibrated, model, tmp_path / "report.pdf")
    pages = PdfReader(path).pages
    n_figures = len(report_figures(calibrated, model))
    assert len(pages) >= n_figures + 2  # the answer, one page per figure, then the reasons and the parameters
    assert {(round(float(p.mediabox.width)), round(float(p.mediabox.height))) for p in pages} == {(842, 595)}
    first = pages[0].extract_text().replace("\xa0", " ")
    assert "Do we have some flip-flopping state the instrument is in?" in first
    for sentence in answer_sentences(model.flipflop_.table).values():  # typeset, in words, on the first page
        assert " ".join(sentence.replace("\xa0", " ").split())[:60] in " ".join(first.split())
    appendix = " ".join(p.extract_text() for p in pages[1 + n_figures:])
    assert "FUV  14400 ms  flip-flop" in appendix and "Joint offset model" in appendix
    assert "package_version" in appendix
    with pytest.raises(ValueError, match="html or .pdf"):
        report(calibrated, model, tmp_path / "report.docx")


def _chromium():
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.slow
@pytest.mark.skipif(_chromium() is None, reason="Chromium is not installed (Debian package 'chromium')")
def test_page_renders_in_headless_chromium(fitted, tmp_path):
    calibrated, model, _ = fitted
    path = report(calibrated, model, tmp_path / "report.html")
    shot = tmp_path / "page.png"
    subprocess.run([_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1200,3000",
                    f"--screenshot={shot}", path.as_uri()], check=True, capture_output=True, timeout=120)
    pixels = imread(shot)
    assert pixels.shape[0] >= 2000 and pixels.shape[1] >= 1000
    assert pixels[..., :3].std() > 0.05
    # the page is mostly white with dark text and coloured figures: many distinct colours
    assert len(np.unique((pixels[::7, ::7, :3] * 255).astype(int).reshape(-1, 3), axis=0)) > 50


def test_a_model_that_fitted_nothing_says_so_instead_of_empty_panels(fitted, tmp_path):
    from darkmodel.reporting import figures

    calibrated, _, _ = fitted
    few = calibrated[calibrated["XUV"] == "MUV"].iloc[:40]
    model = dm.DarkRateModel(min_files=10_000).fit(few)
    labels = model.assign(few)
    for fig in (figures.family_timeline(few, labels, None), figures.residuals(few, model, labels, "MUV"),
                figures.model_curves(model)):
        texts = [t.get_text() for ax in fig.axes for t in ax.texts]
        assert any("no" in t and "fitted" in t for t in texts), texts
    with pytest.warns(UserWarning, match="holds no flip-flop verdicts"):  # said, and said how to get them
        path = report(few, model, tmp_path / "r.html")
    assert path.stat().st_size > 5_000 and "darkmodel flipflop DATA --model MODEL" in path.read_text()


@pytest.mark.slow
def test_figures_rendered_in_worker_processes_are_the_same_pngs(fitted):
    from darkmodel.reporting.report import render_pngs

    calibrated, model, _ = fitted
    figs = [f for _, _, f in report_figures(calibrated, model)][:4]
    parallel = render_pngs(figs, workers=2)
    serial = render_pngs(figs, workers=1)
    assert parallel == serial and len(set(serial)) == len(serial)
    for png in parallel:  # each a real picture of the figure's size at 100 dpi
        image = imread(io.BytesIO(base64.b64decode(png)), format="png")
        assert image.shape[0] > 100 and image.shape[1] > 100


@pytest.mark.slow
def test_figures_built_in_worker_processes_are_the_figures_of_report_figures(fitted):
    from darkmodel.reporting.report import render_pngs, render_report_figures

    calibrated, model, _ = fitted
    built_here = report_figures(calibrated, model)
    in_workers = render_report_figures(calibrated, model, workers=2)
    assert [(sid, caption) for sid, caption, _ in in_workers] == [(sid, caption) for sid, caption, _ in built_here]
    assert [png for _, _, png in in_workers] == render_pngs([f for _, _, f in built_here], workers=1)
    assert [png for _, _, png in render_report_figures(calibrated, model, workers=1)] == [png for _, _, png in in_workers]


def test_log_axes_are_labelled_across_their_whole_range(fitted):
    """Issue 22: 'the model alone' labelled its log axis only up to 1.00 DN/s; the 1 400 ms curves lie above."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from darkmodel.reporting import figures

    _, model, _ = fitted
    fig = figures.model_curves(model)
    FigureCanvasAgg(fig).draw()
    for ax in fig.axes:
        if ax.get_yscale() != "log":
            continue
        lo, hi = ax.get_ylim()
        labelled = [t.get_position()[1] for t in ax.yaxis.get_ticklabels() if t.get_text() and lo <= t.get_position()[1] <= hi]
        assert len(labelled) >= 3
        assert max(labelled) >= hi / 1.6 and min(labelled) <= lo * 1.6  # no unlabelled stretch at either end


def test_residuals_are_drawn_per_group_never_pooled(fitted):
    """Issue 22: residuals pooled every INT_TIME under 'family 0/1', which mean different things per group."""
    from darkmodel.reporting import figures

    calibrated, model, _ = fitted
    labels = model.assign(calibrated)
    kept = calibrated[labels.to_numpy() >= 0]
    for channel in ("FUV", "MUV"):
        fig = figures.residuals(calibrated, model, labels, channel)
        int_times = sorted(kept.loc[kept["XUV"] == channel, "INT_TIME"].unique())[:figures.MAX_GROUP_PANELS]
        assert len(fig.axes) == 2 * len(int_times)
        titles = [ax.get_title() for ax in fig.axes[::2]]
        assert [t.split(" ms")[0].split("= ")[1] for t in titles] == [str(it) for it in int_times]
        for ax, it in zip(fig.axes[::2], int_times):
            points = ax.collections[0].get_offsets()
            assert len(points) == int(((kept["XUV"] == channel) & (kept["INT_TIME"] == it)).sum())


def test_a_rare_anomalous_frame_does_not_flatten_a_small_group():
    """A 30-file group with two frames 80x its level: the axis keeps the family readable and says so."""
    from matplotlib.figure import Figure

    from darkmodel.reporting.figures import _robust_ylim

    rng = np.random.default_rng(0)
    values = np.concatenate([0.5 * np.exp(rng.normal(0, 0.15, 30)), [40.0, 38.0]])
    for scale in ("linear", "log"):
        ax = Figure().subplots()
        _robust_ylim(ax, values, scale)
        lo, hi = ax.get_ylim()
        assert hi < 5.0 and lo < 0.5 * np.exp(-0.3)  # the family fills the axis, the anomalies do not
        assert any("2 outlying point(s)" in t.get_text() for t in ax.texts)


def test_the_verdict_table_prints_numbers_without_exponents():
    import pandas as pd

    from darkmodel.reporting.report import _verdict_display

    shown = _verdict_display(pd.DataFrame({"XUV": ["FUV"], "INT_TIME": [1400], "n_files": [41], "verdict": ["change-point"],
                                           "reason": ["a step"], "dwell_hours_median": [1452.7], "p_families": [0.0101]}))
    assert shown.loc[0, "dwell (h)"] == "1453" and shown.loc[0, "p families"] == "0.01"
