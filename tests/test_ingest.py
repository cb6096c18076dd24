"""Tests for analysis.ingest: one wave in, every row accounted for, nothing personal out.

The loaders are replaced by a fake that returns hand-built :class:`ParsedExport` objects, so these
tests check ingest alone (the loaders have their own tests).
"""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analysis import ingest
from analysis.exceptions import RegisterError, RowAccountingError, SchemaMismatchError, ValidationFailed
from analysis.instrument import load_instrument
from analysis.loaders.base import ParsedExport

INSTRUMENT = load_instrument()
FULL_ITEMS = INSTRUMENT.form_items("full")["item_id"].tolist()
SHORT_ITEMS = INSTRUMENT.form_items("short")["item_id"].tolist()
SALT = b"fixed-test-salt"
SETTINGS: dict = {}


# ------------------------------------------------------------------------------------------------
# builders
# ------------------------------------------------------------------------------------------------

def make_export(rows: list[dict[str, str]], *, source_file: str, roles: dict[str, str],
                items: dict[str, str], sheet: str | None = None, form: str = "full",
                council_hint: str | None = None, recode: dict | None = None, first_row: int = 2) -> ParsedExport:
    """A ParsedExport with columns ``roles`` (key -> role) and ``items`` (key -> item_id)."""
    keys = list(roles) + list(items)
    data = pd.DataFrame([{k: r.get(k, "") for k in keys} for r in rows], columns=keys, dtype=object)
    data = data.fillna("").astype(object)
    data.index = pd.RangeIndex(first_row, first_row + len(rows))
    cols = pd.DataFrame({
        "key": keys,
        "header": [f"H {k}" for k in keys],
        "question": keys,
        "role": [roles[k] for k in roles] + ["item"] * len(items),
        "item_id": [pd.NA] * len(roles) + list(items.values()),
        "match": ["role"] * len(roles) + ["exact"] * len(items),
        "match_score": [pd.NA] * len(keys),
    })
    return ParsedExport(path=Path("/nonexistent") / source_file, source_file=source_file, sheet=sheet,
                        format="handmade", header_rows=[first_row - 1], data=data, columns=cols, form=form,
                        council_hint=council_hint, recode=recode or {})


def answers(values: list[str], n: int = 3) -> dict[str, str]:
    """Row cells for items q1..qn."""
    return {f"q{i + 1}": v for i, v in enumerate(values[:n])}


STD_ROLES = {"when": "completed_at", "email": "email", "name": "name", "council": "council", "persp": "perspective"}
STD_ITEMS = {"q1": "E01S1", "q2": "E01S2", "q3": "E01S3"}


@pytest.fixture
def fake_loaders(monkeypatch, tmp_path):
    """Install fake ``find_export_files``/``read_export``/``load_mapping``; returns (wave_dir, files dict)."""
    import analysis.loaders as loaders

    wave_dir = tmp_path / "raw" / "demo" / "2024-01"
    wave_dir.mkdir(parents=True)
    files: dict[str, object] = {}

    def find_export_files(d: Path) -> list[Path]:
        return sorted(Path(d) / name for name in files) if Path(d).name == wave_dir.name else []

    def read_export(path, *, source_file, instrument, mapping=None, settings=None):
        value = files[Path(path).name]
        if isinstance(value, Exception):
            raise value
        return value

    monkeypatch.setattr(loaders, "find_export_files", find_export_files, raising=False)
    monkeypatch.setattr(loaders, "read_export", read_export, raising=False)
    fake_mapping = types.ModuleType("analysis.mapping")
    fake_mapping.load_mapping = lambda wave_dir: None
    monkeypatch.setitem(sys.modules, "analysis.mapping", fake_mapping)
    return wave_dir, files


def run(wave_dir: Path, register: pd.DataFrame | None = None, **kw) -> ingest.IngestResult:
    return ingest.load_wave(wave_dir, instrument=INSTRUMENT, register=register, salt=SALT, settings=SETTINGS,
                            cohort_dir=wave_dir.parent, **kw)


