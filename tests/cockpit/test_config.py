"""config.toml loading: defaults, env overrides, and errors that name the key and the line."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from cockpit.config import ConfigError, load_config, locate_key


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_missing_file_gives_defaults(tmp_path: Path) -> None:
    config = load_config(tmp_path / "nope.toml", env={})
    assert config.paper.seed == 42
    assert config.app.theme == "cockpit-dark"
    assert config.paper.starting_cash == Decimal("1000000")


def test_values_are_read(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[app]\ntheme = "light"\n[paper]\nseed = 7\nspeed = 60\n'
        '[watchlists]\nbanks = ["SBIN", "HDFCBANK"]\n[keymap]\norder.buy = "f1"\n',
    )
    config = load_config(path, env={})
    assert config.app.theme == "light"
    assert config.paper.seed == 7
    assert config.paper.speed == 60.0
    assert config.watchlists == {"banks": ["SBIN", "HDFCBANK"]}
    assert config.keymap == {"order.buy": "f1"}


def test_env_overrides_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[paper]\nseed = 7\n")
    env = {"COCKPIT_PAPER__SEED": "11", "COCKPIT_ANGEL_REST_URL": "http://127.0.0.1:9"}
    config = load_config(path, env=env)
    assert config.paper.seed == 11
    assert config.angelone.rest_url == "http://127.0.0.1:9"


def test_wrong_type_names_key_line_and_value(tmp_path: Path) -> None:
    path = write(tmp_path, "[app]\ntheme = 'dark'\n\n[paper]\nseed = 1\nspeed = 'fast'\n")
    with pytest.raises(ConfigError) as err:
        load_config(path, env={})
    text = str(err.value)
    assert "paper.speed" in text
    assert "(line 6)" in text
    assert "'fast'" in text


def test_unknown_key_suggests_the_right_one(tmp_path: Path) -> None:
    path = write(tmp_path, "[paper]\nsede = 3\n")
    with pytest.raises(ConfigError) as err:
        load_config(path, env={})
    assert "unknown key paper.sede (line 2)" in str(err.value)
    assert "Did you mean 'seed'?" in str(err.value)


def test_bad_toml_syntax_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "[paper]\nseed = = 3\n")
    with pytest.raises(ConfigError) as err:
        load_config(path, env={})
    assert "line 2" in str(err.value)
    assert "not valid TOML" in str(err.value)


def test_secrets_in_config_are_refused_without_echoing_them(tmp_path: Path) -> None:
    path = write(tmp_path, '[angelone]\nrest_url = "x"\napi_key = "SUPERSECRETKEY"\n')
    with pytest.raises(ConfigError) as err:
        load_config(path, env={})
    assert "angelone.api_key (line 3)" in str(err.value)
    assert "SUPERSECRETKEY" not in str(err.value)


def test_out_of_range_value_is_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, "[paper]\nspeed = -1\n")
    with pytest.raises(ConfigError, match=r"paper\.speed \(line 2\)"):
        load_config(path, env={})


def test_locate_key_handles_dotted_and_nested() -> None:
    text = "a = 1\n[x]\ny = 2\n[x.z]\nw = 3\n"
    assert locate_key(text, ("a",)) == 1
    assert locate_key(text, ("x", "y")) == 3
    assert locate_key(text, ("x", "z", "w")) == 5
    assert locate_key(text, ("q",)) is None
