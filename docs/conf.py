"""Sphinx configuration of the darkmodel documentation (built by tests/test_docs.py with -W)."""

project = "darkmodel"
author = "the darkmodel developers"
copyright = "2026, the darkmodel developers"
extensions = ["sphinx.ext.autodoc", "sphinx.ext.autosummary", "sphinx.ext.mathjax", "numpydoc", "sphinx_click"]
autosummary_generate = False
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
autodoc_member_order = "bysource"
exclude_patterns = ["_build", "seed/dark-families-notebook.txt", "seed/README.md"]
html_theme = "alabaster"
html_static_path = []
nitpicky = False
suppress_warnings = ["ref.python"]
