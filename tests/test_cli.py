"""The command line: help, one-line errors, exit codes."""

from __future__ import annotations

import pytest

from analysis.cli import main


@pytest.mark.parametrize("argv", [["--help"], ["run", "--help"], ["validate", "--help"], ["demo", "--help"]])
def test_help(argv, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 0
    assert "usage: diagnostics" in capsys.readouterr().out


def test_missing_cohort_folder_is_one_clear_line(tmp_path, capsys):
    code = main(["run", str(tmp_path / "nowhere"), "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code != 0
    assert len(err) == 1
    assert err[0].startswith("error: ") and "nowhere" in err[0] and "does not exist" in err[0]
    assert "Traceback" not in "\n".join(err)


def test_cohort_without_waves(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    code = main(["validate", str(tmp_path / "empty"), "--quiet"])
    err = capsys.readouterr().err
    assert code != 0 and "no wave folders" in err


def test_no_command_prints_help(capsys):
    assert main([]) == 2


def _small_cohort(root, *, duplicate_header: bool = False):
    """One wave, one clean CSV export (3 respondents); optionally a second file with a repeated column."""
    import csv

    from analysis.instrument import load_instrument

    texts = load_instrument().form_items("full")["text"].tolist()
    wave = root / "cohort" / "2025-01"
    wave.mkdir(parents=True)
    rows = [["Council", *texts]] + [["Harbourside", *[str((r + j) % 5 + 1) for j in range(len(texts))]] for r in range(3)]
    with open(wave / "harbourside.csv", "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)
    if duplicate_header:
        bad = [["Council", *texts, texts[0]]] + [["Northfield", *(["4"] * (len(texts) + 1))]]
        with open(wave / "northfield.csv", "w", newline="", encoding="utf-8") as fh:
            csv.writer(fh).writerows(bad)
    return root / "cohort"


def test_validate_writes_nothing_and_says_ok(tmp_path, capsys):
    raw = _small_cohort(tmp_path)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    code = main(["validate", str(raw), "--quiet"])
    out = capsys.readouterr().out
    assert code == 0
    assert "harbourside.csv" in out and "ok: a run would succeed" in out
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before   # no outputs, no salt


def test_validate_write_mapping_round_trips(tmp_path, capsys):
    from analysis.mapping import load_mapping

    raw = _small_cohort(tmp_path)
    assert main(["validate", str(raw), "--quiet", "--write-mapping"]) == 0
    target = raw / "2025-01" / "mapping.yml"
    assert target.exists() and "wrote starter mapping" in capsys.readouterr().out
    mapping = load_mapping(raw / "2025-01")
    assert mapping is not None and "harbourside.csv" in mapping.files
    assert main(["validate", str(raw), "--quiet"]) == 0       # the pinned mapping reproduces the automatic one
    assert main(["validate", str(raw), "--quiet", "--write-mapping"]) == 0
    assert "exists; not overwritten" in capsys.readouterr().out


def test_validate_names_the_bad_file_and_starter_mapping_quotes_it(tmp_path, capsys):
    raw = _small_cohort(tmp_path, duplicate_header=True)
    code = main(["validate", str(raw), "--quiet", "--write-mapping"])
    captured = capsys.readouterr()
    assert code != 0
    assert "northfield.csv" in captured.err and "Traceback" not in captured.err
    text = (raw / "2025-01" / "mapping.yml").read_text(encoding="utf-8")
    assert "harbourside.csv" in text
    assert '# "northfield.csv": could not be mapped automatically' in text


def test_os_errors_are_one_line(tmp_path, capsys, monkeypatch):
    from analysis import pipeline

    def boom(*args, **kwargs):
        raise NotADirectoryError(20, "Not a directory", str(tmp_path / "keys"))

    monkeypatch.setattr(pipeline, "run_cohort", boom)
    raw = tmp_path / "c"
    (raw / "2025-01").mkdir(parents=True)
    code = main(["run", str(raw), "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1 and "keys: Not a directory" in err[0]
