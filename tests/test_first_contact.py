"""A new user's first steps: the README's Python lines as written, ``python -m darkmodel``,
short reprs, quiet commands and refusals to overwrite."""

import subprocess
import sys
from html import unescape

import pytest
from click.testing import CliRunner

import darkmodel as dm
from darkmodel.cli import main


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    out = tmp_path_factory.mktemp("first") / "archive"
    dm.simulate_archive(out, n_files=60, random_state=8, days=20)
    return out


def test_calibrate_takes_the_scan_result_itself(archive):
    result = dm.scan(archive, n_jobs=1)
    from_result = dm.calibrate(result)
    from_table = dm.calibrate(result.table)
    assert from_result.equals(from_table) and len(from_result)


def test_the_scan_result_has_a_short_repr(archive):
    result = dm.scan(archive, n_jobs=1)
    text = repr(result)
    assert text.startswith("<ScanResult: ") and "files read" in text and len(text) < 300 and "\n" not in text


@pytest.mark.slow
def test_submodules_are_reachable_without_importing_them_first():
    code = "import darkmodel as dm; print(dm.pipeline.run_chain.__name__, dm.reporting.report.__name__)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.split() == ["run_chain", "report"], proc.stderr
    with pytest.raises(AttributeError):
        dm.no_such_thing  # noqa: B018


