"""Tampered, broken and re-sealed model files: a clear ModelFileError, never a traceback
or a silent load of invalid numbers."""

import copy
import json

import pytest
from click.testing import CliRunner

import darkmodel as dm
from darkmodel.cli import main
from darkmodel.model import persistence
from darkmodel.model.estimator import ModelFileError
from darkmodel.model.persistence import _checksum
from darkmodel.simulate.archive import simulate_table


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    table, _ = simulate_table(n_files=400, scenario="flipflop", random_state=4)
    model = dm.DarkRateModel(n_boot=19, alpha=0.1, n_jobs=1).fit(table)
    path = model.save(tmp_path_factory.mktemp("model") / "m.json")
    return path, json.loads(path.read_text())


def _fitted(doc):
    return next(g for g in doc["groups"] if g["status"] == "fitted")


def _reseal(doc):
    doc = copy.deepcopy(doc)
    doc.pop("checksum", None)
    doc["checksum"] = _checksum(doc)
    return json.dumps(doc, allow_nan=True)


def _edits():
    """(name, edit of the document) pairs; each edit makes the model invalid."""

    def put(path, value):
        def edit(doc):
            target = doc
            for key in path[:-1]:
                target = _fitted(target) if key == "G" else target[key]
            target[path[-1]] = value
        return edit

    nan, inf = float("nan"), float("inf")
    return [
        ("negative weight", put(("G", "mixture", "weights"), [-0.5, 1.5])),
        ("weights not summing to one", put(("G", "mixture", "weights"), [0.2])),
        ("NaN intercept", put(("G", "mixture", "intercepts"), [nan])),
        ("inf coefficient", put(("G", "mixture", "coef"), [inf])),
        ("string intercept", put(("G", "mixture", "intercepts"), ["high"])),
        ("1x1 covariance", put(("G", "mixture", "cov"), [[1.0]])),
        ("asymmetric covariance", lambda d: _fitted(d)["mixture"]["cov"][0].__setitem__(1, 99.0)),
        ("negative-definite covariance", lambda d: _fitted(d)["mixture"].__setitem__(
            "cov", [[-abs(v) if i == j else 0.0 for j, v in enumerate(r)] for i, r in
                    enumerate(_fitted(d)["mixture"]["cov"])])),
        ("NaN covariance", lambda d: _fitted(d)["mixture"]["cov"][0].__setitem__(0, nan)),
        ("negative additive noise", put(("G", "mixture", "noise", "additive"), -1.0)),
        ("NaN relative noise", put(("G", "mixture", "noise", "relative"), nan)),
        ("zero df", put(("G", "mixture", "noise", "df"), 0.0)),
        ("contamination 1.5", put(("G", "mixture", "noise", "contamination"), 1.5)),
        ("negative excess", put(("G", "mixture", "noise", "excess"), -0.1)),
        ("string noise", put(("G", "mixture", "noise", "relative"), "small")),
        ("edited status", put(("G", "status"), "broken")),
        ("channel ECH", put(("G", "XUV"), "ECH")),
        ("channel lower case", put(("G", "XUV"), "muv")),
        ("INT_TIME 0", put(("G", "INT_TIME"), 0)),
        ("INT_TIME text", put(("G", "INT_TIME"), "long")),
        ("reversed temperature range", lambda d: _fitted(d).__setitem__("temp_range", _fitted(d)["temp_range"][::-1])),
        ("NaN temperature range", put(("G", "temp_range"), [nan, nan])),
        ("NaN offset", put(("G", "mixture", "offset"), nan)),
        ("no mixture", lambda d: _fitted(d).pop("mixture")),
        ("no intercepts", put(("G", "mixture", "intercepts"), [])),
        ("more weights than families", put(("G", "mixture", "weights"), [0.2, 0.3, 0.5])),
        ("coefficients not matching the covariates", put(("G", "mixture", "coef"), [0.1, 0.2, 0.3, 0.4, 0.5])),
        ("PIT quantiles above one", lambda d: _fitted(d).__setitem__(
            "pit", {"mixture": {"temperatures": [-18.0], "quantiles": [[2.0] * 107]}, "family": None})),
        ("PIT quantiles of the wrong shape", lambda d: _fitted(d).__setitem__(
            "pit", {"mixture": {"temperatures": [-18.0], "quantiles": [[0.5]]}, "family": None})),
        ("joint offset NaN", lambda d: next(iter(d["joint"].values())).update(offset=nan, identified=True)),
        ("joint covariance 1x1", lambda d: next(iter(d["joint"].values())).update(cov=[[1.0]], identified=True)),
        ("joint channel XYZ", lambda d: d["joint"].__setitem__("XYZ", next(iter(d["joint"].values())))),
        ("schema version 1", put(("schema_version",), 1)),
        ("alpha 2", put(("settings", "alpha"), 2.0)),
        ("k_max 1000", put(("settings", "k_max"), 1000)),
        ("groups not a list", put(("groups",), {"a": 1})),
    ]


_BROKEN = [
    ("deep nesting", lambda text: "[" * 100_000 + "]" * 100_000),
    ("5000-digit integer", lambda text: text.replace('"schema_version": 2', '"schema_version": ' + "9" * 5000, 1)),
    ("binary garbage", lambda text: "\x00\x01\x02" * 50),
    ("empty", lambda text: ""),
    ("top-level list", lambda text: "[1, 2]"),
    ("no checksum", lambda text: json.dumps({k: v for k, v in json.loads(text).items() if k != "checksum"})),
    ("edited without re-sealing", lambda text: text.replace('"n_rows_used": ', '"n_rows_used": 1', 1)),
    ("1e999", lambda text: text.replace('"schema_version": 2', '"schema_version": 1e999', 1)),
] + [(f"truncated at {f:.0%}", lambda text, f=f: text[: int(len(text) * f)]) for f in (0.1, 0.3, 0.5, 0.7, 0.9, 0.99)]


