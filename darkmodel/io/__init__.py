"""Files in and tables out: the first step of the data path.

- ``filenames``: IUVS file names (``mvn_iuv_l1a_...``), their fields and which version is current.
- ``read``: one L1A dark FITS file, opened safely, to its dark products and header values.
- ``l1b``: real Level-1B files' dark copies and the dark the pipeline subtracted.
- ``scanning``: a folder or a list of files to one row per integration (in parallel).
- ``tables``: the column types of scan and calibrated tables.
- ``storage``: atomic writes, staged folders and Parquet/CSV tables.
- ``outputs``: where an output may be written, checked before any work.

Nothing here knows about calibration or models; every other layer reads through it.
"""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    submodules=["filenames", "l1b", "outputs", "read", "scanning", "storage", "tables"],
    submod_attrs={
        "read": ["read_dark", "DarkFileError"],
        "scanning": ["scan", "ScanResult", "find_files"],
        "storage": ["read_table", "write_table"],
        "filenames": ["parse_filename", "IUVSFilename"],
        "l1b": ["pipeline_dark", "compare_with_pipeline"],
    },
)
