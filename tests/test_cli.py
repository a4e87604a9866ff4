"""The command line, driven as a user would, through click's runner."""

import pandas as pd
import pytest
from click.testing import CliRunner

from darkmodel.cli import main


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "archive"
    result = CliRunner().invoke(main, ["simulate", str(out), "--n-files", "20", "--seed", "3", "--days", "5"])
    assert result.exit_code == 0, result.output
    assert "wrote 20 dark files" in result.output
    return out


def test_scan_writes_parquet_and_the_seed_per_file_table(simulated, tmp_path):
    runner = CliRunner()
    out = tmp_path / "summary.parquet"
    result = runner.invoke(main, ["scan", str(simulated), "-o", str(out), "--workers", "1"])
    assert result.exit_code == 0, result.output
    table = pd.read_parquet(out)
    truth = pd.read_parquet(simulated / "truth.parquet")
    assert len(table) == len(truth)
    per_file = tmp_path / "l1a_dark_stats.h5"
    result = runner.invoke(main, ["scan", str(simulated), "-o", str(per_file), "--per", "file", "--workers", "2"])
    assert result.exit_code == 0, result.output
    assert len(pd.read_hdf(per_file, "df")) == 20
    assert not (tmp_path / "summary.errors.csv").exists()


def test_scan_reports_broken_files_in_an_errors_table(simulated, tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "mvn_bad.fits.gz").write_bytes(b"\x1f\x8bnot really gzip")
    out = tmp_path / "summary.parquet"
    result = CliRunner().invoke(main, ["scan", str(simulated), str(tmp_path / "in"), "-o", str(out), "--workers", "1"])
    assert result.exit_code == 0, result.output
    errors = pd.read_csv(tmp_path / "summary.errors.csv")
    assert errors["file"].str.endswith("mvn_bad.fits.gz").all() and len(errors) == 1
    assert "20 dark products" in result.output and ", 1 errors" in result.output
    # the errors also travel inside the summary: one file, one atomic write
    from darkmodel.io.storage import read_metadata

    assert read_metadata(out)["errors"]["file"][0].endswith("mvn_bad.fits.gz")


def test_scan_update_and_quiet(simulated, tmp_path):
    out = tmp_path / "summary.parquet"
    runner = CliRunner()
    assert runner.invoke(main, ["-q", "scan", str(simulated), "-o", str(out), "--workers", "1"]).exit_code == 0
    first = pd.read_parquet(out)
    # -q after the subcommand works too
    result = runner.invoke(main, ["scan", str(simulated), "-o", str(out), "--update", "--workers", "1", "-q"])
    assert result.exit_code == 0 and result.output == ""
    pd.testing.assert_frame_equal(pd.read_parquet(out), first)


