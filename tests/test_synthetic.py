"""Tests for analysis.synthetic: each writer's file re-reads with plain pandas/openpyxl in the
layout the real survey tool uses (header rows, columns, row count, answer encoding).

The expected layouts come from the tools' own export formats as described in the module
docstring; the answers come from a hand-checkable frame of 5 respondents (one all-blank row).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook

from analysis import synthetic as syn
from analysis.instrument import load_instrument


@pytest.fixture(scope="module")
def instrument():
    return load_instrument()


@pytest.fixture()
def wide_answers(instrument) -> pd.DataFrame:
    """4 respondents of 2 councils + 1 all-blank row; codes cycle 1..5, one NaN, one Don't know."""
    full = instrument.form_items("full")["item_id"].tolist()
    short = instrument.form_items("short")["item_id"].tolist()
    n = 4
    people = pd.DataFrame({
        "council_name": ["Harbourside Borough Council"] * 2 + ["Kestrel Vale Council"] * 2,
        "respondent_id": [f"R{i}" for i in range(n)],
        "email": [f"person{i}@example.org" for i in range(n)],
        "first_name": ["Alex", "Sam", "Nia", "Tom"],
        "last_name": ["Price", "Reid", "Evans", "Walsh"],
        "perspective": ["service", "organisation", "system", "service"],
        "started_at": pd.to_datetime(["2026-11-23 10:00:00", "2026-11-23 11:00:00",
                                      "2026-11-24 09:30:00", "2026-11-24 12:00:00"]),
        "completed_at": pd.to_datetime(["2026-11-23 10:15:03", "2026-11-23 11:20:00",
                                        "2026-11-24 09:45:00", "2026-11-24 12:10:00"]),
        "comment": ["=1+1 looks like a formula", None, "Fine", None],
    })
    codes = (np.arange(n)[:, None] + np.arange(len(full))[None, :]) % 5 + 1
    answers = pd.DataFrame(codes.astype(float), columns=full).astype(object)
    answers.iloc[0, 1] = np.nan
    answers.iloc[1, 2] = "Don't know"
    overall = pd.DataFrame(((np.arange(n)[:, None] + np.arange(len(short))) % 5 + 1).astype(float), columns=short)
    df = pd.concat([people, answers, overall], axis=1)
    blank = pd.DataFrame([[np.nan] * df.shape[1]], columns=df.columns).astype(object)
    return pd.concat([df.iloc[:2], blank, df.iloc[2:]], ignore_index=True)


def _statements(instrument) -> pd.DataFrame:
    return syn.statement_table(instrument)


def test_statement_table_numbers_enablers_and_statements(instrument):
    st = _statements(instrument)
    assert len(st) == len(instrument.form_items("full"))
    assert st["enabler_no"].min() == 1 and st["enabler_no"].max() == len(instrument.enablers)
    assert set(st["statement_no"]) == {1, 2, 3}


def test_ms_forms_layout(tmp_path, instrument, wide_answers):
    path = syn.write_ms_forms(wide_answers, tmp_path / "f.xlsx", instrument=instrument)
    wb = load_workbook(path)
    assert wb.sheetnames == ["Sheet1"]
    df = pd.read_excel(path, engine="openpyxl", sheet_name="Sheet1")
    st = _statements(instrument)
    assert list(df.columns[:8]) == ["Id", "Start time", "Completion time", "Email", "Name",
                                    "Last modified time", syn.COUNCIL_QUESTION, syn.PERSPECTIVE_QUESTION]
    assert list(df.columns[8:-1]) == st["text"].tolist()
    assert df.columns[-1] == syn.COMMENT_QUESTION
    assert len(df) == 5  # the blank row is kept as a row
    assert df.iloc[2].isna().all()
    assert df.loc[0, "Email"] == "person0@example.org" and df.loc[0, "Name"] == "Alex Price"
    first_text = st["text"].iloc[0]
    assert df.loc[0, first_text] == "Strongly disagree" and df.loc[1, first_text] == "Disagree"
    assert df.loc[1, st["text"].iloc[2]] == "Don't know"
    assert pd.isna(df.loc[0, st["text"].iloc[1]])
    assert pd.Timestamp(df.loc[0, "Completion time"]) == pd.Timestamp("2026-11-23 10:15:03")


