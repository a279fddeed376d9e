"""How jetgen requires a provider in a Terraform configuration (``required_providers``).

Part of the contract between generator and runtime: every ``main.tf.json`` jetgen writes
-- a managed resource's workdir, the controller's provider install, the generator's schema
run, the image's ``init`` -- takes its ``required_providers`` from here, so the provider's
local name follows one rule everywhere: the last part of its source address.
"""

from __future__ import annotations

from typing import Any


def provider_local_name(source: str) -> str:
    """``hashicorp/random`` -> ``random`` (the name used in provider blocks)."""
    return source.rstrip("/").rsplit("/", 1)[-1]


def required_providers(source: str, version: str) -> dict[str, dict[str, str]]:
    """The ``required_providers`` entry of provider ``source``, pinned to ``version`` when
    one is given."""
    requirement = {"source": source}
    if version:
        requirement["version"] = version
    return {provider_local_name(source): requirement}


def install_config(source: str, version: str) -> dict[str, Any]:
    """A ``main.tf.json`` that only requires the provider: what ``init`` needs to install it."""
    return {"terraform": {"required_providers": required_providers(source, version)}}
