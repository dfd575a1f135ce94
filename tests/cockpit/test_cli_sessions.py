"""The command line picks the session: live, live data with paper fills, replay; what it refuses."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cockpit.cli import main

ENV_NAMES = (
    "COCKPIT_ANGEL_API_KEY",
    "COCKPIT_ANGEL_CLIENT_CODE",
    "COCKPIT_ANGEL_PIN",
    "COCKPIT_ANGEL_TOTP_SECRET",
)


def run_cockpit(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """The console script with a clean environment and no usable keyring (no terminal: if the
    screen started, it would not exit by itself)."""
    exe = Path(sys.executable).parent / "cockpit"
    base = {
        "COCKPIT_HOME": str(tmp_path),
        "PATH": "/usr/bin:/bin",
        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
    }
    return subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=60,
                          env={**base, **env}, stdin=subprocess.DEVNULL)


def test_live_without_credentials_exits_2_naming_the_variables(tmp_path: Path) -> None:
    result = run_cockpit(tmp_path)
    assert result.returncode == 2
    for name in ENV_NAMES:
        assert name in result.stderr
    assert "cockpit login" in result.stderr
    assert "Traceback" not in result.stderr
    assert "not include" not in result.stderr  # the old "no live adapter yet" message is gone
    assert result.stdout == ""  # the screen never started


def test_a_failed_login_exits_2_before_the_screen(tmp_path: Path) -> None:
    result = run_cockpit(
        tmp_path,
        "--paper", "--feed", "angelone",
        COCKPIT_ANGEL_API_KEY="kq8ZxPrivKey77",
        COCKPIT_ANGEL_CLIENT_CODE="ZQ7731",
        COCKPIT_ANGEL_PIN="9517",
        COCKPIT_ANGEL_TOTP_SECRET="JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP",
        COCKPIT_ANGEL_REST_URL="http://127.0.0.1:9",  # nothing listens there
    )  # fmt: skip
    assert result.returncode == 2
    assert "Angel One login failed" in result.stderr
    assert "Traceback" not in result.stderr
    assert "kq8ZxPrivKey77" not in result.stderr and "9517" not in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--feed", "angelone"], "needs --paper"),
        (["--replay", "x.rec"], "needs --paper"),
        (["--paper", "--replay", "x.rec", "--feed", "angelone"], "exclude each other"),
        (["--paper", "--replay-speed", "2"], "--replay-speed needs --replay"),
        (["--paper", "--replay", "x.rec", "--replay-speed", "0"], "must be positive"),
    ],
)
def test_session_options_that_do_not_fit_exit_2(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    says: str,
) -> None:
    monkeypatch.setenv("COCKPIT_HOME", str(tmp_path))
    assert main(args) == 2
    assert says in capsys.readouterr().err


def test_replay_of_a_file_that_is_not_a_recording_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COCKPIT_HOME", str(tmp_path))
    bogus = tmp_path / "notes.txt"
    bogus.write_text("hello")
    assert main(["--paper", "--replay", str(bogus)]) == 2
    err = capsys.readouterr().err
    assert f"cannot replay {bogus}" in err
    assert main(["--paper", "--replay", str(tmp_path / "none.rec")]) == 2
    assert "No such file" in capsys.readouterr().err


def test_help_lists_the_session_options(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for option in ("--feed", "--replay", "--replay-speed", "--paper --feed angelone"):
        assert option in out
