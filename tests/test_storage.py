import os

import numpy as np
import pandas as pd
import pytest

from darkmodel.io.storage import errors_path, read_table, table_format, write_table


@pytest.fixture
def table():
    return pd.DataFrame({
        "FILENAME": ["a.fits", "b.fits"], "XUV": ["FUV", "MUV"], "INT_TIME": np.array([4200, 14400]),
        "Time": pd.to_datetime(["2014-11-01 01:00", "2014-11-01 02:00"]), "dark_mean": [1.5, np.nan],
        "PRODUCTION": [True, False],
    })


@pytest.mark.parametrize("suffix", [".parquet", ".h5", ".csv"])
def test_round_trip(tmp_path, table, suffix):
    path = write_table(table, tmp_path / f"summary{suffix}")
    back = read_table(path)
    if suffix == ".csv":
        back["Time"] = pd.to_datetime(back["Time"])
    pd.testing.assert_frame_equal(back, table, check_dtype=suffix != ".csv")
    assert [p.name for p in tmp_path.iterdir()] == [f"summary{suffix}"]  # no temporary file left


def test_hdf5_is_readable_the_seed_way(tmp_path, table):
    pytest.importorskip("tables")
    write_table(table, tmp_path / "l1a_dark_stats.h5")
    pd.testing.assert_frame_equal(pd.read_hdf(tmp_path / "l1a_dark_stats.h5", "df"), table)


def test_a_failed_write_leaves_the_old_file_intact(tmp_path, table, monkeypatch):
    path = write_table(table, tmp_path / "summary.parquet")
    before = path.read_bytes()

    def explode(self, *args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_parquet", explode)
    with pytest.raises(OSError, match="disk full"):
        write_table(table.iloc[:1], path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["summary.parquet"]


def test_formats_and_errors_path(tmp_path):
    assert table_format("x.PARQUET") == "parquet" and table_format("x.hdf5") == "hdf5"
    with pytest.raises(ValueError, match="unknown table format"):
        table_format("x.xlsx")
    with pytest.raises(FileNotFoundError, match="no such summary table"):
        read_table(tmp_path / "missing.parquet")
    assert errors_path("out/summary.parquet").as_posix() == "out/summary.errors.csv"


def test_atomic_write_keeps_a_files_mode_and_never_replaces_a_read_only_file(tmp_path):
    from darkmodel.io.storage import atomic_write

    path = tmp_path / "t.txt"
    path.write_text("old")
    path.chmod(0o640)
    with atomic_write(path) as tmp:
        tmp.write_text("new")
    assert path.read_text() == "new" and (path.stat().st_mode & 0o777) == 0o640
    path.chmod(0o444)
    with pytest.raises(PermissionError, match="read-only"):
        with atomic_write(path) as tmp:
            tmp.write_text("newer")
    assert path.read_text() == "new" and (path.stat().st_mode & 0o777) == 0o444
    assert [p.name for p in tmp_path.iterdir()] == ["t.txt"]  # no temporary file left behind


def test_atomic_write_does_not_replace_a_file_changed_since_it_was_read(tmp_path):
    from darkmodel.io.storage import FileChangedError, atomic_write, file_stamp

    path = tmp_path / "m.json"
    path.write_text("first")
    stamp = file_stamp(path)
    other = tmp_path / "other"
    other.write_text("refitted by someone else")
    os.replace(other, path)  # what a concurrent atomic save does
    with pytest.raises(FileChangedError):
        with atomic_write(path, unchanged_since=stamp) as tmp:
            tmp.write_text("stale")
    assert path.read_text() == "refitted by someone else"
    with atomic_write(path, unchanged_since=file_stamp(path)) as tmp:
        tmp.write_text("fresh")
    assert path.read_text() == "fresh"


def test_a_special_file_or_folder_is_never_replaced_by_a_write(tmp_path):
    """The rule lives in replaceable_mode, which atomic_write and the CLI's output check share."""
    import os

    import pandas as pd

    from darkmodel.io.outputs import check_output
    from darkmodel.io.storage import write_table

    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    with pytest.raises(OSError, match="FIFO"):
        write_table(pd.DataFrame({"a": [1]}), fifo)
    with pytest.raises(OSError, match="FIFO"):
        check_output(fifo)
    assert fifo.is_fifo() and sorted(p.name for p in tmp_path.iterdir()) == ["pipe.csv"]  # no temporary left
    folder = tmp_path / "looks_like.csv"
    folder.mkdir()
    with pytest.raises(IsADirectoryError):
        write_table(pd.DataFrame({"a": [1]}), folder)
