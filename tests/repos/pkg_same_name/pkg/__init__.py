"""A package whose main module has the package's name (``pkg/pkg.py``)."""

from pkg.layers import Stem as Stem
