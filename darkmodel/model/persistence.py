"""Saved models: JSON with a schema version and a checksum, validated in every number.

A model file is data, never a pickle: ``schema`` and ``schema_version``, ``provenance``
(package version, when, the input's file name and SHA-256 -- never the user's folders),
``settings``, ``units``, the joint models, the groups with their families, noise models
and interval recalibration, and the flip-flop verdicts with their settings.

On loading, in this order: a size limit (:data:`MAX_MODEL_BYTES`), JSON parsing (a
malformed, truncated or absurdly nested file, or a number of thousands of digits, is
refused), the JSON schema, the checksum, and then every number: finite where it must be,
weights that form a distribution, covariances that are symmetric positive semi-definite
and of the right size, noise parameters in their ranges, ordered temperature ranges.

**What the checksum protects against**: accidental corruption and editing by hand (a
changed byte no longer matches).  It is a plain SHA-256 of the content, not a signature:
anyone can edit a file and recompute it ("re-seal" it).  The number checks are what stand
between a re-sealed file and a confident nonsense prediction.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np

from ..exceptions import ModelFileError
from ..io.storage import atomic_write
from ..stats.joint import QUANTILE_LEVELS, JointModel
from ..stats.mixture import REFERENCE_TEMPERATURE
from .group import GroupFit
from .verdicts import FlipFlopResult

__all__ = ["SCHEMA_VERSION", "model_document", "model_from_document", "save_model",
           "load_model", "validate_schema", "check_model", "MAX_MODEL_BYTES"]

#: Version of the model file's schema; a file of another version is refused with a message naming both.
SCHEMA_VERSION = 2

#: Largest model file accepted (bytes).
MAX_MODEL_BYTES = 64 * 2**20


def _checksum(doc: dict) -> str:
    canonical = json.dumps(doc, sort_keys=True, separators=(",", ":"), allow_nan=True)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def save_model(model, path, flipflop=None, *, unchanged_since: tuple | None = None) -> Path:
    """Write ``model.to_dict(flipflop)`` with its checksum to ``path``, atomically.

    Parameters
    ----------
    model : DarkRateModel
        A fitted model.
    path : path-like
        Target file.
    flipflop : FlipFlopResult, optional
        Verdicts to store with it.
    unchanged_since : tuple, optional
        :func:`darkmodel.io.storage.file_stamp` of ``path`` when the model was read: a file
        rewritten since (a refit while the test ran) is not replaced.

    Returns
    -------
    pathlib.Path
        The written file.

    Raises
    ------
    VerdictMismatchError
        When ``flipflop`` was computed on other data than the model was fitted on, or
        with another model (:meth:`~darkmodel.FlipFlopResult.mismatch`); nothing is written.
    PermissionError
        When ``path`` is a read-only file (it is never replaced).
    darkmodel.io.storage.FileChangedError
        When ``path`` changed after ``unchanged_since`` was taken.
    """
    if flipflop is not None:
        from .fingerprint import VerdictMismatchError

        problem = flipflop.mismatch(model)
        if problem:
            raise VerdictMismatchError(f"{path}: verdicts not stored: {problem}")
    doc = model.to_dict(flipflop=flipflop)
    doc["checksum"] = _checksum(doc)
    path = Path(path)
    with atomic_write(path, unchanged_since=unchanged_since) as tmp:
        tmp.write_text(json.dumps(doc, indent=1, allow_nan=True) + "\n")
    return path


#: Units of the numbers in a model file.
UNITS = {"DN_per_s": "DN/s/pixel", "temperature": "degC", "INT_TIME": "ms", "offset": "DN/pixel per read",
         "noise_additive": "DN/s/pixel per integration", "noise_relative": "fraction of the dark current"}


def model_document(model, flipflop=None, *, extrapolation_margin: float) -> dict:
    """A fitted model as plain JSON-able data: the model file's content before its checksum.

    Parameters
    ----------
    model : DarkRateModel
        A fitted model.
    flipflop : FlipFlopResult, optional
        Verdicts to store with it (default: those it was loaded with, if any).
    extrapolation_margin : float
        The estimator's margin (degC) beyond the fitted range, recorded with the settings.

    Returns
    -------
    dict
    """
    flipflop = flipflop if flipflop is not None else getattr(model, "flipflop_", None)
    params = model.get_params()
    return {
        "schema": "darkmodel.DarkRateModel", "schema_version": SCHEMA_VERSION,
        "provenance": json.loads(json.dumps(getattr(model, "provenance_", {}), default=str)),
        "settings": {**params, "seed": params["random_state"], "reference_temperature": REFERENCE_TEMPERATURE,
                     "extrapolation_margin": extrapolation_margin},
        "units": UNITS,
        "joint": {ch: j.to_dict() for ch, j in sorted(model.joint_.items())},
        "groups": [g.to_dict() for _, g in sorted(model.groups_.items())],
        "flipflop": None if flipflop is None else flipflop.to_dict(),
    }


def model_from_document(cls, doc: dict):
    """Rebuild a model from :func:`model_document` data, validated against the schema first.

    Parameters
    ----------
    cls : type
        The model class (its parameters are taken from the document's settings).
    doc : dict
        The document.

    Returns
    -------
    DarkRateModel
    """
    validate_schema(doc)
    s = dict(doc["settings"])
    s.setdefault("random_state", s.get("seed", 0))
    model = cls(**{k: s[k] for k in cls().get_params() if k in s})
    model.provenance_ = doc["provenance"]
    model.joint_ = {ch: JointModel.from_dict(j) for ch, j in doc["joint"].items()}
    model.groups_ = {}
    for entry in doc["groups"]:
        g = GroupFit.from_dict(entry)
        model.groups_[(g.xuv, g.int_time)] = g
    model.flipflop_ = None if doc.get("flipflop") is None else FlipFlopResult.from_dict(doc["flipflop"])
    check_model(model)
    return model


def load_model(path, cls):
    """Read, check and rebuild a model saved by :func:`save_model`.

    Parameters
    ----------
    path : path-like
        A model file.
    cls : type
        The model class, which rebuilds itself from the checked document (``cls.from_dict``;
        this module does not import the estimator, which imports it).

    Returns
    -------
    DarkRateModel

    Raises
    ------
    ModelFileError
        For every way the file can be wrong; the message names the file and the problem.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_MODEL_BYTES:
            raise ModelFileError(f"{path}: {size / 2**20:.0f} MiB is too large for a model file "
                                 f"(limit {MAX_MODEL_BYTES / 2**20:.0f} MiB)")
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ModelFileError(f"{path}: no such model file") from None
    except IsADirectoryError:
        raise ModelFileError(f"{path}: is a folder, not a model file") from None
    except UnicodeDecodeError as exc:
        raise ModelFileError(f"{path}: not a valid model file (not UTF-8 text: {exc.reason})") from None
    except OSError as exc:
        raise ModelFileError(f"{path}: cannot read ({exc.strerror or exc})") from None
    try:
        doc = json.loads(text)
    except RecursionError:
        raise ModelFileError(f"{path}: not a valid model file (nested too deeply)") from None
    except ValueError as exc:  # JSONDecodeError, and integers of thousands of digits
        raise ModelFileError(f"{path}: not a valid model file (malformed or truncated JSON: {exc})") from None
    if not isinstance(doc, dict):
        raise ModelFileError(f"{path}: not a darkmodel model file (top level is not an object)")
    recorded = doc.pop("checksum", None)
    if recorded is None:
        raise ModelFileError(f"{path}: no checksum; not a file written by DarkRateModel.save")
    try:
        validate_schema(doc)
    except ModelFileError as exc:
        raise ModelFileError(f"{path}: {exc}") from None
    if _checksum(doc) != recorded:
        raise ModelFileError(f"{path}: checksum mismatch: the file was edited or corrupted after it was saved")
    try:
        return cls.from_dict(doc)
    except ModelFileError as exc:
        raise ModelFileError(f"{path}: {exc}") from None
    except (KeyError, TypeError, ValueError, IndexError, OverflowError, AttributeError) as exc:
        raise ModelFileError(f"{path}: inconsistent model content ({type(exc).__name__}: {exc})") from None


_NUMBER = {"type": "number"}
_SCHEMA = {
    "type": "object",
    "required": ["schema", "schema_version", "provenance", "settings", "joint", "groups"],
    "properties": {
        "schema": {"const": "darkmodel.DarkRateModel"},
        "schema_version": {"const": SCHEMA_VERSION},
        "provenance": {"type": "object"},
        "settings": {"type": "object", "required": ["method", "k_max", "min_files", "alpha", "n_boot",
                                                    "min_separation", "min_family_files", "min_weight"],
                     "properties": {"method": {"enum": ["mixreg", "gmm"]},
                                    "k_max": {"type": "integer", "minimum": 1, "maximum": 10},
                                    "alpha": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
                                    "n_boot": {"type": "integer", "minimum": 1}}},
        "joint": {"type": "object", "propertyNames": {"enum": ["FUV", "MUV"]}, "additionalProperties": {
            "type": "object", "required": ["offset", "p", "q", "cov", "scale", "n_rows", "int_times", "identified",
                                           "reason", "temp_range"],
            "properties": {"offset": _NUMBER, "p": _NUMBER, "q": _NUMBER, "scale": _NUMBER,
                           "identified": {"type": "boolean"}, "reason": {"type": "string"},
                           "n_rows": {"type": "integer", "minimum": 0},
                           "int_times": {"type": "array", "items": {"type": "integer", "minimum": 1}},
                           "cov": {"type": "array", "items": {"type": "array", "items": _NUMBER}},
                           "temp_range": {"type": "array", "items": _NUMBER, "minItems": 2, "maxItems": 2}}}},
        "groups": {"type": "array", "items": {
            "type": "object", "required": ["XUV", "INT_TIME", "n_rows", "n_files", "status", "temp_range"],
            "properties": {
                "XUV": {"enum": ["FUV", "MUV"]},
                "INT_TIME": {"type": "integer", "minimum": 1},
                "n_rows": {"type": "integer", "minimum": 0},
                "n_files": {"type": "integer", "minimum": 0},
                "status": {"type": "string"},
                "reason": {"type": "string"},
                "temp_range": {"type": "array", "items": _NUMBER, "minItems": 2, "maxItems": 2},
                "mixture": {"type": "object", "required": ["method", "intercepts", "coef", "covariates", "noise",
                                                           "weights", "offset"],
                            "properties": {"intercepts": {"type": "array", "minItems": 1, "maxItems": 10,
                                                          "items": _NUMBER},
                                           "weights": {"type": "array", "minItems": 1, "maxItems": 10,
                                                       "items": _NUMBER},
                                           "coef": {"type": "array", "items": _NUMBER},
                                           "offset": _NUMBER,
                                           "noise": {"type": "object",
                                                     "required": ["additive", "relative", "df"]}}},
            },
            "if": {"properties": {"status": {"const": "fitted"}}},
            "then": {"required": ["mixture", "selection", "reason"]},
        }},
    },
}


def validate_schema(doc: dict) -> None:
    """Check a model document against the JSON schema.

    Parameters
    ----------
    doc : dict
        Parsed model JSON without its checksum.

    Raises
    ------
    ModelFileError
        Naming where the document fails.
    """
    import jsonschema

    version = doc.get("schema_version") if isinstance(doc, dict) else None
    if isinstance(version, int) and not isinstance(version, bool) and version != SCHEMA_VERSION:
        age = "an older" if version < SCHEMA_VERSION else "a newer"
        raise ModelFileError(f"written by {age} darkmodel (model schema version {version}); this darkmodel reads "
                             f"version {SCHEMA_VERSION}: fit the model again with this version")
    try:
        jsonschema.validate(doc, _SCHEMA)
    except jsonschema.ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "(top level)"
        raise ModelFileError(f"schema check failed at {where}: {exc.message[:200]}") from None


def _finite(name, values):
    v = np.asarray(values, float)
    if not np.all(np.isfinite(v)):
        raise ValueError(f"{name} is not finite")
    return v


def _covariance(name, cov, size):
    c = _finite(name, cov)
    if c.shape != (size, size):
        raise ValueError(f"{name} is {c.shape}, not {size}x{size}")
    if not np.allclose(c, c.T, rtol=1e-6, atol=1e-12 * max(1.0, float(np.abs(c).max()))):
        raise ValueError(f"{name} is not symmetric")
    eig = np.linalg.eigvalsh(0.5 * (c + c.T))
    if eig.min() < -1e-8 * max(1.0, float(np.abs(eig).max())):
        raise ValueError(f"{name} is not positive semi-definite")


def check_model(model) -> None:
    """Every number of a rebuilt model where it belongs.

    Parameters
    ----------
    model : DarkRateModel
        A model rebuilt from a file.

    Raises
    ------
    ModelFileError
        Naming the group or channel and the problem.
    """
    for ch, joint in model.joint_.items():
        try:
            if joint.identified:
                for name in ("offset", "p", "q", "scale"):
                    _finite(name, getattr(joint, name))
                _covariance("cov", joint.cov, 3)
                if joint.scale < 0:
                    raise ValueError("scale is negative")
                for name in ("scatter_additive", "scatter_relative", "group_bias"):  # NaN: not measured
                    value = getattr(joint, name)
                    if math.isinf(value) or value < 0:
                        raise ValueError(f"{name} must be >= 0 and finite (or NaN: not measured)")
                if joint.residual_quantiles:
                    times = _finite("residual_quantiles int_times", joint.residual_quantiles["int_times"])
                    q = _finite("residual_quantiles q", joint.residual_quantiles["q"])
                    if q.ndim != 2 or q.shape != (times.size, len(QUANTILE_LEVELS)) or np.any(np.diff(q, axis=1) < 0) \
                            or np.any(times <= 0) or np.any(np.diff(times) <= 0):
                        raise ValueError("residual_quantiles are not increasing quantiles per increasing INT_TIME")
        except ValueError as exc:
            raise ModelFileError(f"joint model {ch}: {exc}") from None
    for (xuv, it), g in model.groups_.items():
        try:
            lo, hi = _finite("temp_range", g.temp_range) if g.fitted else (0.0, 0.0)
            if lo > hi:
                raise ValueError("temp_range is not ordered")
            if not g.fitted:
                if g.status.startswith(("too small", "not identifiable")):
                    continue
                raise ValueError(f"status {g.status[:60]!r} is neither 'fitted' nor a reason not to fit")
            m = g.law
            k = len(m.intercepts)
            _finite("intercepts", m.intercepts)
            _finite("coef", m.coef)
            _finite("offset", m.offset)
            w = _finite("weights", m.weights)
            if len(w) != k or np.any(w < 0) or abs(w.sum() - 1) > 1e-6:
                raise ValueError("weights are not a distribution over the families (>= 0, summing to 1)")
            if m.method != "gmm" and len(np.atleast_1d(m.coef)) != m.covariates.n_columns:
                raise ValueError("coef does not match the covariates")
            if m.cov is not None:
                _covariance("cov", m.cov, k + len(np.atleast_1d(m.coef)))
            if m.is_epochs:
                _finite("epoch_cut", m.extra["epoch_cut"])
                if k != 2 or sorted(int(f) for f in m.extra["epoch_families"]) != [0, 1]:
                    raise ValueError("epoch_families must name families 0 and 1 of a two-family fit")
            n = m.noise
            for name in ("additive", "relative", "excess_scale"):
                if not (math.isfinite(getattr(n, name)) and getattr(n, name) >= 0):
                    raise ValueError(f"noise {name} must be finite and >= 0")
            if not (n.df > 0):
                raise ValueError("noise df must be > 0")
            if not (0 <= n.contamination < 1 and 0 <= n.excess < 1):
                raise ValueError("noise contamination and excess must lie in [0, 1)")
            for key, cal in g.pit.items():
                if cal is not None:
                    q = _finite(f"pit {key}", cal.quantiles)
                    _finite(f"pit {key} temperatures", cal.temperatures)
                    if np.any(q < 0) or np.any(q > 1) or np.any(np.diff(q, axis=1) < 0):
                        raise ValueError(f"pit {key} quantiles are not increasing probabilities")
        except (ValueError, TypeError, AttributeError) as exc:
            raise ModelFileError(f"group {xuv} {it} ms: {exc}") from None
