"""Connection-detail transforms: turn one Terraform attribute into a Secret value.

A kind's ``connection_details`` name an attribute and an optional transform:

``None``                      the value as is (non-strings are JSON-encoded)
``base64decode``              the provider returns base64 (e.g. a kubeconfig); decode it
``json:<dotted.path>``        the attribute holds a JSON document; pick one value from it
``python:<module>:<function>`` call ``function(value, state)``; returns ``str`` or ``bytes``

:func:`check_spec` checks a spec's form (the contract's validator runs it when generating
and at start-up); :func:`compile_transform` resolves it once at start-up, so a typo in a
module name fails loudly when the controller starts instead of on the first reconcile.
"""

from __future__ import annotations

import base64
import binascii
import importlib
import json
import re
from collections.abc import Callable
from typing import Any

Transform = Callable[[Any, dict[str, Any]], bytes]


class TransformError(ValueError):
    """A value cannot be transformed; the message never contains the value itself."""


def to_bytes(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def lookup(data: Any, path: str) -> Any:
    """Follow a dotted path through dicts and lists (``a.b.0.c``); ``KeyError`` if absent."""
    for part in path.split(".") if path else []:
        if isinstance(data, list):
            try:
                data = data[int(part)]
            except (ValueError, IndexError):
                raise KeyError(path) from None
        elif isinstance(data, dict) and part in data:
            data = data[part]
        else:
            raise KeyError(path)
    return data


def _identity(value: Any, state: dict[str, Any]) -> bytes:
    return to_bytes(value)


def _base64decode(value: Any, state: dict[str, Any]) -> bytes:
    if not isinstance(value, str):
        raise TransformError("base64decode needs a string attribute")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise TransformError("attribute is not valid base64") from None


def _json_path(path: str) -> Transform:
    def transform(value: Any, state: dict[str, Any]) -> bytes:
        try:
            document = json.loads(value) if isinstance(value, str | bytes) else value
        except json.JSONDecodeError:
            raise TransformError("attribute is not valid JSON") from None
        try:
            return to_bytes(lookup(document, path))
        except KeyError:
            raise TransformError(f"JSON path {path!r} not found in attribute") from None

    return transform


FORMS = "none, base64decode, json:<dotted.path> or python:<module>:<function>"
_MODULE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
_FUNCTION = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def check_spec(spec: str | None) -> None:
    """Raise :class:`TransformError` unless ``spec`` has one of the :data:`FORMS`."""
    if spec is None or spec == "" or spec == "base64decode":
        return
    if not isinstance(spec, str):
        raise TransformError(f"expected a string ({FORMS}), got {type(spec).__name__}")
    if spec.startswith("json:"):
        path = spec.removeprefix("json:")
        if path and "" in path.split("."):
            raise TransformError(f"json:{path!r} has an empty step in its dotted path")
        return
    if spec.startswith("python:"):
        module_name, _, function_name = spec.removeprefix("python:").partition(":")
        if not (_MODULE.fullmatch(module_name) and _FUNCTION.fullmatch(function_name)):
            raise TransformError(
                f"{spec!r} is not python:<module>:<function> (a dotted module name and a"
                " function name)"
            )
        return
    raise TransformError(f"unknown connection detail transform {spec!r} (known: {FORMS})")


def _python(spec: str) -> Transform:
    module_name, _, function_name = spec.partition(":")
    function = getattr(importlib.import_module(module_name), function_name, None)
    if not callable(function):
        raise TransformError(f"{module_name}.{function_name} is not a function")

    def transform(value: Any, state: dict[str, Any]) -> bytes:
        return to_bytes(function(value, state))

    return transform


def compile_transform(spec: str | None) -> Transform:
    """The callable for one transform spec; raises :class:`TransformError` if unknown."""
    check_spec(spec)
    if not spec:
        return _identity
    if spec == "base64decode":
        return _base64decode
    if spec.startswith("json:"):
        return _json_path(spec.removeprefix("json:"))
    if spec.startswith("python:"):
        return _python(spec.removeprefix("python:"))
    raise AssertionError(spec)  # check_spec knows every form
