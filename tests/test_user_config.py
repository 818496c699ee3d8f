"""The Action's `config` input: YAML or dotenv in, Heroku config vars out, one-line errors."""

from __future__ import annotations

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from appwrite_heroku.config.user_config import parse_config, parse_dotenv, parse_yaml
from appwrite_heroku.errors import InputError

SECRET = "s3cr3t-value-never-echoed"


def test_empty_input_means_no_config() -> None:
    assert parse_config("") == {}
    assert parse_config("  \n\n") == {}
    assert parse_config("# only a comment\n") == {}


def test_yaml_mapping_with_scalars_becomes_strings() -> None:
    text = """
    _APP_SMTP_HOST: smtp.example.com
    _APP_SMTP_PORT: 587
    _APP_USAGE_STATS: disabled
    FEATURE: true
    OFF: false
    RATIO: 0.5
    """
    assert parse_config(text) == {
        "_APP_SMTP_HOST": "smtp.example.com",
        "_APP_SMTP_PORT": "587",
        "_APP_USAGE_STATS": "disabled",
        "FEATURE": "true",
        "OFF": "false",
        "RATIO": "0.5",
    }


def test_yaml_scalars_keep_the_text_written() -> None:
    """YAML 1.1 would turn these into booleans, an octal number and a date."""
    text = "on: yes\nMODE: 0755\nDAY: 2026-11-27\nBIG: 1e3\nNOR: NO\n"
    assert parse_config(text) == {
        "on": "yes", "MODE": "0755", "DAY": "2026-11-27", "BIG": "1e3", "NOR": "NO"}


def test_dotenv_lines() -> None:
    text = (
        "# mail\n"
        "export _APP_SMTP_HOST=smtp.example.com\n"
        "_APP_SMTP_PORT = 587  # submission port\n"
        "QUOTED=\"a # not a comment\\nsecond line\"\n"
        "LITERAL='raw \\n stays'\n"
        "EMPTY=\n"
        "URL=https://example.com/a=b?c=d\n"
    )
    assert parse_config(text) == {
        "_APP_SMTP_HOST": "smtp.example.com",
        "_APP_SMTP_PORT": "587",
        "QUOTED": "a # not a comment\nsecond line",
        "LITERAL": "raw \\n stays",
        "EMPTY": "",
        "URL": "https://example.com/a=b?c=d",
    }


def test_yaml_value_containing_equals_is_still_yaml() -> None:
    assert parse_config("URL: https://x.example/?a=b\nB: c") == {
        "URL": "https://x.example/?a=b", "B": "c"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("- a\n- b\n", "expected a mapping"),
        ("just words", "expected a mapping"),
        ("A: [1, 2]\n", "A must be a single string"),
        ("A: {b: 1}\n", "A must be a single string"),
        ("A:\n", "A has no value"),
        ("BAD-NAME: x\n", "'BAD-NAME' is not valid"),
        ("A: 'unclosed\n", "not valid YAML at line"),
        ("~: x\n", "a key is empty"),
        ("BAD-NAME=x\n", "line 1: config var name 'BAD-NAME' is not valid"),
        ("A=\"unclosed\n", "line 1 has an unclosed double quote"),
        ("A='unclosed\n", "line 1 has an unclosed single quote"),
        ("A='x' trailing\n", "line 1 has text after the closing quote"),
    ],
)
def test_bad_input_is_one_line_naming_the_problem(text: str, expected: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_config(text, "config")
    message = str(caught.value)
    assert expected in message
    assert "\n" not in message


@pytest.mark.parametrize(
    "text",
    [
        f"PASSWORD: [{SECRET}]\n",
        f"PASSWORD: '{SECRET}\n",
        f"BAD-KEY={SECRET}\n",
        f"A=\"{SECRET}\n",
        f"A='{SECRET}' {SECRET}\n",
    ],
)
def test_errors_never_echo_a_value(text: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_config(text)
    assert SECRET not in str(caught.value)


_names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,20}", fullmatch=True)
_values = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\x00"),
    max_size=40,
)


@given(st.dictionaries(_names, _values, max_size=8))
def test_yaml_dump_round_trips(config: dict[str, str]) -> None:
    """Whatever a user's YAML tool writes for string values reads back unchanged."""
    text = yaml.safe_dump(config, allow_unicode=True)
    assert parse_yaml(text) == config


@given(st.dictionaries(_names, _values, max_size=8))
def test_dotenv_double_quoted_round_trips(config: dict[str, str]) -> None:
    def quote(value: str) -> str:
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'

    text = "\n".join(f"{key}={quote(value)}" for key, value in config.items())
    assert parse_dotenv(text) == config
