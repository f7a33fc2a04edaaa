"""JSON-shaped data as block-style YAML text: what the checked-in AsyncAPI document is written as.

A few dozen lines instead of a YAML library: the contract package stays free of dependencies, and
the output never changes with a library's version. Only what JSON has is written (objects, arrays,
strings, integers, booleans, null); a string is left unquoted only where no YAML reader could take
it for anything but that string, and quoted as a JSON string (valid YAML) everywhere else.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any, Final

__all__ = ["to_yaml"]

# Starts with a letter or "$" and holds no indicator, space or ":": never a number, a comment, a
# flow collection or an alias.
_PLAIN: Final = re.compile(r"[A-Za-z$][A-Za-z0-9_.\-/+$]*")
# Words YAML 1.1 readers (still common) take for booleans or null.
_RESERVED: Final = frozenset({"y", "n", "yes", "no", "on", "off", "true", "false", "null"})
# Characters json.dumps leaves as they are but YAML does not allow unescaped, or reads as line breaks.
_NOT_PRINTABLE: Final = re.compile("[\x7f-\x9f\u2028\u2029\ud800-\udfff\ufffe\uffff]")


def _string(text: str) -> str:
    if _PLAIN.fullmatch(text) and text.lower() not in _RESERVED:
        return text
    quoted = json.dumps(text, ensure_ascii=False)
    return _NOT_PRINTABLE.sub(lambda match: f"\\u{ord(match.group()):04x}", quoted)


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return _string(value)
    raise TypeError(f"cannot write a {type(value).__name__} as YAML (only JSON values)")


def _is_collection(value: Any) -> bool:
    return isinstance(value, Mapping | list | tuple) and len(value) > 0


def _lines(value: Any) -> list[str]:
    """The lines of a non-empty mapping or sequence, not yet indented for their parent."""
    lines: list[str] = []
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"cannot write a {type(key).__name__} key as YAML (only strings)")
            if _is_collection(item):
                lines.append(f"{_string(key)}:")
                lines += [("  " if isinstance(item, Mapping) else "") + line for line in _lines(item)]
            else:
                lines.append(f"{_string(key)}: {_inline(item)}")
        return lines
    for item in value:
        if _is_collection(item):
            first, *rest = _lines(item)
            lines.append(f"- {first}")
            lines += [f"  {line}" for line in rest]
        else:
            lines.append(f"- {_inline(item)}")
    return lines


def _inline(value: Any) -> str:
    if isinstance(value, Mapping):
        return "{}"
    if isinstance(value, Sequence) and not isinstance(value, str):
        return "[]"
    return _scalar(value)


def to_yaml(document: Mapping[str, Any]) -> str:
    """`document` as YAML text ending in a newline; reading it back gives `document` again."""
    if not document:
        return "{}\n"
    return "\n".join(_lines(document)) + "\n"
