"""The one error of the contract: a place in kinds.json and what is wrong there."""

from __future__ import annotations

import json


class ContractError(ValueError):
    """``key`` is the dotted place in kinds.json (``timeouts.create``, ``fields.pool.item``),
    relative to kind number ``kind`` when that is set, else to the file's top ("" for the
    file as a whole). The message is one line: values in it are JSON-quoted, so control
    characters are escaped."""

    def __init__(self, key: str, message: str, kind: int | None = None) -> None:
        self.key, self.message, self.kind = key, message, kind
        where = self.json_key()
        super().__init__(f"{where}: {message}" if where else message)

    def json_key(self) -> str:
        """The full key from the file's top (``kinds[3].timeouts.create``)."""
        if self.kind is None:
            return self.key
        return f"kinds[{self.kind}].{self.key}" if self.key else f"kinds[{self.kind}]"

    def in_kind(self, index: int) -> ContractError:
        """The same error placed under kind number ``index``."""
        return ContractError(self.key, self.message, index)


def join(key: str, part: str | int) -> str:
    """``key`` and one more step: ``.name`` (JSON-quoted in brackets unless a plain
    name, so the key stays one unambiguous line) or ``[index]``."""
    if isinstance(part, int):
        return f"{key}[{part}]"
    step = part if part.replace("_", "a").isalnum() and part.isascii() else f"[{json.dumps(part)}]"
    if step.startswith("["):
        return f"{key}{step}"
    return f"{key}.{step}" if key else step


def shown(value: object) -> str:
    """A value as it appears in a message: JSON, one line, at most about 80 characters."""
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = json.dumps(repr(value))
    return text if len(text) <= 80 else text[:77] + "..."