def test_ms_forms_anonymous(tmp_path, instrument, wide_answers):
    path = syn.write_ms_forms(wide_answers, tmp_path / "a.xlsx", instrument=instrument, anonymous=True)
    df = pd.read_excel(path, engine="openpyxl")
    assert (df["Email"].dropna() == "anonymous").all()
    assert df["Email"].notna().sum() == 4
    assert df["Name"].isna().all()


def test_google_forms_layout(tmp_path, instrument, wide_answers):
    path = syn.write_google_forms(wide_answers, tmp_path / "g.csv", instrument=instrument)
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    df = pd.read_csv(path, encoding="utf-8-sig", skip_blank_lines=False)
    st = _statements(instrument)
    assert list(df.columns[:4]) == ["Timestamp", "Email Address", "Council", syn.PERSPECTIVE_QUESTION]
    assert list(df.columns[4:-1]) == [f"How far do you agree with these statements? [{t}]" for t in st["text"]]
    assert len(df) == 5
    assert df.loc[0, "Timestamp"] == "23/11/2026 10:15:03"
    assert df.loc[0, syn.PERSPECTIVE_QUESTION] == "My service"
    us = pd.read_csv(syn.write_google_forms(wide_answers, tmp_path / "u.csv", instrument=instrument,
                                            locale="en_US"), encoding="utf-8-sig")
    assert us.loc[0, "Timestamp"] == "11/23/2026 10:15:03"
    with pytest.raises(ValueError, match="`locale`"):
        syn.write_google_forms(wide_answers, tmp_path / "x.csv", instrument=instrument, locale="fr_FR")


@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
def test_surveymonkey_condensed(tmp_path, instrument, wide_answers, fmt):
    path = syn.write_surveymonkey(wide_answers, tmp_path / f"sm.{fmt}", instrument=instrument, fmt=fmt)
    read = (lambda p, **kw: pd.read_excel(p, engine="openpyxl", **kw)) if fmt == "xlsx" else pd.read_csv
    raw = read(path, header=None, dtype=str, keep_default_na=False)
    row1, row2 = raw.iloc[0].tolist(), raw.iloc[1].tolist()
    assert row1[:9] == ["Respondent ID", "Collector ID", "Start Date", "End Date", "IP Address",
                        "Email Address", "First Name", "Last Name", "Custom Data 1"]
    assert row1[9] == syn.COUNCIL_QUESTION and row2[9] == "Response"
    st = _statements(instrument)
    assert row1[11] == f"Enabler 1: {st['enabler_name'].iloc[0]}" and row1[12] == "" and row1[13] == ""
    assert row2[11:-1] == st["text"].tolist()
    assert row1[-1] == syn.COMMENT_QUESTION and row2[-1] == "Open-Ended Response"
    assert len(raw) == 2 + 5
    assert raw.iloc[2, 11] == "Strongly disagree"
    ips = raw.iloc[2:, 4][raw.iloc[2:, 4] != ""]
    assert ips.str.match(r"^(192\.0\.2|198\.51\.100|203\.0\.113)\.\d+$").all()


def test_surveymonkey_expanded(tmp_path, instrument, wide_answers):
    path = syn.write_surveymonkey(wide_answers, tmp_path / "sm.csv", instrument=instrument,
                                  layout="expanded", fmt="csv")
    raw = pd.read_csv(path, header=None, dtype=str, keep_default_na=False)
    st = _statements(instrument)
    labels = [instrument.scale.canonical_label(c) for c in instrument.scale.codes] + ["Don't know"]
    n_opts = len(labels)
    assert raw.shape[1] == 11 + len(st) * n_opts + 1
    assert raw.iloc[1, 11:11 + n_opts].tolist() == [f"{st['text'].iloc[0]} - {lab}" for lab in labels]
    block = raw.iloc[2, 11:11 + n_opts].tolist()  # first respondent answered 1 on the first statement
    assert block == ["Strongly disagree"] + [""] * (n_opts - 1)
    dk = raw.iloc[3, 11 + 2 * n_opts:11 + 3 * n_opts].tolist()
    assert dk == [""] * (n_opts - 1) + ["Don't know"]


