"""The instrument file: content from the seed document, and validation of malformed files."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from analysis.exceptions import InstrumentError
from analysis.instrument import load_instrument, parse_instrument, required_count, required_fraction

SEED = Path(__file__).resolve().parents[2] / "shared" / "seeds" / "002_3def877d1a7e93c6.txt"


@pytest.fixture(scope="module")
def inst():
    return load_instrument()


@pytest.fixture()
def raw(inst):
    return copy.deepcopy(inst.raw)


def test_eleven_enablers_three_statements_each(inst):
    full = inst.form_items("full")
    assert inst.enabler_ids == [f"E{i:02d}" for i in range(1, 12)]
    assert len(full) == 33
    assert full.groupby("enabler_id").size().eq(3).all()
    assert full["item_id"].tolist()[:4] == ["E01S1", "E01S2", "E01S3", "E02S1"]


def test_short_form_has_one_overall_item_per_enabler(inst):
    short = inst.form_items("short")
    assert short["item_id"].tolist() == [f"E{i:02d}_overall" for i in range(1, 12)]
    assert short["text"].iloc[0] == "A systems mindset and a long-term view"


def test_groupings_match_the_seed(inst):
    g = inst.enablers.groupby("grouping_id")["enabler_id"].apply(list).to_dict()
    assert g == {"G1": ["E01", "E02"], "G2": ["E03", "E04", "E05", "E06"],
                 "G3": ["E07", "E08", "E09", "E10", "E11"]}
    assert inst.groupings["grouping_name"].tolist() == ["Mindset", "Behaviours, values and relationships", "Infrastructure"]


def test_scale_labels_and_welsh(inst):
    assert inst.scale.codes == (1, 2, 3, 4, 5)
    assert inst.scale.canonical_label(1) == "Strongly disagree"
    assert inst.scale.canonical_label(5) == "Strongly agree"
    assert "Anghytuno'n gryf" in inst.scale.labels[1]
    assert "Cytuno'n gryf" in inst.scale.labels[5]
    assert "Ddim yn cytuno nac yn anghytuno" in inst.scale.labels[3]
    assert "Don't know" in inst.scale.non_answers


@pytest.mark.skipif(not SEED.exists(), reason="seed documents not beside the checkout")
def test_statement_text_is_verbatim_from_the_seed(inst):
    """Every statement appears in section 2.1 of the seed (bar the documented 'place-based' hyphen)."""
    seed = " ".join(SEED.read_text(encoding="utf-8").split())
    for text in inst.form_items("full")["text"]:
        assert text.replace("place-based", "placebased") in seed, text
    for name in inst.enablers["enabler_name"]:
        assert name in seed


@pytest.mark.parametrize(("mutate", "field"), [
    (lambda d: d["enablers"][3].pop("id"), "enablers[3].id"),
    (lambda d: d["enablers"][2]["statements"][1].update(id="E01S1"), "enablers[2].statements[1].id"),
    (lambda d: d["groupings"][0]["enablers"].append("E03"), "groupings[1].enablers"),
    (lambda d: d["groupings"][2]["enablers"].remove("E11"), "groupings"),
    (lambda d: d["groupings"][1]["enablers"].append("E99"), "groupings[1].enablers"),
    (lambda d: d["scale"]["labels"].pop(3), "scale.labels.3"),
    (lambda d: d["scale"].update(max=0), "scale.max"),
    (lambda d: d["enablers"][0]["statements"][0].update(text=""), "enablers[0].statements[0].text"),
    (lambda d: d.pop("enablers"), "enablers"),
])
def test_malformed_instrument_names_the_field(raw, mutate, field):
    mutate(raw)
    with pytest.raises(InstrumentError) as info:
        parse_instrument(raw, Path("bad.yml"))
    assert f"field {field!r}" in str(info.value)
    assert "bad.yml" in str(info.value)


def test_a_second_instrument_needs_only_a_yaml_file(tmp_path):
    doc = {
        "id": "tiny", "name": "Tiny", "scale": {"min": 1, "max": 4, "labels": {1: ["No"], 2: ["Rarely"], 3: ["Often"], 4: ["Yes"]}},
        "groupings": [{"id": "GA", "name": "All", "enablers": ["A1", "A2"]}],
        "enablers": [{"id": "A1", "name": "First", "statements": [{"id": "A1S1", "text": "One"}, {"id": "A1S2", "text": "Two"}]},
                     {"id": "A2", "name": "Second", "statements": [{"id": "A2S1", "text": "Three"}]}],
    }
    path = tmp_path / "tiny.yml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    inst = load_instrument(path)
    assert inst.scale.points == 4
    assert inst.form_items("full")["item_id"].tolist() == ["A1S1", "A1S2", "A2S1"]
    assert inst.enablers["grouping_id"].tolist() == ["GA", "GA"]


def test_unknown_instrument_name_lists_the_bundled_ones():
    with pytest.raises(InstrumentError, match="margins_to_mainstream"):
        load_instrument("no_such_instrument")


def test_required_counts():
    assert required_count(3, 2) == 2
    assert required_count(1, 2) == 1      # short form: 1 of 1
    assert required_fraction(2, 2 / 3) == 2
    assert required_fraction(4, 0.6667) == 3
    assert required_fraction(5, 0.6667) == 4
    assert required_fraction(11, 0.6667) == 8
