"""Sphinx configuration of the darkmodel documentation (built by tests/test_docs.py with -W).

The notebook (``notebooks/dark_families.ipynb``, stored without outputs) is copied into
``docs/generated/`` and executed by myst-nb at every build, so the docs show its real output.
"""

import shutil
from pathlib import Path

_HERE = Path(__file__).resolve().parent
(_HERE / "generated").mkdir(exist_ok=True)
shutil.copy2(_HERE.parent / "notebooks" / "dark_families.ipynb", _HERE / "generated" / "dark_families.ipynb")

project = "darkmodel"
author = "the darkmodel developers"
copyright = "2026, the darkmodel developers"
extensions = ["sphinx.ext.autodoc", "sphinx.ext.autosummary", "sphinx.ext.mathjax", "numpydoc", "sphinx_click",
              "myst_nb"]
nb_execution_mode = "force"  # the notebook runs at every build: its output is today's
nb_execution_timeout = 600
nb_execution_raise_on_error = True
autosummary_generate = False
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
autodoc_member_order = "bysource"
exclude_patterns = ["_build", "seed/dark-families-notebook.txt", "seed/README.md"]
html_theme = "alabaster"
html_static_path = ["_static"]
html_css_files = ["custom.css"]
html_theme_options = {"page_width": "1200px"}
nitpicky = False
suppress_warnings = ["ref.python"]
