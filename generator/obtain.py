"""Obtain a provider's schema by running ``tofu``/``terraform providers schema -json``.

A throw-away working directory gets a ``required_providers`` block pinning the source
and version (``jetgen.runtime.provider_requirements``, the one builder of that block); ``init``
installs the provider (honouring ``TF_CLI_CONFIG_FILE`` and its filesystem mirror, so this
works offline), and the schema is saved next to the config as ``schema.json``, which later
runs reuse.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from jetgen.runtime.provider_requirements import install_config

SCHEMA_FILE = "schema.json"
BINARY_ENV = "JETGEN_TERRAFORM"


class ObtainError(RuntimeError):
    """The Terraform binary is missing or failed; the message carries its output."""


def find_binary(explicit: str | None = None) -> str:
    """``--terraform-binary``, else ``$JETGEN_TERRAFORM``, else tofu or terraform on PATH."""
    candidates = (
        [explicit, os.environ.get(BINARY_ENV)]
        if explicit or os.environ.get(BINARY_ENV)
        else ["tofu", "terraform"]
    )
    for candidate in candidates:
        if candidate and (found := shutil.which(candidate)):
            return found
    raise ObtainError(
        f"no Terraform binary: tried {[c for c in candidates if c]};"
        f" pass --terraform-binary or set {BINARY_ENV}"
    )


def obtain(source: str, version: str, target: Path, binary: str | None = None) -> Path:
    """Write the schema of provider ``source`` (``version``) to ``target`` atomically."""
    if not source:
        raise ObtainError(f"{target.parent / 'jetgen.yaml'}: source: not set")
    exe = find_binary(binary)
    with tempfile.TemporaryDirectory(prefix="jetgen-schema-") as tmp:
        work = Path(tmp)
        (work / "main.tf.json").write_text(json.dumps(install_config(source, version), indent=1))
        _run([exe, "init", "-input=false", "-no-color", "-backend=false"], work)
        schema = _run([exe, "providers", "schema", "-json"], work)
    try:
        json.loads(schema)
    except ValueError as exc:
        raise ObtainError(f"{exe} providers schema -json printed invalid JSON: {exc}") from None
    partial = target.with_name(target.name + ".tmp")
    partial.write_text(schema)
    os.replace(partial, target)
    return target


def _run(command: list[str], cwd: Path) -> str:
    env = dict(os.environ, TF_IN_AUTOMATION="1")
    try:
        done = subprocess.run(
            command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ObtainError(f"{' '.join(command)}: {exc}") from None
    if done.returncode != 0:
        output = (done.stderr or done.stdout).strip()[-3000:]
        raise ObtainError(f"{' '.join(command)} failed (exit {done.returncode}):\n{output}")
    return done.stdout