def test_python_minus_m_darkmodel_is_the_command_line():
    proc = subprocess.run([sys.executable, "-m", "darkmodel", "--help"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.startswith("Usage: darkmodel ") and "scan" in proc.stdout


def test_simulate_and_demo_replace_an_earlier_output_only_when_told(tmp_path):
    runner = CliRunner()
    out = tmp_path / "arch"
    first = runner.invoke(main, ["simulate", str(out), "--n-files", "12", "--seed", "1"])
    assert first.exit_code == 0, first.output
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    truth = (out / "truth.parquet").read_bytes()
    again = runner.invoke(main, ["simulate", str(out), "--n-files", "14", "--seed", "2"])
    assert again.exit_code == 1 and "--overwrite" in again.output
    assert (out / "truth.parquet").read_bytes() == truth
    replaced = runner.invoke(main, ["simulate", str(out), "--n-files", "14", "--seed", "2", "--overwrite"])
    assert replaced.exit_code == 0, replaced.output
    assert (out / "truth.parquet").read_bytes() != truth and sorted(p.relative_to(out) for p in out.rglob("*")) != before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging folder left
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("my notes")
    for command in (["simulate", str(mine), "--n-files", "12", "--overwrite"],
                    ["demo", "--outdir", str(mine), "--n-files", "40", "--overwrite"]):
        refused = runner.invoke(main, command)
        assert refused.exit_code == 1 and "not replaced even with --overwrite" in refused.output
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]


@pytest.mark.parametrize("command", ["calibrate", "fit", "flipflop"])
def test_quiet_means_nothing_on_stdout(archive, tmp_path, command):
    summary = tmp_path / "s.parquet"
    assert CliRunner().invoke(main, ["-q", "scan", str(archive), "-o", str(summary), "--workers", "1"]).exit_code == 0
    out = {"calibrate": "c.parquet", "fit": "m.json", "flipflop": "v.csv"}[command]
    extra = [] if command == "calibrate" else ["--n-boot", "19", "--alpha", "0.1", "--jobs", "1"]
    result = CliRunner().invoke(main, [command, str(summary), "-o", str(tmp_path / out), "-q",
                                      *extra])
    assert result.exit_code == 0 and result.stdout == "" and (tmp_path / out).exists()


def test_simulated_files_say_so_in_their_headers_and_the_scan_table(archive, real_files):
    from astropy.io import fits

    first = sorted(archive.rglob("*.fits.gz"))[0]
    assert fits.getheader(first)["SIMULATE"] is True
    assert dm.scan(archive, n_jobs=1).table["SIMULATED"].all()
    assert not dm.scan(real_files, n_jobs=1).table["SIMULATED"].any()  # MAVEN's own files


@pytest.mark.slow
def test_the_report_opens_with_the_answer_per_channel(archive, tmp_path):
    import re
    import warnings

    calibrated = dm.calibrate(dm.scan(archive, n_jobs=1), keep_excluded=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = dm.DarkRateModel(n_boot=19, alpha=0.1, n_jobs=1).fit(calibrated)
        result = dm.flipflop_test(calibrated, model, n_boot=19, alpha=0.1, n_jobs=1)
        html = dm.report(calibrated, model, tmp_path / "r.html", verdicts=result, n_jobs=1).read_text()
    html = unescape(html)
    headings = re.findall(r'<h2 id="([a-z]+)">', html)
    assert headings[:3] == ["answer", "verdicts", "overview"]
    items = re.findall(r"<li>(.*?)</li>", html.split('<ul class="answer">')[1].split("</ul>")[0], re.S)
    channels = sorted(result.table["XUV"].unique())
    assert [i.split(":")[0] for i in items] == channels
    for item, channel in zip(items, channels):
        assert item == result.answer()[channel]
    assert "Simulated data: these files were written by darkmodel's simulator" in html
    verdict_table = html.split('id="verdicts"')[1].split("</table>")[0]
    assert verdict_table.count("<th") <= 11 and "effect (95 % CI)" in verdict_table


@pytest.mark.slow
def test_a_report_without_verdicts_says_the_answer_is_not_known(archive, tmp_path):
    import warnings

    calibrated = dm.calibrate(dm.scan(archive, n_jobs=1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = dm.DarkRateModel(n_boot=19, alpha=0.1, n_jobs=1).fit(calibrated)
        html = dm.report(calibrated, model, tmp_path / "r.html", n_jobs=1).read_text()
    answer = html.split('id="answer"')[1].split("<h2")[0]
    assert "Not known: this model carries no flip-flop verdicts" in answer


def test_predict_prints_the_digits_the_interval_carries(archive, tmp_path):
    import io
    import warnings

    import pandas as pd

    summary, model_path = tmp_path / "s.parquet", tmp_path / "m.json"
    runner = CliRunner()
    assert runner.invoke(main, ["-q", "scan", str(archive), "-o", str(summary), "--workers", "1"]).exit_code == 0
    assert runner.invoke(main, ["-q", "fit", str(summary), "-o", str(model_path), "--n-boot", "19", "--alpha", "0.1",
                                "--jobs", "1"]).exit_code == 0
    result = runner.invoke(main, ["predict", str(model_path), "--channel", "MUV", "--int-time", "4200",
                                  "--temp", "-18", "--temp", "-14"])
    assert result.exit_code == 0, result.output
    shown = pd.read_csv(io.StringIO(result.stdout))
    model = dm.DarkRateModel.load(model_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exact = model.predict([-18.0, -14.0], channel="MUV", int_time=4200)
        lo, hi = model.predict_interval([-18.0, -14.0], channel="MUV", int_time=4200)
    for text, value, low, high in zip(result.stdout.strip().splitlines()[1:], exact, lo, hi):
        printed = text.split(",")[5]
        half = (high - low) / 2
        decimals = len(printed.split(".")[1]) if "." in printed else 0
        assert abs(float(printed) - value) <= 0.05 * half  # rounded far inside the interval
        assert 10.0 ** -decimals >= 0.01 * half  # and not to digits the interval does not carry
    assert (shown["lower"] < shown["DN_per_s"]).all() and (shown["DN_per_s"] < shown["upper"]).all()


@pytest.mark.slow
def test_the_report_lists_the_files_the_scan_could_not_read(archive, tmp_path):
    import shutil

    work = tmp_path / "archive"
    shutil.copytree(archive, work)
    (work / "mvn_iuv_l1a_broken-orbit99999-muvdark_20150101T000000_v02_r01.fits.gz").write_bytes(b"broken")
    summary, calibrated, model = tmp_path / "s.parquet", tmp_path / "c.parquet", tmp_path / "m.json"
    runner = CliRunner()
    for args in (["scan", str(work), "-o", str(summary), "--workers", "1"],
                 ["calibrate", str(summary), "-o", str(calibrated)],
                 ["fit", str(calibrated), "-o", str(model), "--n-boot", "19", "--alpha", "0.1", "--jobs", "1"]):
        assert runner.invoke(main, ["-q", *args]).exit_code == 0
    for table in (summary, calibrated):
        out = tmp_path / f"r_{table.stem}.html"
        result = runner.invoke(main, ["-q", "report", str(table), "--model", str(model), "-o", str(out)])
        assert result.exit_code == 0, result.output
        html = unescape(out.read_text())
        assert "1 files could not be read" in html and "broken-orbit99999" in html
        assert "files that failed to read" not in html


@pytest.mark.slow
def test_every_darkmodel_name_the_readme_uses_resolves_as_written():
    """Issue 22: 'dm.pipeline.run_chain, as the README lists it, needs import darkmodel.pipeline first'."""
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    names = sorted(set(re.findall(r"\b(?:darkmodel|dm)\.([A-Za-z_][A-Za-z_0-9.]*[A-Za-z_0-9])", readme)))
    assert len(names) >= 10
    code = ("import darkmodel as dm, operator\n"
            f"for name in {names!r}:\n"
            "    operator.attrgetter(name)(dm)\n"
            "print('ok')\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr
