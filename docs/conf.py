"""Sphinx configuration: the API reference from the numpy-style docstrings, and the tutorial.

Built with warnings as errors by ``tests/test_docs.py`` (``sphinx-build -W``)::

    sphinx-build -W -b html docs docs/_build/html
"""

from importlib import metadata

project = "bntheory"
author = "the bntheory developers"
release = metadata.version("bntheory")
extensions = ["sphinx.ext.autodoc", "sphinx.ext.autosummary", "sphinx.ext.mathjax", "numpydoc"]
exclude_patterns = ["_build", "tutorial/*.py"]
# numpydoc renders the Parameters / Returns / Raises sections; its own autosummary tables of class members would
# repeat what autodoc lists.
numpydoc_show_class_members = False
numpydoc_xref_param_type = False
autodoc_member_order = "bysource"
autodoc_typehints = "none"  # the signatures show them; numpydoc's sections say what they mean
default_role = "code"  # `x` in docstrings names a parameter, as numpydoc's guide writes it
nitpicky = False
html_theme = "alabaster"
html_static_path: list[str] = []
