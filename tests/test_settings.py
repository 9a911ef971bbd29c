"""Every setting is declared once, documented, read from the environment and flags, and checked."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

from chatapp import settings as settings_mod
from chatapp.settings import SETTINGS, Setting, SettingError, Settings

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"


def readme_row(s: Setting) -> str:
    flags = ", ".join(f"`{flag}`" for flag in s.flags)
    return f"| `{s.env}` | {flags} | `{s.shown_default}` | {s.help} |"


def as_text(value: object) -> str:
    """A value written the way an operator would put it in the environment."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return ",".join(value)
    return str(value)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser()
    settings_mod.add_arguments(p)
    return p


def load(env: dict[str, str] | None = None, *argv: str) -> Settings:
    return settings_mod.load(env=env or {}, args=parser().parse_args(argv))


def test_every_setting_is_documented_in_the_readme_as_declared() -> None:
    rows = set(README.read_text("utf-8").splitlines())
    assert [readme_row(s) for s in SETTINGS if readme_row(s) not in rows] == []


def test_every_field_of_settings_is_a_setting_with_help() -> None:
    assert [s.name for s in SETTINGS] == list(Settings.__dataclass_fields__)
    assert all(s.help.strip() for s in SETTINGS)


@pytest.mark.parametrize("s", SETTINGS, ids=lambda s: s.name)
def test_every_default_is_a_value_its_own_parser_accepts(s: Setting) -> None:
    assert s.parse(as_text(s.default)) == s.default
    assert getattr(Settings(), s.name) == s.default


def test_flags_override_the_environment_which_overrides_defaults() -> None:
    env = {"CHATAPP_PORT": "9001", "CHATAPP_DB": "/tmp/env.db", "CHATAPP_ALLOWED_ORIGINS": "https://a, https://b/"}
    loaded = load(env, "--port", "9002")
    assert loaded.port == 9002 and loaded.db == "/tmp/env.db"
    assert loaded.allowed_origins == ("https://a", "https://b")
    assert load().port == 8080


def test_a_switch_is_a_plain_flag_that_overrides_the_environment_either_way() -> None:
    assert load({}, "--secure-cookies").secure_cookies is True
    assert load({"CHATAPP_SECURE_COOKIES": "true"}, "--no-secure-cookies").secure_cookies is False
    assert load({"CHATAPP_SECURE_COOKIES": "true"}).secure_cookies is True
    assert load().secure_cookies is False


@pytest.mark.parametrize(("text", "value"), [("true", True), ("1", True), ("yes", True), ("YES", True),
                                             ("false", False), ("0", False), ("no", False)])
def test_a_switch_in_the_environment_takes_the_usual_spellings(text: str, value: bool) -> None:
    assert load({"CHATAPP_SECURE_COOKIES": text}).secure_cookies is value


def test_choices_and_origins_are_read_in_their_canonical_form() -> None:
    loaded = load({"CHATAPP_LOG_LEVEL": "debug", "CHATAPP_SYNCHRONOUS": " normal ",
                   "CHATAPP_PUBLIC_ORIGIN": "HTTPS://Chat.Example.org:8443/",
                   "CHATAPP_TRUSTED_PROXIES": "10.0.0.1, 2001:DB8:0:0::1"})
    assert (loaded.log_level, loaded.synchronous) == ("DEBUG", "NORMAL")
    assert loaded.public_origin == "https://chat.example.org:8443"
    assert loaded.trusted_proxies == ("10.0.0.1", "2001:db8::1")


def test_zero_is_allowed_where_it_means_off_or_any() -> None:
    loaded = load({"CHATAPP_PORT": "0", "CHATAPP_HEARTBEAT": "0", "CHATAPP_MSG_RATE": "0",
                   "CHATAPP_MAX_CONNECTIONS": "0", "CHATAPP_MAX_CONNECTIONS_PER_IP": "0"})
    assert (loaded.port, loaded.heartbeat, loaded.msg_rate, loaded.max_connections) == (0, 0.0, 0.0, 0)


BAD_VALUES = [
    ("log_level", "verbose"),
    ("synchronous", "OFF"),
    ("port", "eighty"),
    ("port", "-1"),
    ("port", "65536"),
    ("busy_timeout", "-0.5"),
    ("busy_timeout", "nan"),
    ("heartbeat", "inf"),
    ("history_size", "-1"),
    ("send_queue", "-1"),
    ("send_queue", "0"),
    ("msg_rate", "-2"),
    ("msg_burst", "0"),
    ("max_connections", "-1"),
    ("max_connections_per_ip", "1.5"),
    ("shutdown_timeout", "soon"),
    ("trusted_proxies", "proxy.internal"),
    ("trusted_proxies", "10.0.0.0/8"),
    ("public_origin", "https://chat.example.org/chat"),
    ("public_origin", "chat.example.org"),
    ("allowed_origins", "https://a.example, ftp://b.example"),
    ("secure_cookies", "maybe"),
]


@pytest.mark.parametrize(("name", "text"), BAD_VALUES)
def test_a_bad_value_in_the_environment_is_refused_naming_the_variable(name: str, text: str) -> None:
    env = settings_mod.describe(name).env
    with pytest.raises(SettingError, match=f"^bad {env}='") as caught:
        load({env: text})
    assert "\n" not in str(caught.value) and "expected" in str(caught.value)


@pytest.mark.parametrize(("name", "text"), [b for b in BAD_VALUES if b[0] != "secure_cookies"])
def test_a_bad_value_on_the_command_line_is_refused_naming_the_flag(name: str, text: str) -> None:
    flag = settings_mod.describe(name).flag
    with pytest.raises(SettingError, match=f"^bad {flag} '"):
        load({}, f"{flag}={text}")


def run_chatapp(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """The real command, as an operator runs it; it must fail before it serves anything."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CHATAPP_")}
    return subprocess.run([sys.executable, "-m", "chatapp", *args], capture_output=True, text=True, timeout=30,
                          cwd=ROOT, env={**clean, **env})


def test_an_unknown_log_level_stops_the_server_with_one_line() -> None:
    result = run_chatapp(CHATAPP_LOG_LEVEL="verbose")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "chatapp: bad CHATAPP_LOG_LEVEL='verbose': expected one of DEBUG, INFO, WARNING, ERROR"]


def test_a_negative_port_flag_after_a_bare_switch_stops_the_server_with_one_line() -> None:
    # --secure-cookies takes no value, so -1 is read as the port's and refused.
    result = run_chatapp("--secure-cookies", "--port", "-1")
    assert result.returncode == 2
    assert result.stderr.splitlines() == ["chatapp: bad --port '-1': expected a whole number from 0 to 65535"]


@pytest.mark.parametrize("args", [["--port"], ["--secure-cookies=yes"], ["--no-such-setting", "1"]])
def test_a_malformed_command_line_is_one_line_too(args: list[str]) -> None:
    result = run_chatapp(*args)
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1 and result.stderr.startswith("chatapp: "), result.stderr