def test_qualtrics_labels_three_header_rows(tmp_path, instrument, wide_answers):
    path = syn.write_qualtrics(wide_answers, tmp_path / "q.csv", instrument=instrument)
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    raw = pd.read_csv(path, header=None, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    row1 = raw.iloc[0].tolist()
    assert row1[:17] == ["StartDate", "EndDate", "Status", "IPAddress", "Progress", "Duration (in seconds)",
                         "Finished", "RecordedDate", "ResponseId", "RecipientLastName", "RecipientFirstName",
                         "RecipientEmail", "ExternalReference", "LocationLatitude", "LocationLongitude",
                         "DistributionChannel", "UserLanguage"]
    assert row1[17:22] == ["Q_council", "Q_persp", "Q1_1", "Q1_2", "Q1_3"]
    assert "Q11_3" in row1
    st = _statements(instrument)
    assert raw.iloc[1, 19] == f"Enabler 1: {st['enabler_name'].iloc[0]} - {st['text'].iloc[0]}"
    assert json.loads(raw.iloc[2, 19]) == {"ImportId": "QID1_1"}
    assert len(raw) == 3 + 5
    assert raw.iloc[3, 19] == "Strongly disagree"
    assert raw.iloc[3, 8].startswith("R_") and len(raw.iloc[3, 8]) == 17
    assert raw.iloc[3, 5] == "903"  # 10:00:00 -> 10:15:03


def test_qualtrics_numeric_and_drifted_codes(tmp_path, instrument, wide_answers):
    path = syn.write_qualtrics(wide_answers, tmp_path / "q.xlsx", instrument=instrument, codes="numeric", fmt="xlsx")
    wb = load_workbook(path)
    assert wb.sheetnames == ["Sheet0"]
    raw = pd.read_excel(path, engine="openpyxl", header=None)
    assert raw.iloc[3, 19] == 1 and raw.iloc[4, 20] == 3
    assert raw.iloc[4, 21] == 6  # Don't know -> 6 with the default codes
    drift = syn.write_qualtrics(wide_answers, tmp_path / "d.csv", instrument=instrument, codes="numeric",
                                code_map={1: 1, 2: 2, 3: 4, 4: 5, 5: 6})
    raw = pd.read_csv(drift, header=None, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    col = raw.iloc[3:, 19].tolist()  # codes 1, 2, blank row, 3, 4 -> 1, 2, '', 4, 5
    assert col == ["1", "2", "", "4", "5"]
    assert raw.iloc[4, 21] == "7"  # Don't know beyond the drifted codes
    with pytest.raises(ValueError, match="code_map"):
        syn.write_qualtrics(wide_answers, tmp_path / "e.csv", instrument=instrument, code_map={1: 2})


def test_smartsurvey_layout(tmp_path, instrument, wide_answers):
    path = syn.write_smartsurvey(wide_answers, tmp_path / "s.csv", instrument=instrument)
    assert not path.read_bytes().startswith(b"\xef\xbb\xbf")
    df = pd.read_csv(path, skip_blank_lines=False)
    st = _statements(instrument)
    assert list(df.columns[:10]) == ["UserID", "UserNo", "Name", "Email", "IP Address", "Unique ID",
                                     "Started", "Ended", "Tracking Link", "Custom Value"]
    assert list(df.columns[12:-1]) == [f"{e}: {t}" for e, t in zip(st["enabler_name"], st["text"])]
    assert len(df) == 5
    assert df.loc[0, "Ended"] == "23/11/2026 10:15:03"


def test_handmade_layout(tmp_path, instrument, wide_answers):
    path = syn.write_handmade(wide_answers, tmp_path / "h.xlsx", instrument=instrument, seed=3)
    wb = load_workbook(path)
    assert wb.sheetnames == ["Read me", "Responses"]
    ws = wb["Responses"]
    assert ws["A1"].value == syn.HANDMADE_TITLE
    assert any(str(r).startswith("A1:") for r in ws.merged_cells.ranges)
    assert all(c.value is None for c in ws[3])
    header = [c.value for c in ws[4]]
    assert header[:4] == ["Ref", "Name", "Organisation", "Perspective"] and header[-1] == "Comments"
    st = _statements(instrument)
    shortened = [h for h in header[4:-1]]
    assert len(shortened) == len(st) and all(len(h) <= 46 for h in shortened)
    assert any(h.endswith("\u2026") for h in shortened)
    assert shortened != [t[:45].rstrip() + "\u2026" if len(t) > 46 else t for t in st["text"]]  # shuffled
    rows = list(ws.iter_rows(min_row=5, values_only=True))
    assert len(rows) == 5 + 2  # 4 respondents + 1 blank, then blank + Average
    assert all(v is None for v in rows[2]) and all(v is None for v in rows[5])
    assert rows[6][0] == "Average"
    answers = [v for r in rows[:5] for v in r[4:-1] if v is not None]
    kinds = {type(v) for v in answers}
    assert int in kinds and str in kinds
    texts = [v for v in answers if isinstance(v, str)]
    assert any(v.endswith(" ") and v.strip().isdigit() for v in texts)
    assert any(" - " in v for v in texts)
    frame = pd.read_excel(path, engine="openpyxl", sheet_name="Responses", header=3)
    assert len(frame) == 7


def test_handmade_welsh(tmp_path, instrument, wide_answers):
    path = syn.write_handmade(wide_answers, tmp_path / "cy.xlsx", instrument=instrument, welsh=True)
    frame = pd.read_excel(path, engine="openpyxl", sheet_name="Responses", header=3, dtype=object)
    assert "Cyngor" in frame.columns
    values = set(frame.iloc[:5, 4:-1].stack().dropna().tolist())
    welsh = {"Anghytuno'n gryf", "Anghytuno", "Ddim yn cytuno nac yn anghytuno", "Cytuno", "Cytuno'n gryf"}
    assert values <= welsh | {"Ddim yn gwybod"}
    assert values & welsh == welsh
    assert set(frame["Safbwynt"].dropna()) <= {"Fy ngwasanaeth", "Fy sefydliad", "Y system leol"}


def test_short_form_and_tidy_wide(tmp_path, instrument, wide_answers):
    short = pd.read_csv(syn.write_short_form(wide_answers, tmp_path / "s.csv", instrument=instrument),
                        skip_blank_lines=False)
    names = instrument.enablers["enabler_name"].tolist()
    assert list(short.columns) == ["Council", *[f"Enabler {i + 1}: {n}" for i, n in enumerate(names)]]
    assert len(short) == 5 and short.iloc[0, 1] == 1
    tidy = pd.read_csv(syn.write_tidy_wide(wide_answers, tmp_path / "t.csv", instrument=instrument),
                       skip_blank_lines=False)
    full = instrument.form_items("full")["item_id"].tolist()
    assert list(tidy.columns) == ["council", "respondent_id", "perspective", *full]
    assert len(tidy) == 5
    assert tidy[full].dtypes.map(pd.api.types.is_numeric_dtype).all()  # Don't know written as blank
    assert pd.isna(tidy.loc[1, full[2]])


def test_workbooks_are_byte_stable(tmp_path, instrument, wide_answers):
    a = syn.write_handmade(wide_answers, tmp_path / "a.xlsx", instrument=instrument, seed=1)
    b = syn.write_handmade(wide_answers, tmp_path / "b.xlsx", instrument=instrument, seed=1)
    assert a.read_bytes() == b.read_bytes()
    assert load_workbook(a).properties.modified == syn.FIXED_TIMESTAMP


def test_writers_do_not_mutate_input(tmp_path, instrument, wide_answers):
    before = wide_answers.copy()
    syn.write_qualtrics(wide_answers, tmp_path / "q.csv", instrument=instrument, codes="numeric")
    syn.write_handmade(wide_answers, tmp_path / "h.xlsx", instrument=instrument)
    pd.testing.assert_frame_equal(wide_answers, before)


def test_missing_item_column_is_reported(tmp_path, instrument, wide_answers):
    with pytest.raises(ValueError, match="missing column"):
        syn.write_smartsurvey(wide_answers.drop(columns=["E05S2"]), tmp_path / "x.csv", instrument=instrument)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_tidy_wide_round_trips_any_answers(tmp_path, instrument, data):
    """Property: whatever the codes and gaps, the tidy table re-reads to the same scores."""
    ids = instrument.form_items("full")["item_id"].tolist()
    n = data.draw(st.integers(1, 8))
    cells = data.draw(st.lists(st.lists(st.sampled_from([1.0, 2.0, 3.0, 4.0, 5.0, np.nan]),
                                        min_size=len(ids), max_size=len(ids)), min_size=n, max_size=n))
    df = pd.DataFrame(cells, columns=ids).assign(council_name="Kestrel Vale Council",
                                                 respondent_id=[f"R{i}" for i in range(n)])
    back = pd.read_csv(syn.write_tidy_wide(df, tmp_path / "t.csv", instrument=instrument))
    np.testing.assert_array_equal(back[ids].to_numpy(dtype=float), df[ids].to_numpy(dtype=float))
