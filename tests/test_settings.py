"""Every setting is declared once, documented, and read from the environment and flags."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import pytest

from chatapp import settings as settings_mod
from chatapp.settings import SETTINGS, Settings

README = Path(__file__).resolve().parent.parent / "README.md"


def test_every_setting_is_documented_in_the_readme() -> None:
    text = README.read_text("utf-8")
    missing = [s.env for s in SETTINGS if f"`{s.env}`" not in text or f"`{s.flag}`" not in text]
    assert missing == []


def test_declarations_and_the_settings_class_agree() -> None:
    fields = {f.name: f.default for f in dataclasses.fields(Settings)}
    assert set(fields) == {s.name for s in SETTINGS}
    for s in SETTINGS:
        assert fields[s.name] == s.default, s.name


def test_flags_override_the_environment_which_overrides_defaults() -> None:
    parser = argparse.ArgumentParser()
    settings_mod.add_arguments(parser)
    env = {"CHATAPP_PORT": "9001", "CHATAPP_DB": "/tmp/env.db", "CHATAPP_ALLOWED_ORIGINS": "https://a, https://b/"}
    loaded = settings_mod.load(env=env, args=parser.parse_args(["--port", "9002"]))
    assert loaded.port == 9002 and loaded.db == "/tmp/env.db"
    assert loaded.allowed_origins == ("https://a", "https://b")
    assert settings_mod.load(env={}, args=parser.parse_args([])).port == 8080


def test_a_bad_value_is_a_clear_error() -> None:
    with pytest.raises(SystemExit, match="CHATAPP_PORT"):
        settings_mod.load(env={"CHATAPP_PORT": "eighty"})
