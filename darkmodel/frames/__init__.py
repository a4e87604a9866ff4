"""The second path: dark frames per bin rather than dark rates per file.

- ``superdark``: per-bin combined dark frames with their hot-bin masks.
- ``reference_files``: superdarks exported as versioned FITS reference files.
"""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    submodules=["reference_files", "superdark"],
    submod_attrs={
        "superdark": ["superdark", "Superdark"],
        "reference_files": ["export_reference"],
    },
)
