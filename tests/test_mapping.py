"""Tests of analysis.mapping: header normalisation, matching, roles, mapping.yml parsing."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import loader_fixtures as lf
from analysis.exceptions import MappingError
from analysis.instrument import Instrument
from analysis.mapping import load_mapping, map_columns, normalise_text

THRESHOLD, MARGIN = 88.0, 4.0


def mapped(headers: list[str], instrument: Instrument, *, pins: dict[str, str] | None = None,
           check_complete: bool = False, **kw: object):
    return map_columns(headers, instrument=instrument, pins=pins, fuzzy_threshold=THRESHOLD, fuzzy_margin=MARGIN,
                       path="w/f.xlsx", sheet=None, check_complete=check_complete, **kw)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# normalise_text
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("raw", "expected"), [
    ("We’re  “organized”", "were organised"),
    ("Q7. The behavior of the center", "the behaviour of the centre"),
    ("Enabler 3: Collaborative culture", "collaborative culture"),
    ("E03S2 We work with the community", "we work with the community"),
    ("Q1_3", ""),
    ("3a) Prioritized programs", "prioritised programmes"),
    ("7. Statement 2 - Recognize this [required]", "recognise this"),
    ("Our approach to risk *", "our approach to risk"),
    ("Organisation-wide policy", "organisation wide policy"),
])
def test_normalise_text(raw: str, expected: str) -> None:
    assert normalise_text(raw) == expected


@given(st.text(max_size=60))
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_normalise_text_is_idempotent(text: str) -> None:
    once = normalise_text(text)
    assert normalise_text(once) == once


# --------------------------------------------------------------------------------------------
# matching
# --------------------------------------------------------------------------------------------
@given(st.permutations(lf.STATEMENTS))
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_shuffled_statement_headers_map_to_their_items(instrument: Instrument, shuffled: list[tuple[str, str]]) -> None:
    table = mapped([t for _, t in shuffled], instrument, check_complete=True)
    assert table["item_id"].tolist() == [i for i, _ in shuffled]
    assert set(table["match"]) == {"exact"}


@given(st.permutations(lf.STATEMENTS), st.integers(min_value=30, max_value=60))
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_shortened_statement_headers_map(instrument: Instrument, shuffled: list[tuple[str, str]], n: int) -> None:
    table = mapped([lf.shortened(t, n) for _, t in shuffled], instrument, check_complete=True)
    assert table["item_id"].tolist() == [i for i, _ in shuffled]


@pytest.mark.parametrize(("header", "item"), [
    ("E02S1", "E02S1"),
    ("e02s1: our approach", "E02S1"),
    ("Q4. Our approach to risk creates space to consider improvements", "E02S1"),
    ("How far do you agree? [We focus on risks to society and wider outcomes]", "E02S2"),
    ("Agreement - Measurement is used as a tool for learning, adaption, improvement and enquiry.", "E09S3"),
    ("We organize and problem-solve around the person, rather than within service or organizational silos",
     "E03S3"),
    ("Approach to risk", "E02S1"),
])
def test_single_headers(header: str, item: str, instrument: Instrument) -> None:
    table = mapped([header], instrument)
    assert table["item_id"].item() == item


@pytest.mark.parametrize(("header", "item"), [
    ("Enabler 3: Collaborative culture", "E03_overall"),
    ("Systems mindset", "E01_overall"),
    ("E05", "E05_overall"),
    ("Investment in the capacity to change", "E11_overall"),
])
def test_short_form_headers(header: str, item: str, instrument: Instrument) -> None:
    assert mapped([header], instrument)["item_id"].item() == item


def test_mixed_forms_majority_wins(instrument: Instrument) -> None:
    headers = [t for _, t in lf.STATEMENTS] + ["Collaborative culture"]
    table = mapped(headers, instrument, check_complete=True)
    assert table.attrs["form"] == "full"
    assert table.set_index("header").loc["Collaborative culture", "role"] == "unmapped"


def test_ambiguous_fuzzy_match_lists_both(instrument: Instrument) -> None:
    with pytest.raises(MappingError, match=r"column A matches two items equally well: E11S\d .* and E11S\d"):
        mapped(["Work, new ways"], instrument)


def test_short_headers_never_fuzzy_match_statements(instrument: Instrument) -> None:
    table = mapped(["Team", "Service", "Frontline staff", "Role"], instrument)
    assert table["item_id"].isna().all()


def test_duplicate_item_unless_pinned(instrument: Instrument) -> None:
    text = lf.STATEMENTS[0][1]
    with pytest.raises(MappingError, match="2 columns map to the same item E01S1"):
        mapped([text, "E01S1"], instrument)
    table = mapped([text, "E01S1"], instrument, pins={"B": "E01S1"})
    assert table["role"].tolist() == ["unmapped", "item"]


def test_pins_by_text_letter_and_unknown_target(instrument: Instrument) -> None:
    table = mapped(["Q7", "Notes", "Other"], instrument, pins={"Q7": "e03s2", "C": "ignore"})
    assert table["item_id"].tolist()[0] == "E03S2" and table["match"].tolist()[0] == "pinned"
    assert table["role"].tolist()[2] == "metadata"
    with pytest.raises(MappingError, match="pins column 'Q7' to 'bogus'"):
        mapped(["Q7"], instrument, pins={"Q7": "bogus"})


def test_missing_items_listed_with_closest_headers(instrument: Instrument) -> None:
    headers = [t for i, t in lf.STATEMENTS if i not in ("E03S2", "E07S1")] + ["Residents and community groups"]
    with pytest.raises(MappingError, match=r"2 of 33 statements have no column: E03S2, E07S1\..*E03S2: .*"
                                           r"'Residents and community groups' \(score \d+\)"):
        mapped(headers, instrument, check_complete=True)


@pytest.mark.parametrize(("header", "role"), [
    ("Which council do you work for?", "council"), ("Organisation", "council"), ("Local authority", "council"),
    ("Cyngor", "council"), ("Authority", "council"),
    ("Perspective", "perspective"), ("Answering from the point of view of", "perspective"),
    ("Are you answering for your service, organisation or local system?", "perspective"),
    ("Respondent ID", "respondent_id"), ("ResponseId", "respondent_id"), ("UserID", "respondent_id"),
    ("Full name", "name"), ("Your name", "name"), ("IPAddress", "ip"), ("LocationLongitude", "location"),
    ("RecipientFirstName", "recipient"), ("ExternalReference", "recipient"),
    ("Completion time", "completed_at"), ("Submitted", "completed_at"), ("Start Date", "started_at"),
    ("Any other comments?", "free_text"), ("Please explain your answer", "free_text"),
    ("Collector ID", "metadata"), ("Duration (in seconds)", "metadata"), ("Last modified time", "metadata"),
    ("What colour is the sky above the town hall", "unmapped"),
])
def test_roles_from_headers(header: str, role: str, instrument: Instrument) -> None:
    assert mapped([header], instrument)["role"].item() == role


# --------------------------------------------------------------------------------------------
# mapping.yml
# --------------------------------------------------------------------------------------------
def _write(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "mapping.yml").write_text(text, encoding="utf-8")
    return folder


def test_no_mapping_file(tmp_path: Path) -> None:
    assert load_mapping(tmp_path) is None


def test_mapping_merges_cohort_and_wave(tmp_path: Path) -> None:
    _write(tmp_path, 'columns:\n  "A x": E01S1\n  "B y": E01S2\nfiles:\n  "f.csv":\n    council: Cohort\n    sheet: S\n')
    wave = _write(tmp_path / "w1", 'columns:\n  "B y": E01S3\nfiles:\n  "f.csv":\n    council: Wave\n')
    m = load_mapping(wave)
    assert m is not None
    fm = m.for_file("f.csv")
    assert fm.council == "Wave" and fm.sheet == "S"
    assert fm.columns == {"A x": "E01S1", "B y": "E01S3"}
    assert m.for_file("other.csv").columns == {"A x": "E01S1", "B y": "E01S3"}


@pytest.mark.parametrize(("text", "message"), [
    ("files:\n  a.csv:\n    sheeet: X\n", r"key 'files\.a\.csv\.sheeet': unknown key"),
    ("files:\n  a.csv:\n    format: qualtric\n", r"'files\.a\.csv\.format': 'qualtric' is not a known format"),
    ("files:\n  a.csv:\n    header_row: 0\n", r"'files\.a\.csv\.header_row': must be a row number"),
    ("colums:\n  x: E01S1\n", r"key 'colums': unknown key"),
    ("columns:\n  x: [E01S1]\n", r"key 'columns\.x': must be an item id"),
    ("files:\n  a.csv:\n    recode:\n      '*': {'1': high}\n", r"'files\.a\.csv\.recode\.\*\.1': score must be a number"),
    ("files:\n  a.csv:\n   columns: {\n", r"not valid YAML at line \d+"),
])
def test_bad_mapping_files(tmp_path: Path, text: str, message: str) -> None:
    _write(tmp_path / "w", text)
    with pytest.raises(MappingError, match=message):
        load_mapping(tmp_path / "w")
