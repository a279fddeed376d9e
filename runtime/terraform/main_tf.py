"""``main.tf.json``: the configuration Terraform is given for one managed resource."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jetgen.runtime import literal
from jetgen.runtime.terraform.credentials import CREDENTIAL_VAR_PREFIX

RESOURCE_NAME = "this"


def provider_local_name(source: str) -> str:
    """``hashicorp/random`` -> ``random`` (the name used in provider blocks)."""
    return source.rstrip("/").rsplit("/", 1)[-1]


def render_main(
    *,
    source: str,
    version: str,
    resource_type: str,
    arguments: Mapping[str, Any],
    provider_arguments: Mapping[str, Any] | None = None,
    credential_arguments: list[str] | tuple[str, ...] = (),
    ignore_changes: list[str] | None = None,
) -> dict[str, Any]:
    """The whole ``main.tf.json`` of one managed resource.

    ``credential_arguments`` names provider arguments whose values come from the
    ProviderConfig's Secret; each becomes a sensitive variable filled through the
    environment (see :func:`credential_env_name`).
    """
    local = provider_local_name(source)
    requirement: dict[str, Any] = {"source": source}
    if version:
        requirement["version"] = version
    # Everything from a spec or ProviderConfig is data: escaped so Terraform evaluates none
    # of it.  Only the credential variables below are interpolations, and they are ours.
    provider = literal.escape(dict(provider_arguments or {}))
    variables: dict[str, Any] = {}
    for name in credential_arguments:
        var = CREDENTIAL_VAR_PREFIX + name
        variables[var] = {"type": "string", "sensitive": True}
        provider[name] = f"${{var.{var}}}"
    resource = literal.escape(dict(arguments))
    resource["lifecycle"] = {"prevent_destroy": False}
    if ignore_changes:
        resource["lifecycle"]["ignore_changes"] = sorted(ignore_changes)
    doc: dict[str, Any] = {
        "terraform": {"required_providers": {local: requirement}},
        "provider": {local: provider},
        "resource": {resource_type: {RESOURCE_NAME: resource}},
    }
    if variables:
        doc["variable"] = variables
    return doc


def resource_address(resource_type: str) -> str:
    return f"{resource_type}.{RESOURCE_NAME}"
