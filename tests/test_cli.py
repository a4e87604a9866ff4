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
    assert "1 files could not be read" in result.output


def test_scan_update_and_quiet(simulated, tmp_path):
    out = tmp_path / "summary.parquet"
    runner = CliRunner()
    assert runner.invoke(main, ["-q", "scan", str(simulated), "-o", str(out), "--workers", "1"]).exit_code == 0
    first = pd.read_parquet(out)
    result = runner.invoke(main, ["-q", "scan", str(simulated), "-o", str(out), "--update", "--workers", "1"])
    assert result.exit_code == 0 and result.output == ""
    pd.testing.assert_frame_equal(pd.read_parquet(out), first)


def test_scan_of_a_missing_path_is_a_clear_error(tmp_path):
    result = CliRunner().invoke(main, ["scan", str(tmp_path / "nope"), "-o", str(tmp_path / "s.parquet")])
    assert result.exit_code != 0 and "no such file or folder" in result.output


def test_scheduler_comes_from_the_environment(simulated, tmp_path, monkeypatch):
    seen = {}
    import importlib
    cli = importlib.import_module("darkmodel.cli")
    real_scan = cli.scan

    def spy(paths, **kwargs):
        seen.update(kwargs)
        return real_scan(paths, **{**kwargs, "scheduler": None, "workers": 1})

    monkeypatch.setattr(cli, "scan", spy)
    result = CliRunner(env={"DASK_SCHEDULER_ADDRESS": "tcp://127.0.0.1:8786"}).invoke(
        main, ["scan", str(simulated), "-o", str(tmp_path / "s.parquet")])
    assert result.exit_code == 0, result.output
    assert seen["scheduler"] == "tcp://127.0.0.1:8786"


def test_demo_runs_end_to_end(tmp_path):
    model = tmp_path / "models" / "darkrate.json"
    result = CliRunner().invoke(main, ["demo", "--outdir", str(tmp_path / "demo"), "--model", str(model),
                                       "--n-files", "80", "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "demo" / "summary.parquet").exists() and model.exists()
    assert "expected dark rate, MUV INT_TIME 4200 ms" in result.output
    assert (tmp_path / "demo" / "report.html").exists() and "Do we have some flip-flopping state" in result.output


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
    # -5 and 0 degC lie far above the simulated -24 to -10 degC: flagged, and said on stderr
    assert lines[0].endswith(",extrapolated") and lines[1].endswith(",True") and lines[2].endswith(",True")
    assert "outside the fitted range" in result.stderr
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
    refused = runner.invoke(main, ["flipflop", str(summary), "-o", str(out), "--n-boot", "99", "--alpha", "0.01"])
    assert refused.exit_code == 1 and "cannot reject at alpha=0.01" in refused.output
    assert "Traceback" not in refused.output
    import json

    assert json.loads(model_path.read_text())["flipflop"] is not None


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
