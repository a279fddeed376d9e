"""Block-style YAML for plain data (dict, list, str, int, float, bool, None).

PyYAML's representer is pure Python and needed ~5 s for the 13 MB of CRDs of a big
provider; this emitter does the same job for the only shapes the generator produces in
a fraction of the time.  Strings are written plain when that is unambiguous and as
JSON strings otherwise (a JSON string is a valid YAML double-quoted scalar), so every
document reads back exactly as it was built (tests check this with yaml.safe_load).
"""

from __future__ import annotations

import json
import re
from typing import Any

# Plain scalars that cannot be mistaken for another type in YAML 1.1 or 1.2.
_PLAIN = re.compile(r"[A-Za-z_/][A-Za-z0-9_./-]*\Z")
_RESERVED = frozenset("y n yes no on off true false null".split())  # compared case-insensitively
# Characters a YAML reader refuses raw (DEL, C1 controls: "control characters are not
# allowed") or reads as line breaks inside a quoted scalar and folds (NEL, U+2028/2029);
# json.dumps escapes C0 controls itself, these are escaped after it the same way.
_UNSAFE = re.compile("[\x7f-\x9f\u2028\u2029\ufffe\uffff\ud800-\udfff]")


def dumps(data: Any) -> str:
    lines: list[str] = []
    _node(data, 0, lines)
    return "\n".join(lines) + "\n"


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return json.dumps(value)
    if isinstance(value, float):
        text = json.dumps(value)  # YAML 1.1 readers want a dot in "1.0e+100"
        if "e" in text and "." not in text:
            text = text.replace("e", ".0e", 1)
        return text
    if isinstance(value, str):
        if _PLAIN.match(value) and value.lower() not in _RESERVED:
            return value
        return _UNSAFE.sub(_escape, json.dumps(value, ensure_ascii=False))
    raise TypeError(f"cannot write {type(value).__name__} as YAML")


def _escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def _node(data: Any, indent: int, lines: list[str]) -> None:
    pad = " " * indent
    if isinstance(data, dict):
        if not data:
            lines.append(pad + "{}")
        for key, value in data.items():
            _entry(f"{pad}{_scalar(key)}:", value, indent, lines)
    elif isinstance(data, list):
        if not data:
            lines.append(pad + "[]")
        for value in data:
            _entry(f"{pad}-", value, indent, lines, in_list=True)
    else:
        lines.append(pad + _scalar(data))


def _entry(head: str, value: Any, indent: int, lines: list[str], in_list: bool = False) -> None:
    if isinstance(value, dict) and value:
        if in_list:  # "- key: value" with the rest of the mapping aligned under it
            first = len(lines)
            _node(value, indent + 2, lines)
            lines[first] = head + lines[first][indent + 1 :]
        else:
            lines.append(head)
            _node(value, indent + 2, lines)
    elif isinstance(value, list) and value:
        lines.append(head)
        _node(value, indent + 2, lines)
    else:
        empty = "{}" if isinstance(value, dict) else "[]" if isinstance(value, list) else None
        lines.append(f"{head} {empty or _scalar(value)}")
