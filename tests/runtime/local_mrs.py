"""The local provider in the end-to-end tests: its group, File MRs and a controller
that reconciles them (the ``local_provider`` fixture generates the provider)."""

from __future__ import annotations

from tests.runtime import harness
from tests.runtime.harness import Controller

GROUP = "local.m.jetgen.dev"
POLL = 4.0


def file_mr(name: str, ns: str, path, content: str, **spec) -> dict:
    return {
        "apiVersion": f"{GROUP}/v1alpha1",
        "kind": "File",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"forProvider": {"filename": str(path), "content": content}, **spec},
    }


def local_controller(apiserver, testbed, provider, tmp_path, **kw) -> Controller:
    return harness.provider_controller(apiserver, testbed, provider, tmp_path, poll=POLL, **kw)
