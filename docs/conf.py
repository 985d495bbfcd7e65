"""Sphinx configuration: the API reference from the docstrings, guides in Markdown (MyST)."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import optax_l1  # noqa: E402

project = "optax-l1"
author = "optax-l1 developers"
copyright = "2026, optax-l1 developers"
release = optax_l1.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "myst_parser",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build"]
myst_enable_extensions = ["dollarmath", "colon_fence"]
myst_heading_anchors = 3

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_type_aliases = {"MaskOrFn": "optax_l1.MaskOrFn", "PyTree": "optax_l1._masks.PyTree"}
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False

html_theme = "furo"
html_title = f"optax-l1 {release}"
