"""upstream-diagnostics: survey exports in, trustworthy cohort insight out.

The package is a library of small modules, each with one job (see ``docs/architecture.md``):
``instrument`` (the diagnostic as data), ``loaders`` (reading exports), ``mapping`` (columns to
statements), ``cleaning`` (answers to scores, quarantine), ``privacy``, ``ingest`` (one wave, every
row accounted for), ``scoring``, ``compare``, ``plots``, ``reports``, ``pipeline`` and ``cli``.
Importing the package is cheap: submodules are imported on use.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
