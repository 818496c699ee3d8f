"""Workflow commands, outputs and the step summary, as the GitHub runner parses them."""

from __future__ import annotations

import io
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appwrite_heroku.action.workflow import (
    ActionsReporter,
    append_summary,
    command,
    escape_data,
    escape_property,
    mask_commands,
    output_entry,
    summary_markdown,
    write_outputs,
)
from appwrite_heroku.release.engine import DeployResult
from appwrite_heroku.secrecy import Redactor
from helpers import CANARY_API_KEY, CANARY_DB_PASSWORD, parse_outputs


def _runner_unescape(text: str) -> str:
    """The runner's own unescaping of command data (ActionCommand.cs)."""
    return text.replace("%0D", "\r").replace("%0A", "\n").replace("%25", "%")


def _runner_unescape_property(text: str) -> str:
    return _runner_unescape(text.replace("%3A", ":").replace("%2C", ","))


@given(st.text(max_size=60))
def test_escape_data_round_trips_and_stays_one_line(text: str) -> None:
    escaped = escape_data(text)
    assert "\n" not in escaped and "\r" not in escaped
    assert _runner_unescape(escaped) == text


@given(st.text(max_size=60))
def test_escape_property_round_trips_without_delimiters(text: str) -> None:
    escaped = escape_property(text)
    assert ":" not in escaped and "," not in escaped and "\n" not in escaped
    assert _runner_unescape_property(escaped) == text


def test_command_lines() -> None:
    assert command("group", "Build") == "::group::Build"
    assert command("error", "a\nb", title="Release: failed, v3") == (
        "::error title=Release%3A failed%2C v3::a%0Ab"
    )
    assert command("endgroup") == "::endgroup::"


def test_mask_commands_mask_each_line_of_a_multiline_secret() -> None:
    lines = mask_commands("line-one-secret\nline-two-secret")
    assert "::add-mask::line-one-secret" in lines
    assert "::add-mask::line-two-secret" in lines
    assert mask_commands("plain") == ["::add-mask::plain"]


@given(st.dictionaries(st.from_regex(r"[a-z][a-z-]{0,10}", fullmatch=True),
                       st.text(alphabet=st.characters(blacklist_categories=("Cs",),
                                                      blacklist_characters="\r"),
                               max_size=50),
                       max_size=5))
def test_outputs_file_round_trips_through_the_runner_parser(outputs: dict[str, str]) -> None:
    text = "".join(output_entry(name, value) for name, value in outputs.items())
    assert parse_outputs(text) == outputs


def test_multiline_output_uses_heredoc_form() -> None:
    entry = output_entry("changed-config-keys", "A\nB", delimiter="EOF_X")
    assert entry == "changed-config-keys<<EOF_X\nA\nB\nEOF_X\n"
    with pytest.raises(ValueError, match="delimiter"):
        output_entry("x", "a\nEOF_X\n", delimiter="EOF_X")


def test_reporter_masks_first_then_redacts_groups_and_annotates() -> None:
    out = io.StringIO()
    reporter = ActionsReporter(out)
    reporter.secret(CANARY_API_KEY)
    reporter.secret(CANARY_API_KEY)  # a repeated secret is masked once
    reporter.step("Build")
    reporter.info(f"pushing with {CANARY_API_KEY}")
    reporter.step("Release")
    reporter.secret(CANARY_DB_PASSWORD)
    reporter.warning(f"db {CANARY_DB_PASSWORD} slow")
    reporter.error("release phase failed", title="Release failed")
    reporter.end_group()
    lines = out.getvalue().splitlines()
    assert lines == [
        f"::add-mask::{CANARY_API_KEY}",
        "::group::Build",
        "pushing with ****",
        "::endgroup::",
        "::group::Release",
        f"::add-mask::{CANARY_DB_PASSWORD}",
        "::warning::db **** slow",
        "::error title=Release failed::release phase failed",
        "::endgroup::",
    ]


def test_untrusted_lines_cannot_issue_commands() -> None:
    out = io.StringIO()
    ActionsReporter(out).info("step 3/9\n::set-env name=X::1\n  ##[set-output name=y;]z\nok")
    lines = out.getvalue().splitlines()
    assert lines[0] == "step 3/9" and lines[-1] == "ok"
    for bad in ("::set-env name=X::1", "  ##[set-output name=y;]z"):
        index = lines.index(bad)
        start = re.fullmatch(r"::stop-commands::([0-9a-f]{32})", lines[index - 1])
        assert start is not None
        assert lines[index + 1] == f"::{start.group(1)}::"


def _result(**changes: object) -> DeployResult:
    base = DeployResult(
        exit_status=0, app_url="https://my-app.herokuapp.com/", release_version=7,
        image_ids={"web": "sha256:" + "a" * 64, "worker": "sha256:" + "b" * 64},
        changed_config_keys=["_APP_DOMAIN", "_APP_DB_PASS"], rolled_back=False, healthy=True,
        summary="released v7", budget="fits: web basic 452 of 460 MiB; $22/month",
    )
    for key, value in changes.items():
        setattr(base, key, value)
    return base


def test_summary_table_says_what_happened() -> None:
    text = summary_markdown("my-app", "v1.2.3", _result())
    assert text.startswith("### ✅ Appwrite Lite release: my-app\n")
    assert "| App | [my-app](https://my-app.herokuapp.com/) |" in text
    assert "| Tag | `v1.2.3` |" in text
    assert "| Release | v7 |" in text
    assert "web `sha256:aaaaaaaaaaaa`" in text and "worker `sha256:bbbbbbbbbbbb`" in text
    assert "| Config vars changed | `_APP_DOMAIN`, `_APP_DB_PASS` (values ****) |" in text
    assert "| Budget | fits: web basic 452 of 460 MiB; $22/month |" in text
    assert "| Health | healthy |" in text
    assert "| Rollback | no |" in text


def test_summary_of_a_failed_rolled_back_release() -> None:
    text = summary_markdown("my-app", None, _result(
        exit_status=1, healthy=False, rolled_back=True, changed_config_keys=[], image_ids={},
        summary="health | failed"))
    assert text.startswith("### ❌")
    assert "| Health | failed |" in text
    assert "| Rollback | rolled back |" in text
    assert "| Config vars changed | none |" in text
    assert "| Result | health \\| failed |" in text


def test_summary_of_a_run_that_judged_no_budget_says_so() -> None:
    for dry_run in (False, True):
        text = summary_markdown("my-app", None, _result(budget="", summary="refused: bad key"),
                                dry_run)
        assert "| Budget | not checked |" in text


def test_files_are_appended_and_redacted(tmp_path) -> None:
    redactor = Redactor([CANARY_API_KEY])
    outputs, summary = tmp_path / "out", tmp_path / "summary"
    outputs.write_text("earlier=1\n")
    write_outputs(outputs, {"app-url": "https://x/", "leak": CANARY_API_KEY, "keys": "A\nB"},
                  redactor)
    append_summary(summary, f"key {CANARY_API_KEY}\n", redactor)
    parsed = parse_outputs(outputs.read_text())
    assert parsed == {"earlier": "1", "app-url": "https://x/", "leak": "****", "keys": "A\nB"}
    assert CANARY_API_KEY not in summary.read_text()