REGISTER = pd.DataFrame({
    "council_id": ["BH", "CAM", "HAR"],
    "name": ["Brighton & Hove City Council", "London Borough of Camden", "Harbourside Council"],
    "aliases": ["", "Camden", "Harbourside DC|Porthharbour"],
    "type": "", "region": "",
})


def all_text(result: ingest.IngestResult) -> str:
    frames = [result.responses, result.quarantine, result.cell_issues, result.files, result.councils]
    return "\n".join(f.to_csv(index=False) for f in frames) + repr(result.summary())


# ------------------------------------------------------------------------------------------------
# register and waves
# ------------------------------------------------------------------------------------------------

def write_register(tmp_path: Path, text: str) -> Path:
    (tmp_path / "cohort.csv").write_text(text, encoding="utf-8")
    return tmp_path


def test_load_register_reads_and_missing_is_none(tmp_path):
    assert ingest.load_register(tmp_path) is None
    reg = ingest.load_register(write_register(tmp_path, "council_id,name,aliases\nBH,Brighton & Hove,B&H\nCAM,Camden,LB Camden\n"))
    assert reg["council_id"].tolist() == ["BH", "CAM"]
    assert list(reg.columns) == ["council_id", "name", "aliases", "type", "region"]


@pytest.mark.parametrize("text, match", [
    ("council_id,name\nBH,Brighton\nBH,Camden\n", r"cohort.csv, row 3, column 'council_id': council_id 'BH' is already used on row 2"),
    ("council_id,name\nBH,\n", r"row 2, column 'name': name is empty"),
    ("council_id,name\n,Camden\n", r"row 2, column 'council_id': council_id is empty"),
    ("id,name\nBH,Brighton\n", r"no 'council_id' column"),
    ("council_id,name,aliases\nCAM,Camden,\nLBC,Lambeth,LB Camden\n", r"'LB Camden' \(council LBC\) and 'Camden' \(council CAM\) read as the same name 'camden'"),
])
def test_load_register_errors_name_row_and_column(tmp_path, text, match):
    with pytest.raises(RegisterError, match=match):
        ingest.load_register(write_register(tmp_path, text))


def test_list_waves(fake_loaders, tmp_path):
    wave_dir, files = fake_loaders
    files["a.csv"] = []
    (wave_dir.parent / "2023-06").mkdir()
    (wave_dir.parent / "notes").mkdir()
    assert ingest.list_waves(wave_dir.parent) == ["2024-01"]


# ------------------------------------------------------------------------------------------------
# load_wave
# ------------------------------------------------------------------------------------------------

