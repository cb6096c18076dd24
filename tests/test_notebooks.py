"""Committed notebooks: stripped of outputs, one parsable 'parameters' cell, thin."""

from __future__ import annotations

import ast
import logging
from pathlib import Path

import nbformat
import papermill
import pytest

from analysis.pipeline import NOTEBOOKS

NB_DIR = Path(__file__).resolve().parents[1] / "notebooks"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_committed_without_outputs(name):
    nb = nbformat.read(NB_DIR / name, as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{name}: strip outputs before committing"
            assert cell.execution_count is None


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_one_parameters_cell_every_line_parsed(name, caplog):
    nb = nbformat.read(NB_DIR / name, as_version=4)
    tagged = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1
    assigned = [ln.split(":", 1)[0].strip() for ln in tagged[0].source.splitlines() if ln.strip() and not ln.startswith("#")]
    with caplog.at_level(logging.WARNING, logger="papermill"):
        declared = papermill.inspect_notebook(str(NB_DIR / name))
    # papermill's parser silently drops lines it cannot read (e.g. '=' in a comment): all must parse
    assert list(declared) == assigned
    assert not [r for r in caplog.records if "Unable to parse" in r.getMessage()]


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebooks_are_thin(name):
    """No function or class definitions in notebooks: logic lives in src/analysis."""
    nb = nbformat.read(NB_DIR / name, as_version=4)
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        source = "\n".join(ln for ln in cell.source.splitlines() if not ln.startswith("%"))
        tree = ast.parse(source)
        assert not [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.ClassDef, ast.Lambda))], name
