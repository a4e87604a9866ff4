"""Every error and warning darkmodel raises, in one place at the bottom of the import layers.

Each subpackage raises these and re-exports the ones its users catch (``darkmodel.DarkFileError``,
``darkmodel.ModelFileError``, ...), so no module imports another just for an exception class.
"""

from __future__ import annotations

import os

__all__ = ["InvalidParameterError", "DarkFileError", "FileChangedError", "OutputLockedError", "ModelFileError",
           "UnfittedIntTimeWarning",
           "ExtrapolationWarning", "UnidentifiedModelError", "VerdictMismatchError"]


def _text(path) -> str:
    r"""A path as text any table can store (undecodable bytes shown as ``\\xNN``)."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


class InvalidParameterError(ValueError, TypeError):
    """An argument or estimator parameter outside what it may be (named, with what is allowed).

    A ``ValueError`` and a ``TypeError``, as scikit-learn's, so either ``except`` catches it.
    """


class DarkFileError(ValueError):
    """A dark file that cannot be read, with the file and the reason.

    Parameters
    ----------
    path : path-like
        The offending file.
    reason : str
        What is wrong with it, in words a user can act on.
    """

    def __init__(self, path, reason: str):
        self.path = _text(path)  # a name that is not valid UTF-8 shows its odd bytes as \xNN
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class FileChangedError(OSError):
    """The file to replace was changed by someone else since it was read."""


class OutputLockedError(RuntimeError):
    """Another live process is writing the same output."""


class ModelFileError(ValueError):
    """A model file that cannot be loaded: malformed, truncated, tampered or of a wrong schema."""


class UnfittedIntTimeWarning(UserWarning):
    """A prediction for an INT_TIME that was never fitted, taken from the joint model."""


class ExtrapolationWarning(UserWarning):
    """A prediction outside the temperature range the model was fitted on."""


class UnidentifiedModelError(ValueError):
    """A prediction the data behind the model cannot support (too few files, too short a span...)."""


class VerdictMismatchError(ValueError):
    """Flip-flop verdicts offered to a model fitted on other data (or by another model)."""