def test_hand_checked_wave(fake_loaders):
    wave_dir, files = fake_loaders
    rows = [
        {"when": "2024-01-10 09:00", "email": "ann@example.org", "name": "Ann Apple", "council": "Brighton and Hove",
         "persp": "My service", **answers(["Agree", "5", "Don't know"])},
        {},  # blank row
        {"when": "2024-01-11 09:00", "email": "bob@example.org", "council": "LB Camden", **answers(["1", "2", "3"])},
        {"council": "Average", **answers(["3.67", "2.5", "4"])},
        {"when": "2024-01-12 09:00", "email": "cat@example.org", "council": "Atlantis", **answers(["4", "4", "5"])},
        {"when": "2024-01-12 10:00", "email": "dan@example.org", "council": "Camden", **answers(["N/A", "", "banana"])},
        {"when": "2024-01-13 09:00", "email": "ANN@example.org ", "council": "brighton & hove city council",
         "persp": "Local system", **answers(["Strongly agree", "", "6"])},
    ]
    files["a.csv"] = [make_export(rows, source_file="2024-01/a.csv", roles=STD_ROLES, items=STD_ITEMS)]
    res = run(wave_dir, register=REGISTER)
    q = res.quarantine.set_index("source_row")
    assert q["reason"].to_dict() == {2: "superseded_duplicate", 3: "blank_row", 5: "summary_row",
                                     6: "unknown_council", 7: "empty_response"}
    assert "kept 2024-01/a.csv row 8 (completed later)" in q.at[2, "detail"]
    assert "'Atlantis' is not in the cohort register" in q.at[6, "detail"]
    f = res.files.iloc[0]
    assert (f["rows_read"], f["accepted"], f["quarantined"]) == (7, 2, 5)
    assert f["q_blank_row"] == 1 and f["q_superseded_duplicate"] == 1
    r = res.responses
    assert list(r.columns) == list(ingest.RESPONSES_COLUMNS)
    assert len(r) == 2 * len(FULL_ITEMS)  # every full-form item, NaN where not asked
    ann = r[(r["source_row"] == 8) & r["item_id"].isin(["E01S1", "E01S2", "E01S3"])]
    assert ann["score"].tolist()[0] == 5.0 and ann["score"].isna().tolist()[1:] == [True, True]
    assert set(r["council_id"]) == {"BH", "CAM"}
    assert r.groupby("council_id")["perspective"].first().dropna().to_dict() == {"BH": "system"}  # CAM: NA
    assert r["perspective"].isna().sum() == len(FULL_ITEMS)
    assert str(r["score"].dtype) == "float64" and str(r["source_row"].dtype) == "int64"
    assert r.loc[r["council_id"] == "CAM", "council_name"].iloc[0] == "London Borough of Camden"
    issues = res.cell_issues.set_index(["source_row", "item_id"])["kind"].to_dict()
    assert issues == {(2, "E01S3"): "dont_know", (7, "E01S1"): "dont_know", (7, "E01S3"): "unparseable",
                      (8, "E01S3"): "out_of_range"}
    c = res.councils.set_index("council_id")
    assert c["n_respondents"].to_dict() == {"BH": 1, "CAM": 1, "HAR": 0}
    assert "ann@example.org" not in all_text(res).casefold()
    assert "Ann Apple" not in all_text(res)
    summary = res.summary()
    assert summary["totals"]["rows_read"] == 7 and summary["quarantine_reasons"]["blank_row"] == 1
    assert summary["cell_issues_by_kind"] == {"dont_know": 2, "out_of_range": 1, "unparseable": 1}


def test_duplicates_across_files_keep_latest_and_read_order(fake_loaders):
    wave_dir, files = fake_loaders
    roles = {"when": "completed_at", "email": "email", "council": "council"}
    files["a.csv"] = [make_export([
        {"when": "2024-02-01 10:00", "email": "x@example.org", "council": "Camden", **answers(["5", "5", "5"])},
        {"when": "", "email": "y@example.org", "council": "Camden", **answers(["1", "1", "1"])},
    ], source_file="2024-01/a.csv", roles=roles, items=STD_ITEMS)]
    files["b.csv"] = [make_export([
        {"when": "2024-01-01 10:00", "email": "x@example.org", "council": "Camden", **answers(["2", "2", "2"])},
        {"when": "2024-03-01 10:00", "email": "y@example.org", "council": "Camden", **answers(["3", "3", "3"])},
        {"when": "2024-01-01 10:00", "email": "x@example.org", "council": "Brighton & Hove", **answers(["4", "4", "4"])},
    ], source_file="2024-01/b.csv", roles=roles, items=STD_ITEMS)]
    res = run(wave_dir, register=REGISTER)
    q = res.quarantine
    sup = q[q["reason"] == "superseded_duplicate"].set_index(["source_file", "source_row"])["detail"]
    # x in Camden: a.csv is later in time although read first; y: one time missing -> the later read wins
    assert sup.to_dict() == {
        ("2024-01/b.csv", 2): "same respondent answered again; kept 2024-01/a.csv row 2 (completed later)",
        ("2024-01/a.csv", 3): "same respondent answered again; kept 2024-01/b.csv row 3 (read later)",
    }
    # the same person answering for another council is another respondent
    assert res.responses.drop_duplicates(["council_id", "respondent_key"]).shape[0] == 3


