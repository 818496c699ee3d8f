"""The Action's `config` input: the user's own config vars, as YAML or as dotenv lines.

Users paste config either way (a YAML block in the workflow, or the contents of a `.env` file
kept in a secret), so both are read into one ``dict[str, str]`` that the release engine merges
into the app's config. Pure functions: no environment, no I/O.

Error messages name the line or key that is wrong and never echo a value, because values are
often secrets (a workflow passes `${{ secrets.SMTP_PASSWORD }}` through here).
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from ..display import quoted
from ..errors import InputError
from . import inputs

_DOTENV_LINE = re.compile(r"^\s*(?:export\s+)?(?P<key>[^=\s]+)\s*=(?P<value>.*)$")
_DOUBLE_QUOTE_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "\\": "\\", "$": "$"}


class _TextLoader(yaml.SafeLoader):
    """YAML where every plain scalar stays the text the user wrote (null aside).

    Plain YAML 1.1 turns `on`/`no` into booleans, `0755` into 493 and `2024-01-01` into a date,
    and a key `OFF` into False: config vars are strings, so the text as written is what counts.
    """

    yaml_implicit_resolvers = {  # noqa: RUF012 - PyYAML's own class attribute
        first: [(tag, regexp) for tag, regexp in resolvers if tag == "tag:yaml.org,2002:null"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        """A key given twice is refused: PyYAML would keep the last value silently."""
        seen: set[object] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, str):
                if key in seen:
                    raise _Twice(key, key_node.start_mark.line + 1)
                seen.add(key)
        return super().construct_mapping(node, deep)


class _Twice(Exception):
    def __init__(self, key: str, line: int) -> None:
        super().__init__(key)
        self.key, self.line = key, line


def parse_config(text: str, source: str = "config") -> dict[str, str]:
    """YAML mapping or dotenv lines → config vars; ``InputError`` (exit 2) on anything else.

    The form is chosen by the lines themselves: when every meaningful line is `KEY=value`
    (optionally `export KEY=value`), it is dotenv; otherwise it must be a YAML mapping.
    """
    inputs.bounded_text(text, source, "write one `NAME: value` (or `NAME=value`) per line")
    if not text.strip():
        return {}
    if _looks_like_dotenv(text):
        return parse_dotenv(text, source)
    return parse_yaml(text, source)


def _looks_like_dotenv(text: str) -> bool:
    lines = [line for line in text.splitlines() if line.strip() and not _is_comment(line)]
    return bool(lines) and all(
        (m := _DOTENV_LINE.match(line)) is not None and ":" not in m.group("key")
        for line in lines
    )


def _is_comment(line: str) -> bool:
    return line.lstrip().startswith("#")


def _check_key(key: str, where: str, source: str) -> None:
    """The one rule for config var names (`inputs.config_key`): ASCII, no line break."""
    inputs.config_key(key, f"{source}: {where}")


def parse_yaml(text: str, source: str = "config") -> dict[str, str]:
    """A flat YAML mapping of names to scalars, each kept as the text written."""
    try:
        data = yaml.load(text, Loader=_TextLoader)  # noqa: S506 - a SafeLoader subclass
    except RecursionError:
        raise InputError(f"{source}: nested too deeply; write one `NAME: value` per line") from None
    except _Twice as twice:
        raise InputError(f"{source}: line {twice.line} gives {quoted(twice.key)} again; give "
                         "each config var once") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise InputError(
            f"{source}: not valid YAML{where}; write one `NAME: value` per line "
            "(or dotenv `NAME=value` lines)"
        ) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InputError(
            f"{source}: expected a mapping of config var names to values "
            "(`NAME: value` per line, or dotenv `NAME=value` lines)"
        )
    result: dict[str, str] = {}
    for key, value in data.items():
        if not isinstance(key, str):
            raise InputError(f"{source}: a key is empty or not plain text; write `NAME: value`")
        name = key
        _check_key(name, "key", source)
        result[name] = _scalar_text(name, value, source)
    return result


def _scalar_text(name: str, value: object, source: str) -> str:
    if isinstance(value, str):
        return inputs.config_value(name, value, source)
    if value is None:
        raise InputError(
            f"{source}: {name} has no value; write {name}: \"\" for an empty string "
            "(removing a config var is done with `heroku config:unset`)"
        )
    raise InputError(
        f"{source}: {name} must be a single string, number or boolean, not "
        f"{inputs.json_kind(value)}; quote it if it is text"
    )


def parse_dotenv(text: str, source: str = "config") -> dict[str, str]:
    """`NAME=value` lines, as in a `.env` file.

    Written here rather than taken from python-dotenv: the subset needed (comments, `export`,
    single quotes literal, double quotes with backslash escapes, trailing ` # comment` on
    unquoted values) is small, and it keeps the Action's image free of another dependency.
    """
    result: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or _is_comment(line):
            continue
        match = _DOTENV_LINE.match(line)
        if match is None:
            raise InputError(f"{source}: line {number} is not `NAME=value`")
        key = match.group("key")
        _check_key(key, f"line {number}", source)
        if key in result:
            raise InputError(f"{source}: line {number} gives {key} again; give each config "
                             "var once")
        result[key] = inputs.config_value(
            key, _dotenv_value(match.group("value").strip(), number, source), source)
    return result


def _dotenv_value(raw: str, number: int, source: str) -> str:
    if raw.startswith("'"):
        end = raw.find("'", 1)
        if end < 0:
            raise InputError(f"{source}: line {number} has an unclosed single quote")
        _only_comment_after(raw[end + 1 :], number, source)
        return raw[1:end]
    if raw.startswith('"'):
        out: list[str] = []
        index = 1
        while index < len(raw):
            char = raw[index]
            if char == "\\" and index + 1 < len(raw):
                nxt = raw[index + 1]
                out.append(_DOUBLE_QUOTE_ESCAPES.get(nxt, "\\" + nxt))
                index += 2
                continue
            if char == '"':
                _only_comment_after(raw[index + 1 :], number, source)
                return "".join(out)
            out.append(char)
            index += 1
        raise InputError(f"{source}: line {number} has an unclosed double quote")
    # Unquoted: ` #` starts a comment, as in shells and python-dotenv.
    comment = re.search(r"\s#", raw)
    return (raw[: comment.start()] if comment else raw).strip()


def _only_comment_after(rest: str, number: int, source: str) -> None:
    rest = rest.strip()
    if rest and not rest.startswith("#"):
        raise InputError(f"{source}: line {number} has text after the closing quote")
