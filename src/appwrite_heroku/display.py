"""How text from users and remote systems is shown: on one line, and never as a runner command.

A GitHub runner reads workflow commands from every line a step prints: a line whose text starts
with `::` (after leading whitespace), and — its older parser looks for the prefix with IndexOf —
`##[` anywhere in a line. The CLI is run in workflows too, so every line it prints that carries
outside text (a config value, an app's release output, an error's detail) goes through here:
control characters become escapes (one value, one line) and a command prefix is escaped the
way Python or JSON would (`\\x23`, `\\x3a`), so it reads the same and is never executed.
"""

from __future__ import annotations

import json
import re
import shlex

# Control characters, line separators, and lone surrogates (undecodable bytes from argv or
# the environment), which no UTF-8 stream can print.
_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
_OLD_COMMAND = "##["


def _escape_control(match: re.Match[str]) -> str:
    char = match.group()
    return {"\n": "\\n", "\r": "\\r"}.get(char, f"\\x{ord(char):02x}" if ord(char) < 256
                                           else f"\\u{ord(char):04x}")


def has_command(line: str) -> bool:
    """Whether a runner would parse this line as a workflow command."""
    return line.lstrip().startswith("::") or _OLD_COMMAND in line


def safe_line(text: str) -> str:
    """`text` as one line no runner takes for a command (readable: escapes, not deletions)."""
    line = _CONTROL.sub(_escape_control, text).replace(_OLD_COMMAND, "#\\x23[")
    stripped = line.lstrip()
    if stripped.startswith("::"):
        line = line[: len(line) - len(stripped)] + "\\x3a" + stripped[1:]
    return line


def needs_quoting(value: str) -> bool:
    return bool(_CONTROL.search(value)) or has_command(value) or value != value.strip()


def value_text(value: str) -> str:
    """A config value as shown in a plan: as written when harmless, else a JSON string (which
    decodes to the exact value) with any command prefix escaped."""
    if not needs_quoting(value):
        return value
    return json.dumps(value, ensure_ascii=False).replace(_OLD_COMMAND, "#\\u0023[")


def shell_text(value: str) -> str:
    """A value for a `KEY=value` line a shell can read back: bash's `$'…'` quoting when it has
    control characters or `##[`, else single quotes where needed."""
    if not (_CONTROL.search(value) or _OLD_COMMAND in value):
        return shlex.quote(value)
    out = []
    for char in value:
        if char in "\\'":
            out.append("\\" + char)
        elif _CONTROL.match(char):
            out.append(f"\\x{ord(char):02x}" if ord(char) < 256 else f"\\u{ord(char):04x}")
        elif char == "#":
            out.append("\\x23")  # bash reads it back as `#`; a runner sees no `##[`
        else:
            out.append(char)
    return "$'" + "".join(out) + "'"


QUOTED_CHARS = 80  # an error message quotes at most this much of an input


def quoted(value: str) -> str:
    """A non-secret input quoted inside an error message; a long one cut short (with its
    length), so that a 1 MB input is still answered by one readable line."""
    if len(value) <= QUOTED_CHARS:
        return safe_line(repr(value))
    return safe_line(repr(value[:QUOTED_CHARS])) + f"... ({len(value)} characters)"