def test_keys_stable_across_waves_and_salts(fake_loaders):
    wave_dir, files = fake_loaders
    roles = {"email": "email", "council": "council"}
    files["a.csv"] = [make_export([{"email": "z@example.org", "council": "Camden", **answers(["5", "5", "5"])}],
                                  source_file="2024-01/a.csv", roles=roles, items=STD_ITEMS)]
    k1 = run(wave_dir, register=REGISTER).responses["respondent_key"].iloc[0]
    files["a.csv"] = [make_export([{"email": " Z@Example.org", "council": "LB Camden", **answers(["1", "1", "1"])}],
                                  source_file="2025-01/other.csv", roles=roles, items=STD_ITEMS)]
    k2 = run(wave_dir, register=REGISTER).responses["respondent_key"].iloc[0]
    other = ingest.load_wave(wave_dir, instrument=INSTRUMENT, register=REGISTER, salt=b"other",
                             settings=SETTINGS).responses["respondent_key"].iloc[0]
    assert k1 == k2 and k1 != other


def test_council_from_hint_and_filename_and_unknown(fake_loaders):
    wave_dir, files = fake_loaders
    roles = {"id": "respondent_id"}
    files["harbourside_export.csv"] = [make_export([{"id": "1", **answers(["4", "4", "4"])}],
                                                   source_file="2024-01/harbourside_export.csv", roles=roles, items=STD_ITEMS)]
    files["b.csv"] = [make_export([{"id": "1", **answers(["4", "4", "4"])}], source_file="2024-01/b.csv",
                                  roles=roles, items=STD_ITEMS, council_hint="Brighton & Hove")]
    files["c.csv"] = [make_export([{"id": "1", **answers(["4", "4", "4"])}], source_file="2024-01/c.csv",
                                  roles=roles, items=STD_ITEMS)]
    res = run(wave_dir, register=REGISTER)
    by_file = res.responses.drop_duplicates("source_file").set_index("source_file")["council_id"].to_dict()
    assert by_file == {"2024-01/b.csv": "BH", "2024-01/harbourside_export.csv": "HAR"}
    q = res.quarantine.iloc[0]
    assert (q["source_file"], q["reason"]) == ("2024-01/c.csv", "unknown_council")
    assert "neither mapping.yml nor the file name" in q["detail"]


def test_no_register_uses_names_found_and_says_so(fake_loaders):
    wave_dir, files = fake_loaders
    roles = {"council": "council"}
    files["a.csv"] = [make_export([{"council": c, **answers(["4", "4", "4"])} for c in
                                   ["Camden Council", "camden", "Camden", "Camden", "Brighton & Hove"]],
                                  source_file="2024-01/a.csv", roles=roles, items=STD_ITEMS)]
    res = run(wave_dir)
    assert res.councils.to_dict("list") == {"council_id": ["brighton-and-hove", "camden"],
                                            "council_name": ["Brighton & Hove", "Camden"],
                                            "n_respondents": [1, 4], "in_register": [False, False],
                                            "invited": [None, None]}
    assert any("no cohort register" in n and "2 names" in n for n in res.notes)


def test_drifted_codes_fail_the_wave_naming_file_and_column(fake_loaders):
    wave_dir, files = fake_loaders
    roles = {"council": "council"}
    drifted = [{"council": "Camden", **answers([c, "4", "4"])} for c in ["1", "2", "4", "5", "6"]]
    files["q.csv"] = [make_export(drifted, source_file="2024-01/q.csv", roles=roles, items=STD_ITEMS)]
    files["r.csv"] = InputFileError_("r.csv")
    with pytest.raises(ValidationFailed) as info:
        run(wave_dir, register=REGISTER)
    msg = str(info.value)
    assert "2024-01/q.csv: column 'H q1': answer codes {1, 2, 4, 5, 6}" in msg
    assert "Add a 'recode'" in msg and "and 1 more problem" in msg
    errs = info.value.errors
    assert isinstance(errs[1], SchemaMismatchError) or isinstance(errs[0], SchemaMismatchError)


