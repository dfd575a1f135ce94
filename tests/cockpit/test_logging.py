"""Logs are JSON lines in a file, and no secret survives into them."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from cockpit.logging_setup import setup_logging
from engine.redaction import forget_secrets, redact, redact_value, register_secret

TOTP = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
JWT = "eyJhbGciOiJIUzUxMiJ9.eyJ1c2VybmFtZSI6IkExMjM0NSJ9.c2lnbmF0dXJlLXNpZ25hdHVyZQ"


@pytest.fixture()
def log_file(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "logs" / "cockpit.log"
    handler = setup_logging(path, "DEBUG")
    yield path
    handler.close()
    logging.getLogger().removeHandler(handler)
    forget_secrets()


def records(path: Path) -> list[dict[str, object]]:
    for handler in logging.getLogger().handlers:
        handler.flush()
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_records_are_json_lines_with_extras(log_file: Path) -> None:
    logging.getLogger("cockpit.test").info("order %s placed", "C1", extra={"qty": 10})
    (rec,) = records(log_file)
    assert rec["msg"] == "order C1 placed"
    assert rec["level"] == "INFO"
    assert rec["logger"] == "cockpit.test"
    assert rec["qty"] == 10


def test_registered_secret_is_masked_everywhere(log_file: Path) -> None:
    register_secret("MyApiKey123")
    register_secret("4321")
    log = logging.getLogger("cockpit.test")
    log.info("login with key MyApiKey123 and pin %s", "4321", extra={"hdr": {"k": "MyApiKey123"}})
    try:
        raise RuntimeError("server said bad key MyApiKey123")
    except RuntimeError:
        log.exception("login failed")
    text = log_file.read_text()
    assert "MyApiKey123" not in text
    assert "4321" not in text
    assert text.count("***") >= 4
    recs = records(log_file)
    assert "server said bad key ***" in str(recs[1]["exc"])


def test_pattern_secrets_are_masked_without_registration(log_file: Path) -> None:
    log = logging.getLogger("cockpit.test")
    log.info("headers Authorization: Bearer %s", JWT)
    log.info('body {"clientcode": "A12345", "password": "9876", "totp": "123456"}')
    log.info("seed %s", TOTP)
    log.info("refresh", extra={"refreshToken": "abcdefgh12345678", "symbol": "SBIN-EQ"})
    text = log_file.read_text()
    for secret in (JWT, "A12345", "9876", "123456", TOTP, "abcdefgh12345678"):
        assert secret not in text, secret
    assert "SBIN-EQ" in text


def test_redact_leaves_market_words_alone() -> None:
    text = "token=3045 symbol=BANKNIFTY25NOV26FUT price=812.50 qty=10"
    assert redact(text) == text


def test_redact_value_masks_secret_keys_in_nested_data() -> None:
    data = {"api_key": "k", "nested": [{"totp_secret": "s"}, "ok"], "qty": 1}
    assert redact_value(data) == {"api_key": "***", "nested": [{"totp_secret": "***"}, "ok"],
                                  "qty": 1}


def test_nothing_is_written_to_the_terminal(log_file: Path, capsys: pytest.CaptureFixture[str]
                                            ) -> None:
    logging.getLogger("x").warning("quiet")
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""
    assert "quiet" in log_file.read_text()


def test_bad_level_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="LOUD"):
        setup_logging(tmp_path / "x.log", "LOUD")
