"""Values reach Terraform literally: escaping for Terraform's JSON configuration syntax.

In ``main.tf.json`` Terraform reads every string -- and every object key of an expression
-- as a template, so ``${...}`` would be evaluated and ``%{...}`` run as a directive.  A
managed resource's values are data, never code: :func:`escape` doubles the introducer
(``$${`` and ``%%{`` are Terraform's escapes for a literal ``${`` and ``%{``), so the
provider and the state see exactly what the user wrote.  The runtime's own interpolations
(the credential variables, see ``terraform.desired``) are added after escaping.

:func:`unescape` is the inverse, what Terraform reads an escaped text as (the tests check
with it that escaping is exact); it refuses a real interpolation, which only the runtime
itself writes.  The plugin-protocol poll never reads ``main.tf.json`` back: it takes the
literals from the typed desired state that wrote it.  Only a deletion whose inputs are gone
(its namespace being deleted) reads the last resource block back with :func:`unescape`
(``ResourceBlock.read``), rather than the controller keeping a copy of every spec.
"""

from __future__ import annotations

from typing import Any

_ESCAPES = (("${", "$${"), ("%{", "%%{"))


class Interpolation(ValueError):
    """An unescaped ``${`` or ``%{``: the text is a template, not a literal."""


def escape(value: Any) -> Any:
    """``value`` with every string and every map key made literal for Terraform."""
    if isinstance(value, str):
        for plain, escaped in _ESCAPES:
            value = value.replace(plain, escaped)
        return value
    if isinstance(value, dict):
        return {escape(k): escape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [escape(v) for v in value]
    return value


def unescape(value: Any) -> Any:
    """What Terraform makes of an escaped ``value``: the inverse of :func:`escape`."""
    if isinstance(value, str):
        return _unescape_text(value)
    if isinstance(value, dict):
        return {unescape(k): unescape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unescape(v) for v in value]
    return value


def _unescape_text(text: str) -> str:
    # Left to right as Terraform's scanner reads it: '$${' is a literal '${' and a '$' not
    # starting either sequence is itself, so '$$${' reads as '$' then '${'.
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch in "$%" and text.startswith(ch + ch + "{", i):
            out.append(ch + "{")
            i += 3
        elif ch in "$%" and text.startswith(ch + "{", i):
            raise Interpolation(f"template sequence {ch}{{ at offset {i}")
        else:
            out.append(ch)
            i += 1
    return "".join(out)
