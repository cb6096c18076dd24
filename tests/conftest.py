"""Shared fixtures. Keep this file small and generic: every test module uses it.

- ``instrument``: the bundled instrument (session scope).
- ``tiny_responses``: a hand-checkable tidy responses table (see its docstring for the numbers).
- ``_matplotlib_headless`` (autouse): Agg backend and ``plt.close("all")``, only if a test
  imported matplotlib (conftest itself never imports it, so non-plot tests stay fast).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest

from analysis.instrument import Instrument, load_instrument

NAN = float("nan")

#: respondent_key -> (council_id, form, perspective, base score, {item_id: override}).
#: Every item of the respondent's form gets ``base`` unless overridden (NaN = missing answer).
TINY_SPEC: dict[str, tuple[str, str, str | None, float, dict[str, float]]] = {
    # alder: 4 full-form respondents
    "a1": ("alder", "full", "service", 4.0,
           {"E01S2": NAN, "E01S3": NAN,        # E01: 1 of 3 answered -> NaN; so G1 (2 of 2 needed) -> NaN
            "E01S1": 5.0,
            "E02S1": 3.0, "E02S3": NAN}),      # E02: 2 of 3 -> (3 + 4) / 2 = 3.5
    "a2": ("alder", "full", "organisation", 2.0,
           {"E03S1": NAN, "E03S2": NAN, "E03S3": NAN}),   # E03 all missing; G2 3 of 4 -> 2.0
    "a3": ("alder", "full", "system", 5.0,
           {**{f"E03S{i}": NAN for i in (1, 2, 3)},       # E03 and E04 missing: G2 2 of 4 -> NaN
            **{f"E04S{i}": NAN for i in (1, 2, 3)}}),
    "a4": ("alder", "full", "service", 3.0,
           {"E01S1": 1.0, "E01S2": 2.0, "E01S3": 3.0}),   # E01 = (1 + 2 + 3) / 3 = 2
    # birch: 3 full-form respondents and 1 short-form respondent
    "b1": ("birch", "full", "service", 4.0, {}),
    "b2": ("birch", "full", "organisation", 4.0, {"E01S1": NAN}),   # E01 2 of 3 -> 4
    "b3": ("birch", "full", "system", 3.0, {}),
    "b4": ("birch", "short", None, 5.0,
           {"E01_overall": 2.0, "E05_overall": NAN}),   # short form: 1 of 1 needed; E05 -> NaN
    # cedar: a council with ONE respondent
    "c1": ("cedar", "full", "service", 3.0, {"E01S2": NAN}),          # E01 2 of 3 -> 3
}
TINY_COUNCILS = {"alder": "Alder Council", "birch": "Birch Borough Council", "cedar": "Cedar County Council"}


def build_responses(spec: dict[str, tuple[str, str, str | None, float, dict[str, float]]],
                    instrument: Instrument, *, wave: str = "2024-01",
                    councils: dict[str, str] | None = None) -> pd.DataFrame:
    """A tidy responses table (docs/architecture.md) from a compact per-respondent spec."""
    councils = councils or {}
    rows = []
    for key, (council, form, perspective, base, overrides) in spec.items():
        items = instrument.form_items(form)
        for n, item in enumerate(items.itertuples(index=False), start=2):
            rows.append({"wave": wave, "council_id": council, "council_name": councils.get(council, council.title()),
                         "respondent_key": key, "perspective": perspective, "form": form,
                         "item_id": item.item_id, "enabler_id": item.enabler_id,
                         "score": float(overrides.get(item.item_id, base)),
                         "source_file": f"{council}.xlsx", "source_row": n})
    out = pd.DataFrame(rows)
    out["score"] = out["score"].astype("float64")
    out["source_row"] = out["source_row"].astype("int64")
    return out


@pytest.fixture(scope="session")
def instrument() -> Instrument:
    """The bundled "Margins to the Mainstream" instrument."""
    return load_instrument()


@pytest.fixture
def tiny_responses(instrument: Instrument) -> pd.DataFrame:
    """Hand-checkable responses: wave '2024-01', councils alder (4), birch (3 full + 1 short), cedar (1).

    Per-respondent enabler scores that the tests rely on (full form: 3 statements per enabler,
    2 needed; short form: 1 item per enabler, 1 needed; groupings G1 = E01-E02 (2 of 2 needed),
    G2 = E03-E06 (3 of 4), G3 = E07-E11 (4 of 5); overall 8 of 11):

    ====  =====  =====  =====================================================================
    key   E01    E02    notes
    ====  =====  =====  =====================================================================
    a1    NaN    3.5    E01 has 1 of 3 answers; E03-E11 = 4; G1 NaN; overall (3.5+9*4)/10 = 3.95
    a2    2      2      E03 all missing (NaN); G2 = 2 (3 of 4); overall 2 (10 of 11)
    a3    5      5      E03, E04 missing; G2 NaN (2 of 4); overall 5 (9 of 11)
    a4    2      3      E01 = (1+2+3)/3; everything else 3
    b1    4      4      all 4
    b2    4      4      E01 from 2 of 3 answers
    b3    3      3      all 3
    b4    2      5      short form; E05 missing -> NaN; G2 = 5 (3 of 4); overall (2+9*5)/10 = 4.7
    c1    3      3      the only respondent of cedar; E01 from 2 of 3
    ====  =====  =====  =====================================================================
    """
    return build_responses(TINY_SPEC, instrument, councils=TINY_COUNCILS)


@pytest.fixture(autouse=True)
def _matplotlib_headless() -> Iterator[None]:
    """Use the Agg backend and close every figure after the test, if matplotlib is in use."""
    if "matplotlib" in sys.modules:
        import matplotlib

        matplotlib.use("Agg")
    yield
    if "matplotlib.pyplot" in sys.modules:
        import matplotlib.pyplot as plt

        plt.close("all")


@pytest.fixture
def rng(request: pytest.FixtureRequest) -> np.random.Generator:
    """A generator seeded from the test's name (stable between runs, different between tests)."""
    import zlib

    return np.random.default_rng(zlib.crc32(request.node.nodeid.encode("utf-8")))
