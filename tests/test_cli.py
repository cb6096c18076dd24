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
