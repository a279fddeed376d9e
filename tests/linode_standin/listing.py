"""Paging and X-Filter of list endpoints, as the Linode API does them.

A list answers `{"data": [...], "page": n, "pages": m, "results": total}`; `page` and
`page_size` come from the query string. `X-Filter` is a JSON object: keys are (dotted)
field names compared for equality or through an operator object (`{"+gte": 3}`), `+and` /
`+or` hold lists of such objects, and `+order_by` / `+order` sort the result.
"""

from __future__ import annotations

import json
from typing import Any

OPERATORS = ("+eq", "+neq", "+gt", "+gte", "+lt", "+lte", "+contains")
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 500


class ListingError(ValueError):
    """A bad paging parameter or X-Filter; `field` names it as the API's errors do."""

    def __init__(self, reason: str, field: str):
        super().__init__(reason)
        self.reason, self.field = reason, field


def parse_filter(header: str | None) -> dict:
    if not header:
        return {}
    try:
        parsed = json.loads(header)
    except json.JSONDecodeError as exc:
        raise ListingError(f"Invalid JSON in X-Filter: {exc.msg}", "X-Filter") from exc
    if not isinstance(parsed, dict):
        raise ListingError("X-Filter must be a JSON object", "X-Filter")
    return parsed


def matches(item: dict, condition: dict) -> bool:
    """Whether `item` satisfies every key of one filter object (ordering keys ignored)."""
    for key, wanted in condition.items():
        if key in ("+order_by", "+order"):
            continue
        if key == "+and":
            if not all(matches(item, part) for part in _parts(wanted, key)):
                return False
        elif key == "+or":
            if not any(matches(item, part) for part in _parts(wanted, key)):
                return False
        elif not _compare(_lookup(item, key), wanted, key):
            return False
    return True


def _parts(value: Any, key: str) -> list[dict]:
    if not isinstance(value, list) or not all(isinstance(p, dict) for p in value):
        raise ListingError(f"{key} takes a list of filter objects", "X-Filter")
    return value


def _lookup(item: dict, dotted: str) -> Any:
    value: Any = item
    for part in dotted.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _compare(actual: Any, wanted: Any, key: str) -> bool:
    if not isinstance(wanted, dict):
        return _equal(actual, wanted)
    for op, operand in wanted.items():
        if op not in OPERATORS:
            raise ListingError(f"Unknown filter operator {op} for {key}", "X-Filter")
        if not _apply(op, actual, operand):
            return False
    return True


def _equal(actual: Any, wanted: Any) -> bool:
    # Lists (tags) match when they contain the value, as the API's tag filters do.
    if isinstance(actual, list):
        return wanted in actual
    return actual == wanted


def _apply(op: str, actual: Any, operand: Any) -> bool:
    if op == "+eq":
        return _equal(actual, operand)
    if op == "+neq":
        return not _equal(actual, operand)
    if op == "+contains":
        return isinstance(actual, str) and str(operand) in actual
    if actual is None:
        return False
    try:
        return {
            "+gt": actual > operand,
            "+gte": actual >= operand,
            "+lt": actual < operand,
            "+lte": actual <= operand,
        }[op]
    except TypeError:
        return False


def select(items: list[dict], condition: dict) -> list[dict]:
    """Filter and sort (by `+order_by`, `+order` asc/desc) as the X-Filter says."""
    chosen = [item for item in items if matches(item, condition)]
    order_by = condition.get("+order_by")
    if order_by:
        descending = condition.get("+order", "asc") == "desc"
        chosen.sort(key=lambda item: _sort_key(_lookup(item, order_by)), reverse=descending)
    return chosen


def _sort_key(value: Any) -> tuple:
    return (value is None, "" if value is None else value)


def page(items: list[dict], query: dict[str, str], default_size: int) -> dict:
    """One page of `items` as the API's paginated envelope."""
    number = _int_param(query, "page", 1, 1, None)
    size = _int_param(query, "page_size", default_size, 1, MAX_PAGE_SIZE)
    pages = max(1, -(-len(items) // size))
    start = (number - 1) * size
    return {
        "data": items[start : start + size],
        "page": number,
        "pages": pages,
        "results": len(items),
    }


def _int_param(query: dict[str, str], name: str, default: int, low: int, high: int | None) -> int:
    raw = query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ListingError(f"{name} must be an integer", name) from exc
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise ListingError(f"{name} must be {bound}", name)
    return value