def test_scan_update_counts_and_drops_vanished_files(simulated, tmp_path):
    import shutil

    archive = tmp_path / "archive"
    shutil.copytree(simulated, archive)
    out = tmp_path / "summary.parquet"
    runner = CliRunner()
    result = runner.invoke(main, ["scan", str(archive), "-o", str(out), "--workers", "1"])
    assert "20 files read: 20 dark products" in result.output and "0 duplicate copies skipped, 0 errors" in result.output
    files = sorted(archive.rglob("*.fits*"))
    gone = files[:3]
    for f in gone:
        f.unlink()
    result = runner.invoke(main, ["scan", str(archive), "-o", str(out), "--update", "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert "update: 0 new, 0 changed, 3 removed, 17 unchanged files" in result.output
    table = pd.read_parquet(out)
    assert table["SOURCE_FILE"].nunique() == 17
    assert not table["SOURCE_FILE"].isin([str(f.resolve()) for f in gone]).any()
    # through a symbolic link to the folder: the same files, nothing duplicated
    link = tmp_path / "link"
    link.symlink_to(archive, target_is_directory=True)
    result = runner.invoke(main, ["scan", str(link), "-o", str(out), "--update", "--workers", "1"])
    assert "update: 0 new, 0 changed, 0 removed, 17 unchanged files" in result.output
    assert len(pd.read_parquet(out)) == len(table)


def test_help_loads_no_statistics_or_plotting():
    import subprocess
    import sys

    code = ("import sys; from click.testing import CliRunner; from darkmodel.cli import main; "
            "r = CliRunner().invoke(main, ['--help']); assert r.exit_code == 0; "
            "r = CliRunner().invoke(main, ['scan', '--help']); assert 'Examples' in r.output; "
            "print(sorted(m for m in ('pandas', 'scipy', 'matplotlib', 'statsmodels', 'sklearn', 'astropy', "
            "'numba', 'fitsio') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("command", ["simulate", "scan", "calibrate", "fit", "predict", "flipflop", "report",
                                     "demo"])
def test_every_subcommand_takes_quiet_and_verbose_and_shows_an_example(command):
    result = CliRunner().invoke(main, [command, "--help"])
    assert "-q, --quiet" in result.output and "-v, --verbose" in result.output
    assert "Example" in result.output


def test_scan_of_a_missing_path_is_a_clear_error(tmp_path):
    result = CliRunner().invoke(main, ["scan", str(tmp_path / "nope"), "-o", str(tmp_path / "s.parquet")])
    assert result.exit_code != 0 and "no such file or folder" in result.output


def test_scheduler_comes_from_the_environment(simulated, tmp_path, monkeypatch):
    seen = {}
    import importlib
    scanning = importlib.import_module("darkmodel.io.scanning")  # the CLI imports it on use
    real_scan = scanning.scan

    def spy(paths, **kwargs):
        seen.update(kwargs)
        return real_scan(paths, **{**kwargs, "scheduler": None, "n_jobs": 1})

    monkeypatch.setattr(scanning, "scan", spy)
    result = CliRunner(env={"DASK_SCHEDULER_ADDRESS": "tcp://127.0.0.1:8786"}).invoke(
        main, ["scan", str(simulated), "-o", str(tmp_path / "s.parquet")])
    assert result.exit_code == 0, result.output
    assert seen["scheduler"] == "tcp://127.0.0.1:8786"


@pytest.mark.slow
def test_demo_runs_end_to_end_and_writes_only_into_its_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "models").mkdir()
    result = CliRunner().invoke(main, ["demo", "--outdir", "demo", "--n-files", "80", "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo", "models"]
    assert not any((tmp_path / "models").iterdir())
    model = tmp_path / "demo" / "darkrate.json"
    assert (tmp_path / "demo" / "summary.parquet").exists() and model.exists()
    import json

    provenance = json.loads(model.read_text())["provenance"]
    assert provenance["input"] == "summary.parquet" and str(tmp_path) not in json.dumps(provenance)
    assert "expected dark rate, MUV INT_TIME 4200 ms" in result.output
    assert (tmp_path / "demo" / "report.html").exists() and "Do we have some flip-flopping state" in result.output
    assert "next: open demo/report.html in a browser" in result.output
    # the demo scores its own verdicts against the simulator's truth, every group accounted for
    import re

    card = re.search(r"(\d+) right, (\d+) wrong, (\d+) inconclusive of (\d+) groups", result.output)
    assert card is not None, result.output
    right, wrong, unsure, total = map(int, card.groups())
    assert right + wrong + unsure == total == len(json.loads(model.read_text())["flipflop"]["rows"])


def test_calibrate_fit_predict_chain(simulated, tmp_path):
    runner = CliRunner()
    summary = tmp_path / "summary.parquet"
    assert runner.invoke(main, ["-q", "scan", str(simulated), "-o", str(summary), "--workers", "1"]).exit_code == 0
    calibrated = tmp_path / "calibrated.parquet"
    result = runner.invoke(main, ["calibrate", str(summary), "-o", str(calibrated), "--keep-excluded"])
    assert result.exit_code == 0, result.output
    table = pd.read_parquet(calibrated)
    assert {"DN_per_s", "DET_TEMP", "DET_TEMP_DN", "exclusion", "Time"} <= set(table.columns)
    model_path = tmp_path / "models" / "darkrate.json"
    result = runner.invoke(main, ["fit", str(calibrated), "-o", str(model_path)])
    assert result.exit_code == 0, result.output
    assert "offset" in result.output and model_path.exists()
    import json

    doc = json.loads(model_path.read_text())
    assert doc["provenance"]["input_sha256"].startswith("sha256:")
    result = runner.invoke(main, ["predict", str(model_path), "--channel", "muv", "--int-time", "4000",
                                  "--temp", "-5", "--temp", "0"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert lines[0].startswith("XUV,INT_TIME,DET_TEMP") and len(lines) == 3
    assert "joint model (INT_TIME not fitted)" in lines[1]
    import io

    shown = pd.read_csv(io.StringIO(result.stdout))
    # -5 and 0 degC lie far above the simulated -24 to -10 degC, and 4000 ms was never fitted:
    # flagged in columns and in words, and said on stderr
    assert shown["extrapolated"].all() and not shown["int_time_fitted"].any()
    assert shown["flags"].str.contains("temperature outside the fitted").all()
    assert shown["flags"].str.contains("INT_TIME 4000 ms never fitted").all()
    assert "temperature outside the fitted" in result.stderr and "never fitted" in result.stderr
    result = runner.invoke(main, ["predict", str(model_path), "--channel", "MUV", "--int-time", "4000",
                                  "--temp", "-5", "--json"])
    rows = json.loads(result.stdout)
    assert rows[0]["lower"] < rows[0]["DN_per_s"] < rows[0]["upper"]


def test_predict_reports_a_broken_model_file(tmp_path):
    bad = tmp_path / "m.json"
    bad.write_text("{not json")
    result = CliRunner().invoke(main, ["predict", str(bad), "--channel", "FUV", "--int-time", "4200", "--temp", "-18"])
    assert result.exit_code != 0 and "malformed or truncated" in result.output


def test_flipflop_command_writes_verdicts_and_stores_them_in_the_model(simulated, tmp_path):
    runner = CliRunner()
    summary = tmp_path / "summary.parquet"
    assert runner.invoke(main, ["-q", "scan", str(simulated), "-o", str(summary), "--workers", "1"]).exit_code == 0
    model_path = tmp_path / "m.json"
    assert runner.invoke(main, ["fit", str(summary), "-o", str(model_path)]).exit_code == 0
    out = tmp_path / "flipflop.csv"
    result = runner.invoke(main, ["flipflop", str(summary), "-o", str(out), "--model", str(model_path),
                                  "--n-boot", "39", "--jobs", "1"])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out)
    assert table["reason"].str.len().gt(10).all()  # every verdict says why
    for r in table.itertuples():
        assert f"{r.XUV} {r.INT_TIME} ms: {r.verdict}: " in result.output
    assert "verdict" in result.output and "stored in" in result.output
    missing = runner.invoke(main, ["flipflop", str(summary), "-o", str(out), "--model", str(tmp_path / "no.json")])
    assert missing.exit_code == 1 and "no such model file" in missing.output
    refused = runner.invoke(main, ["flipflop", str(summary), "-o", str(out), "--n-boot", "99", "--alpha", "0.01"])
    assert refused.exit_code == 1 and "cannot reject at alpha=0.01" in refused.output
    assert "Traceback" not in refused.output
    import json

    assert json.loads(model_path.read_text())["flipflop"] is not None


@pytest.mark.slow
def test_report_command_writes_html_and_pdf(simulated, tmp_path):
    runner = CliRunner()
    summary = tmp_path / "summary.parquet"
    assert runner.invoke(main, ["-q", "scan", str(simulated), "-o", str(summary), "--workers", "1"]).exit_code == 0
    model_path = tmp_path / "m.json"
    assert runner.invoke(main, ["fit", str(summary), "-o", str(model_path)]).exit_code == 0
    for name in ("r.html", "r.pdf"):
        result = runner.invoke(main, ["report", str(summary), "--model", str(model_path), "-o", str(tmp_path / name)])
        assert result.exit_code == 0, result.output
        assert (tmp_path / name).stat().st_size > 10_000


@pytest.mark.slow
def test_report_needs_a_model_and_warns_when_it_belongs_to_other_data(simulated, tmp_path):
    runner = CliRunner()
    summary = tmp_path / "summary.parquet"
    assert runner.invoke(main, ["-q", "scan", str(simulated), "-o", str(summary), "--workers", "1"]).exit_code == 0
    result = runner.invoke(main, ["report", str(summary), "-o", str(tmp_path / "r.html")])
    assert result.exit_code == 1 and "--model" in result.output
    model_path = tmp_path / "m.json"
    assert runner.invoke(main, ["fit", str(summary), "-o", str(model_path)]).exit_code == 0
    other = tmp_path / "other.parquet"
    pd.read_parquet(summary).iloc[: len(pd.read_parquet(summary)) // 2].to_parquet(other)
    result = runner.invoke(main, ["report", str(other), "--model", str(model_path), "-o", str(tmp_path / "r.html")])
    assert result.exit_code == 0, result.output
    assert "fitted on other data" in result.stderr
    assert "this model or its verdicts may not belong to these data" in (tmp_path / "r.html").read_text()
    # the calibrated table of the same archive is the same data: no warning about the data
    calibrated = tmp_path / "calibrated.csv"
    assert runner.invoke(main, ["calibrate", str(summary), "-o", str(calibrated)]).exit_code == 0
    result = runner.invoke(main, ["report", str(calibrated), "--model", str(model_path), "-o", str(tmp_path / "r.html")])
    assert result.exit_code == 0, result.output
    assert "other data" not in result.stderr and "another file" not in result.stderr
    # ... but a model without verdicts is said plainly, with how to get them
    assert "holds no flip-flop verdicts" in result.stderr and "darkmodel flipflop" in result.stderr


@pytest.mark.parametrize("command", ["fit", "flipflop"])
def test_a_table_without_usable_rows_is_one_clear_line(simulated, tmp_path, command):
    runner = CliRunner()
    summary = tmp_path / "summary.parquet"
    assert runner.invoke(main, ["-q", "scan", str(simulated), "-o", str(summary), "--workers", "1"]).exit_code == 0
    calibrated = tmp_path / "calibrated.parquet"
    assert runner.invoke(main, ["calibrate", str(summary), "-o", str(calibrated)]).exit_code == 0
    empty = tmp_path / "empty.parquet"
    pd.read_parquet(calibrated).iloc[0:0].to_parquet(empty)
    args = [command, str(empty), "-o", str(tmp_path / ("m.json" if command == "fit" else "v.csv"))]
    result = runner.invoke(main, args)
    assert result.exit_code == 1, result.output
    assert result.output.count("\n") == 1 and "no usable rows" in result.output


@pytest.mark.slow
def test_a_stale_dask_scheduler_is_one_clear_line(tmp_path):
    pytest.importorskip("distributed")
    result = CliRunner().invoke(main, ["scan", "tests/data/real", "-o", str(tmp_path / "s.parquet")],
                                env={"DASK_SCHEDULER_ADDRESS": "tcp://127.0.0.1:9"})
    assert result.exit_code == 1 and "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in result.output
    assert "Traceback" not in result.output


def test_csv_outputs_cannot_carry_formulas(tmp_path):
    from darkmodel.io.storage import write_table

    write_table(pd.DataFrame({"file": ["=HYPERLINK(\"x\")", "@sum", "ok"], "n": [-1.5, 2.0, 3.0]}), tmp_path / "e.csv")
    back = pd.read_csv(tmp_path / "e.csv")
    assert back["file"].tolist() == ["'=HYPERLINK(\"x\")", "'@sum", "ok"] and back["n"].tolist() == [-1.5, 2.0, 3.0]


def test_compare_l1b_reports_every_file():
    from pathlib import Path

    files = sorted(str(p) for p in (Path(__file__).parent / "data" / "real-lights").glob("*.fits.gz"))
    result = CliRunner().invoke(main, ["compare-l1b", *files])
    assert result.exit_code == 0, result.output
    assert "max_abs_diff" in result.output and " 151 " in result.output


@pytest.fixture(scope="module")
def two_archives(simulated, tmp_path_factory):
    """Scan tables of two archives and a model fitted on the first."""
    runner = CliRunner()
    root = tmp_path_factory.mktemp("two")
    other = root / "archive-b"
    assert runner.invoke(main, ["-q", "simulate", str(other), "--n-files", "20", "--seed", "4", "--days", "5"]).exit_code == 0
    a, b = root / "a.parquet", root / "b.parquet"
    for archive, out in ((simulated, a), (other, b)):
        assert runner.invoke(main, ["-q", "scan", str(archive), "-o", str(out), "--workers", "1"]).exit_code == 0
    model = root / "a.json"
    assert runner.invoke(main, ["-q", "fit", str(a), "-o", str(model), "--jobs", "1"]).exit_code == 0
    return a, b, model


def test_flipflop_refuses_to_store_verdicts_of_other_data_in_a_model(two_archives, tmp_path):
    a, b, model = two_archives
    before = model.read_bytes()
    result = CliRunner().invoke(main, ["flipflop", str(b), "--model", str(model), "-o", str(tmp_path / "f.csv"),
                                       "--n-boot", "39", "--jobs", "1"])
    assert result.exit_code == 1
    assert "fitted on other data" in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert model.read_bytes() == before and not (tmp_path / "f.csv").exists()


def test_flipflop_never_replaces_a_read_only_model(two_archives, tmp_path):
    import shutil

    a, _, model = two_archives
    mine = tmp_path / "m.json"
    shutil.copy(model, mine)
    mine.chmod(0o444)
    before = mine.read_bytes()
    result = CliRunner().invoke(main, ["flipflop", str(a), "--model", str(mine), "-o", str(tmp_path / "f.csv"),
                                       "--n-boot", "39", "--jobs", "1"])
    assert result.exit_code == 1 and "read-only" in result.output and "Traceback" not in result.output
    assert mine.read_bytes() == before and (mine.stat().st_mode & 0o777) == 0o444


def test_verdicts_of_other_data_are_flagged_in_the_report(two_archives, tmp_path):
    from darkmodel import DarkRateModel, flipflop_test
    from darkmodel.calibration.chain import calibrate
    from darkmodel.reporting.report import verdict_notes

    a, b, model_path = two_archives
    model = DarkRateModel.load(model_path)
    cal_b = calibrate(pd.read_parquet(b))
    verdicts_b = flipflop_test(cal_b, model, n_boot=39, n_jobs=1)
    cal_a = calibrate(pd.read_parquet(a))
    assert verdict_notes(cal_b, model, verdicts_b) == []
    notes = verdict_notes(cal_a, model, verdicts_b)
    assert len(notes) == 1 and "computed on other data" in notes[0]
    # the same through a verdict table read back from disk (settings travel in .attrs)
    assert verdict_notes(cal_a, model, verdicts_b.to_frame()) == notes