def InputFileError_(name: str) -> Exception:  # noqa: N802 - a small factory used as a file value
    from analysis.exceptions import InputFileError
    return InputFileError("the file is empty", path=f"2024-01/{name}", hint="Export it again.")


def test_recode_accepts_drifted_codes(fake_loaders):
    wave_dir, files = fake_loaders
    roles = {"council": "council"}
    drifted = [{"council": "Camden", **answers([c, "4", "4"])} for c in ["1", "2", "4", "5", "6", "7"]]
    recode = {"*": {}, "E01S1": {1: 1, 2: 2, 4: 3, 5: 4, 6: 5, "7": None}}
    files["q.csv"] = [make_export(drifted, source_file="2024-01/q.csv", roles=roles, items=STD_ITEMS, recode=recode)]
    res = run(wave_dir, register=REGISTER)
    assert res.responses.loc[res.responses["item_id"] == "E01S1", "score"].tolist()[:5] == [1, 2, 3, 4, 5]
    assert res.cell_issues["kind"].tolist() == ["dont_know"]


def test_skip_bad_files_records_and_quarantines(fake_loaders):
    wave_dir, files = fake_loaders
    roles = {"council": "council"}
    files["a.csv"] = [make_export([{"council": "Camden", **answers(["4", "4", "4"])}], source_file="2024-01/a.csv",
                                  roles=roles, items=STD_ITEMS)]
    files["b.csv"] = InputFileError_("b.csv")
    drifted = [{"council": "Camden", **answers([c, "4", "4"])} for c in ["1", "2", "4", "5", "6"]]
    files["c.csv"] = [make_export(drifted, source_file="2024-01/c.csv", roles=roles, items=STD_ITEMS)]
    res = run(wave_dir, register=REGISTER, skip_bad_files=True)
    f = res.files.set_index("source_file")
    assert f["status"].to_dict() == {"2024-01/a.csv": "ok", "2024-01/b.csv": "skipped", "2024-01/c.csv": "skipped"}
    assert f.at["2024-01/b.csv", "rows_read"] == 0 and "the file is empty" in f.at["2024-01/b.csv", "error"]
    assert f.at["2024-01/c.csv", "q_skipped_file"] == 5 == f.at["2024-01/c.csv", "rows_read"]
    assert len(res.errors) == 2 and sum("skipped" in n for n in res.notes) == 2
    detail = res.quarantine.loc[res.quarantine["reason"] == "skipped_file", "detail"].iloc[0]
    assert detail.startswith("file skipped: column 'H q1': answer codes {1, 2, 4, 5, 6}")


def test_short_form_and_sheets(fake_loaders):
    wave_dir, files = fake_loaders
    roles = {"council": "council"}
    items = {"o1": "E01_overall", "o2": "E02_overall"}
    rows = [{"council": "Camden", "o1": "4", "o2": "Cytuno'n gryf"}]
    files["w.xlsx"] = [
        make_export(rows, source_file="2024-01/w.xlsx", sheet="Form1", roles=roles, items=items, form="short"),
        make_export(rows, source_file="2024-01/w.xlsx", sheet="Form2", roles=roles, items=items, form="short"),
    ]
    res = run(wave_dir, register=REGISTER)
    assert len(res.responses) == 2 * len(SHORT_ITEMS)
    assert set(res.responses["form"]) == {"short"}
    assert res.files["sheet"].tolist() == ["Form1", "Form2"]