@pytest.mark.parametrize("name,edit", _edits(), ids=[n for n, _ in _edits()])
def test_a_resealed_invalid_model_is_refused(saved, tmp_path, name, edit):
    path, doc = saved
    doc = copy.deepcopy(doc)
    edit(doc)
    bad = tmp_path / "bad.json"
    bad.write_text(_reseal(doc))
    with pytest.raises(ModelFileError) as info:
        dm.DarkRateModel.load(bad)
    assert str(bad) in str(info.value)


@pytest.mark.parametrize("name,spoil", _BROKEN, ids=[n for n, _ in _BROKEN])
def test_a_broken_model_file_is_refused(saved, tmp_path, name, spoil):
    path, _ = saved
    bad = tmp_path / "bad.json"
    bad.write_bytes(spoil(path.read_text()).encode("utf-8", "surrogatepass"))
    with pytest.raises(ModelFileError) as info:
        dm.DarkRateModel.load(bad)
    assert str(bad) in str(info.value)


def test_enough_variants_and_the_cli_says_one_line(saved, tmp_path, monkeypatch):
    assert len(_edits()) + len(_BROKEN) + 3 >= 40
    path, doc = saved
    bad = tmp_path / "bad.json"
    bad.write_text(_reseal({**doc, "groups": [dict(_fitted(doc), status="broken")]}))
    result = CliRunner().invoke(main, ["predict", str(bad), "--channel", "MUV", "--int-time", "4200", "--temp", "-18"])
    assert result.exit_code == 1 and "Traceback" not in result.output and str(bad) in result.output
    assert result.output.count("\n") == 1
    folder = tmp_path / "folder.json"
    folder.mkdir()
    with pytest.raises(ModelFileError, match="is a folder"):
        dm.DarkRateModel.load(folder)
    (tmp_path / "latin1.json").write_bytes(b"{\"a\": \"\xe9\"}")
    with pytest.raises(ModelFileError, match="not UTF-8"):
        dm.DarkRateModel.load(tmp_path / "latin1.json")
    monkeypatch.setattr(persistence, "MAX_MODEL_BYTES", 1000)
    with pytest.raises(ModelFileError, match="too large"):
        dm.DarkRateModel.load(path)
    # the original still loads and predicts
    monkeypatch.undo()
    assert dm.DarkRateModel.load(path).predict([-18.0], channel="MUV", int_time=14400)[0] > 0


@pytest.mark.parametrize("temperature,int_time,match", [
    (float("nan"), 14400, "finite"), (float("inf"), 14400, "finite"), (1.6e8, 14400, "plausible"),
    (-18.0, 0, "positive"), (-18.0, -4200, "positive"), ("warm", 14400, "numbers")])
def test_predict_refuses_absurd_inputs(saved, temperature, int_time, match):
    path, _ = saved
    model = dm.DarkRateModel.load(path)
    with pytest.raises(ValueError, match=match):
        model.predict([temperature], channel="MUV", int_time=int_time)
    with pytest.raises(ValueError, match=match):
        model.predict_interval([temperature], channel="MUV", int_time=int_time)


def test_verdicts_are_stored_only_in_the_model_of_their_data(tmp_path):
    from darkmodel.model.fingerprint import VerdictMismatchError, data_fingerprint

    table, _ = simulate_table(n_files=60, scenario="stable", random_state=11)
    other, _ = simulate_table(n_files=60, scenario="stable", random_state=12)
    model = dm.DarkRateModel(n_boot=19, alpha=0.1, n_jobs=1).fit(table)
    assert model.provenance_["data_fingerprint"] == data_fingerprint(table)
    mine = dm.flipflop_test(table, model, n_boot=19, alpha=0.1, n_jobs=1)
    theirs = dm.flipflop_test(other, model, n_boot=19, alpha=0.1, n_jobs=1)
    path = tmp_path / "m.json"
    with pytest.raises(VerdictMismatchError, match="computed on other data"):
        model.save(path, flipflop=theirs)
    assert not path.exists()
    model.save(path, flipflop=mine)
    loaded = dm.DarkRateModel.load(path)
    assert loaded.flipflop_.settings["data_fingerprint"] == data_fingerprint(table)
    # verdicts made with another model of the same data (a refit) are refused too
    refit = dm.DarkRateModel(n_boot=19, alpha=0.2, n_jobs=1).fit(table)
    with pytest.raises(VerdictMismatchError, match="another model"):
        refit.save(tmp_path / "refit.json", flipflop=mine)


def test_a_model_of_another_schema_version_is_refused_naming_both_versions(saved, tmp_path):
    path, doc = saved
    for version, age in ((1, "an older"), (3, "a newer")):
        other = copy.deepcopy(doc)
        other["schema_version"] = version
        bad = tmp_path / f"v{version}.json"
        bad.write_text(_reseal(other))  # sealed as that version would have sealed it
        with pytest.raises(ModelFileError) as info:
            dm.DarkRateModel.load(bad)
        assert f"written by {age} darkmodel (model schema version {version})" in str(info.value)
        assert "this darkmodel reads version 2" in str(info.value) and str(bad) in str(info.value)
