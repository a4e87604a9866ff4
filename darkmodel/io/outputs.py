"""Outputs checked before any work: a known suffix, a folder that exists or can be made and
can be written, room on its disk, not a special file, not a read-only file, not an input.

Every writing command of the CLI and every writing function of the API calls these first,
so a bad output costs nothing and ends with one line naming it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterable, Sequence

from .storage import replaceable_mode

__all__ = ["check_output", "check_output_folder", "MIN_FREE_BYTES"]

#: Free space an output's disk must have before the work starts (bytes); a write that
#: needs more still fails cleanly (atomic writes) when the disk fills.
MIN_FREE_BYTES = 4 * 2**20


def _existing_ancestor(folder: Path) -> Path:
    """The nearest existing ancestor of ``folder``; refuses a file where a folder is needed."""
    for candidate in (folder, *folder.parents):
        if candidate.exists():
            if not candidate.is_dir():
                raise NotADirectoryError(f"{candidate} is a file, not a folder")
            return candidate
    return Path.cwd()  # pragma: no cover - a relative path always ends at '.'


def _check_writable_folder(folder: Path, need_bytes: int) -> None:
    base = _existing_ancestor(folder)
    try:  # a real probe: permissions, a read-only mount and ACLs all answer here (root too)
        with tempfile.TemporaryFile(dir=base, prefix=".darkmodel-probe-"):
            pass
    except OSError as exc:
        raise PermissionError(f"{base}: cannot write here ({exc.strerror or exc})") from None
    free = shutil.disk_usage(base).free
    if free < need_bytes:
        raise OSError(f"{base}: only {free / 2**20:.1f} MiB free on its disk; at least "
                      f"{need_bytes / 2**20:.0f} MiB needed")


def _not_an_input(path: Path, inputs: Iterable, name: str) -> None:
    for source in inputs:
        if source is not None and _same_file(path, Path(source)):
            raise ValueError(f"{name} {path} is also an input; write elsewhere")


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.realpath(a) == os.path.realpath(b) or (a.exists() and b.exists() and a.samefile(b))
    except OSError:
        return False


def check_output(path, *, suffixes: Sequence[str] | None = None, inputs: Iterable = (),
                 name: str = "output", need_bytes: int = MIN_FREE_BYTES) -> Path:
    """An output file that can be written: checked before the work that produces it.

    Parameters
    ----------
    path : path-like
        The output file.
    suffixes : sequence of str, optional
        The endings a writer knows (e.g. ``(".parquet", ".h5", ".csv")``); ``None``: any.
    inputs : iterable of path-like, optional
        The command's inputs: the output may not be one of them.
    name : str, optional
        What the output is, for the message.
    need_bytes : int, optional
        Free space its disk must have.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    ValueError
        Unknown suffix, or the output is one of the inputs.
    IsADirectoryError, NotADirectoryError, PermissionError, OSError
        A folder where the file should be, a file where a folder should be, a folder or
        read-only file that cannot be written, a special file (FIFO, device), or too
        little room on the disk.
    """
    path = Path(path)
    if suffixes is not None and not path.name.lower().endswith(tuple(suffixes)):
        raise ValueError(f"{name} {path}: unknown file type; use a name ending in " + ", ".join(suffixes))
    _not_an_input(path, inputs, name)
    if path.is_symlink() and not path.exists():
        raise OSError(f"{name} {path} is a dangling link; give another name")
    try:  # the rule atomic_write applies: no folder, no special file, no read-only file is replaced
        replaceable_mode(path)
    except OSError as exc:
        raise type(exc)(f"{name} {path} {exc.strerror}") from None
    _check_writable_folder(path.parent, need_bytes)
    return path


def check_output_folder(path, *, inputs: Iterable = (), name: str = "output folder",
                        need_bytes: int = MIN_FREE_BYTES) -> Path:
    """An output folder that exists or can be made, and can be written.

    Parameters
    ----------
    path : path-like
        The folder.
    inputs : iterable of path-like, optional
        Input files, which may not be the folder.
    name : str, optional
        What the folder is, for the message.
    need_bytes : int, optional
        Free space its disk must have.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    ValueError, NotADirectoryError, PermissionError, OSError
        As :func:`check_output`.
    """
    path = Path(path)
    _not_an_input(path, inputs, name)
    if path.exists() and not path.is_dir():
        raise NotADirectoryError(f"{name} {path} is a file, not a folder")
    _check_writable_folder(path, need_bytes)
    return path
