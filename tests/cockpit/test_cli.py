"""The cockpit command line: --help, --version, config errors, live mode without an adapter."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cockpit import __version__
from cockpit.cli import main


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"cockpit {__version__}"


def test_help_lists_the_modes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "--paper" in out
    assert "--log-level" in out


def test_console_script_runs(tmp_path: Path) -> None:
    exe = Path(sys.executable).parent / "cockpit"
    result = subprocess.run([str(exe), "--version"], capture_output=True, text=True, timeout=60,
                            env={"COCKPIT_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0
    assert result.stdout.strip() == f"cockpit {__version__}"


def test_broken_config_exits_2_naming_key_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COCKPIT_HOME", str(tmp_path))
    bad = tmp_path / "bad.toml"
    bad.write_text("[paper]\nseed = 'x'\n")
    assert main(["--config", str(bad), "--paper"]) == 2
    err = capsys.readouterr().err
    assert "paper.seed (line 2)" in err


def test_missing_explicit_config_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COCKPIT_HOME", str(tmp_path))
    assert main(["--config", str(tmp_path / "none.toml")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_second_cockpit_on_the_same_account_says_who_holds_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine.journal import Journal

    monkeypatch.setenv("COCKPIT_HOME", str(tmp_path))
    journal_path = tmp_path / "data" / "journal-paper.sqlite"
    journal_path.parent.mkdir(parents=True)
    before = None
    with Journal.open(journal_path):
        before = journal_path.read_bytes()
        assert main(["--paper"]) == 2
        assert journal_path.read_bytes() == before
    err = capsys.readouterr().err
    assert "in use by" in err and "PID" in err
    assert "Traceback" not in err