def test_keep_comments_masks_and_default_drops(fake_loaders):
    wave_dir, files = fake_loaders
    roles = {"council": "council", "comment": "free_text"}
    rows = [{"council": "Camden", "comment": "ring me on 07700 900123 or a.b@example.org", **answers(["4", "4", "4"])}]
    files["a.csv"] = [make_export(rows, source_file="2024-01/a.csv", roles=roles, items=STD_ITEMS)]
    assert run(wave_dir, register=REGISTER).comments is None
    com = run(wave_dir, register=REGISTER, keep_comments=True).comments
    assert com["comment"].tolist() == ["ring me on [phone] or [email]"]
    assert list(com.columns) == ["wave", "council_id", "respondent_key", "question", "comment"]


def test_row_accounting_error_names_file():
    files = pd.DataFrame({"source_file": ["a.csv"], "sheet": [None], "rows_read": [3]})
    quarantine = pd.DataFrame({"source_file": ["a.csv"], "sheet": [None], "source_row": [2]})
    accepted = pd.DataFrame({"source_file": ["a.csv"], "sheet": [None], "source_row": [3]})
    with pytest.raises(RowAccountingError, match=r"a.csv: 3 rows read but 1 accepted \+ 1 quarantined"):
        ingest.check_row_accounting(files, quarantine, accepted)
    ingest.check_row_accounting(files.assign(rows_read=2), quarantine, accepted)


# ------------------------------------------------------------------------------------------------
# property: row accounting and no personal data, whatever the mess
# ------------------------------------------------------------------------------------------------

ANSWER = st.sampled_from(["", "4", "Agree", "Don't know", "6", "0", "3.67", "banana", "5 - Strongly agree",
                          "2 - Strongly agree", "Cytuno'n gryf", "N/A", " ", "-3"])
COUNCIL = st.sampled_from(["Camden", "LB Camden", "Brighton & Hove", "Atlantis", "", "Average", "Total",
                           "harbourside dc", "x9@leak.example"])


@st.composite
def messy_row(draw, n_people: int) -> dict[str, str]:
    kind = draw(st.sampled_from(["normal", "normal", "normal", "blank", "summary"]))
    if kind == "blank":
        return {}
    person = draw(st.integers(0, n_people - 1))
    row = {"when": draw(st.sampled_from(["", "2024-01-0%d 10:00" % (person % 9 + 1), "23/11/2026 10:15:03", "junk"])),
           "email": draw(st.sampled_from([f"person{person}@secret.example", "", "anonymous"])),
           "first": draw(st.sampled_from([f"Zebedee{person}", ""])), "last": f"Quux{person}",
           "council": draw(COUNCIL),
           **{f"q{i + 1}": draw(ANSWER) for i in range(3)}}
    if kind == "summary":
        row["council"] = draw(st.sampled_from(["Average", "Mean", "Cyfartaledd"]))
    if draw(st.booleans()):
        row["q1"] = f"person{person}@secret.example"  # an email typed into an answer cell
    return row


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_property_rows_accounted_and_nothing_personal(fake_loaders, data):
    wave_dir, files = fake_loaders
    files.clear()
    roles = {"when": "completed_at", "email": "email", "first": "name", "last": "name", "council": "council"}
    n_files = data.draw(st.integers(1, 3))
    for f in range(n_files):
        rows = data.draw(st.lists(messy_row(4), min_size=0, max_size=12))
        sheet = data.draw(st.sampled_from([None, "Sheet1"]))
        files[f"f{f}.csv"] = [make_export(rows, source_file=f"2024-01/f{f}.csv", sheet=sheet, roles=roles,
                                          items=STD_ITEMS, first_row=data.draw(st.integers(2, 5)))]
    register = data.draw(st.sampled_from([REGISTER, None]))
    res = run(wave_dir, register=register, keep_comments=True, skip_bad_files=True)
    f = res.files
    assert (f["rows_read"] == f["accepted"] + f["quarantined"]).all()
    assert f["rows_read"].sum() == sum(len(e[0].data) for e in files.values())
    assert res.responses["score"].dropna().between(1, 5).all()
    text = all_text(res).casefold()
    for planted in ("secret.example", "zebedee", "quux", "leak.example"):
        assert planted not in text
