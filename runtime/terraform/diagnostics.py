"""What a failed or warning Terraform run says: diagnostics and :class:`TerraformError`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Diagnostic:
    severity: str
    summary: str
    detail: str = ""
    address: str | None = None

    def short(self) -> str:
        detail = " ".join(self.detail.split())
        return f"{self.summary}: {detail}" if detail else self.summary


# What Terraform itself says when the provider's ReadResource returns a null state for
# an imported ID (terraform/internal/terraform/node_resource_import.go): the one
# structured "it does not exist" an import gives.  Providers' own messages never count.
IMPORT_NON_EXISTENT = "Cannot import non-existent remote object"

# Diagnostics that say the provider, not the request, failed: the outcome is unknown.
_CRASH_SUMMARIES = (
    "Plugin did not respond",
    "Request cancelled",
    "Provider produced inconsistent result after apply",
    "Provider returned invalid result object after apply",
    "Failed to save state",
    "Failed to persist state",
    "Error saving state",
)


class TerraformError(Exception):
    """A Terraform run failed.  ``str()`` is a short message fit for a condition.

    ``nothing_created`` is True only when the run shows nothing was created: Terraform
    exited normally and either never started applying the resource or the provider
    returned an error (whose new state the reconciler still checks); a timeout, a signal,
    a crashed or unresponsive provider leave it False (outcome unknown).
    """

    def __init__(
        self,
        command: str,
        diagnostics: list[Diagnostic],
        fallback: str = "",
        *,
        nothing_created: bool = False,
    ):
        self.command = command
        self.diagnostics = diagnostics
        self.nothing_created = nothing_created
        errors = [d for d in diagnostics if d.severity == "error"] or diagnostics
        text = "; ".join(d.short() for d in errors) or fallback or "failed without diagnostics"
        super().__init__(f"{command}: {text}")

    @property
    def not_found(self) -> bool:
        """Import found nothing: every error is Terraform's null-ReadResource verdict."""
        errors = [d for d in self.diagnostics if d.severity == "error"]
        return bool(errors) and all(d.summary == IMPORT_NON_EXISTENT for d in errors)

    @property
    def stale_plan(self) -> bool:
        return any("saved plan is stale" in d.short().lower() for d in self.diagnostics)


def apply_outcome_known(
    returncode: int, messages: list[dict[str, Any]], diagnostics: list[Diagnostic]
) -> bool:
    """Whether a failed ``apply -json`` shows that nothing was created.

    Only a normal exit (1) counts.  Then either no resource change was started (the run
    failed while planning or configuring the provider), or the provider answered the
    change with an error (``apply_errored``) and did not crash.
    """
    if returncode != 1 or not any(d.severity == "error" for d in diagnostics):
        return False
    if any(d.summary.startswith(_CRASH_SUMMARIES) for d in diagnostics):
        return False
    started = [m for m in messages if m.get("type") == "apply_start"]
    errored = [m for m in messages if m.get("type") == "apply_errored"]
    return not started or bool(errored)


def parse_json_lines(output: str) -> tuple[list[dict[str, Any]], list[Diagnostic]]:
    """Split ``-json`` machine output into messages and diagnostics (bad lines skipped)."""
    messages: list[dict[str, Any]] = []
    diagnostics: list[Diagnostic] = []
    for line in output.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            message = json.loads(line)
        except json.JSONDecodeError:
            continue
        messages.append(message)
        diag = message.get("diagnostic")
        if message.get("type") == "diagnostic" and isinstance(diag, dict):
            diagnostics.append(
                Diagnostic(
                    severity=diag.get("severity", "error"),
                    summary=diag.get("summary", "").strip(),
                    detail=diag.get("detail", "").strip(),
                    address=diag.get("address"),
                )
            )
    return messages, diagnostics


_BOX = "╷│╵"


def parse_text_diagnostics(output: str) -> list[Diagnostic]:
    """Diagnostics from human-readable output (``import`` has no ``-json``).

    A diagnostic starts with ``Error: <summary>`` or ``Warning: <summary>``; the detail is
    every following line up to the next diagnostic or the end of its box.
    """
    diagnostics: list[Diagnostic] = []
    current: dict[str, Any] | None = None
    for raw in output.splitlines():
        boxed = raw.lstrip().startswith(tuple(_BOX))
        line = raw.strip().lstrip(_BOX).strip()
        head = line.split(":", 1)
        if len(head) == 2 and head[0] in ("Error", "Warning"):
            if current:
                diagnostics.append(_finish(current))
            current = {"severity": head[0].lower(), "summary": head[1].strip(), "detail": []}
        elif current is not None:
            if raw.strip().startswith("╵"):
                diagnostics.append(_finish(current))
                current = None
            elif line or boxed:
                current["detail"].append(line)
    if current:
        diagnostics.append(_finish(current))
    return diagnostics


def _finish(current: dict[str, Any]) -> Diagnostic:
    detail_lines = [d for d in current["detail"] if d]
    # Source snippets ("on main.tf.json line 3 ...") say nothing to a Kubernetes user.
    detail_lines = [d for d in detail_lines if not d.startswith("on main.tf.json")]
    return Diagnostic(current["severity"], current["summary"], "\n".join(detail_lines))
