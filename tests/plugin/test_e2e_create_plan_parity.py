"""Create plans of the client == tofu's, for a spread of resource types of every provider.

One tofu working directory declares all the resources; `tofu show -json` of its plan gives,
per resource, the planned values (`after`, unknowns left out) and where unknowns are
(`after_unknown`). The client plans each resource from the same config, and both are
compared leaf by leaf: same known values, unknown at the same paths. This checks config
completion (every attribute, empty blocks) and what providers make of our proposal.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from jetgen.runtime.tfplugin.client import ProviderProcess

from .conftest import run, same_plan

pytestmark = pytest.mark.e2e


def cases(key_pem: str, folder: Path) -> dict[str, dict]:
    subject = [{"common_name": "jetgen.test", "organization": "jetgen"}]
    return {
        "random_password": {"length": 10, "keepers": {"a": "b"}},
        "random_pet": {},
        "random_shuffle": {"input": ["a", "b", "c"], "result_count": 2},
        "random_integer": {"min": 1, "max": 10},
        "local_file": {"filename": str(folder / "out.txt"), "content": "x"},
        "time_offset": {"offset_days": 1},
        "time_rotating": {"rotation_days": 3, "rfc3339": "2026-01-01T00:00:00Z"},
        "time_sleep": {"create_duration": "1s"},
        "tls_private_key": {"algorithm": "RSA", "rsa_bits": 2048},
        "tls_cert_request": {"private_key_pem": key_pem, "subject": subject},
        "tls_self_signed_cert": {
            "private_key_pem": key_pem,
            "validity_period_hours": 1,
            "allowed_uses": ["server_auth"],
            "subject": subject,
        },
    }


def test_create_plans_match_tofu(testbed, provider_binary, tmp_path):
    async def make_key():
        async with await ProviderProcess.start(provider_binary("tls")) as tls:
            config = {"algorithm": "ECDSA"}
            plan = await tls.plan("tls_private_key", None, config)
            return (await tls.apply("tls_private_key", None, plan, config))[0]["private_key_pem"]

    configs = cases(run(make_key()), tmp_path)
    providers = sorted({type_name.split("_")[0] for type_name in configs})
    body = {
        "terraform": {"required_providers": {p: {"source": f"hashicorp/{p}"} for p in providers}},
        "resource": {type_name: {"this": config} for type_name, config in configs.items()},
    }
    (tmp_path / "main.tf.json").write_text(json.dumps(body))
    for args in (["init", "-input=false"], ["plan", "-input=false", "-out=plan.bin"]):
        done = subprocess.run(
            [str(testbed.tofu), *args], cwd=tmp_path, env=testbed.tf_env(), capture_output=True
        )
        assert done.returncode == 0, done.stderr.decode()
    shown = subprocess.run(
        [str(testbed.tofu), "show", "-json", "plan.bin"],
        cwd=tmp_path,
        env=testbed.tf_env(),
        capture_output=True,
        check=True,
    )
    tofu_changes = {c["type"]: c["change"] for c in json.loads(shown.stdout)["resource_changes"]}

    async def our_plans():
        plans = {}
        for name in providers:
            async with await ProviderProcess.start(provider_binary(name)) as provider:
                await provider.configure({})
                for type_name, config in configs.items():
                    if type_name.startswith(name + "_"):
                        plan = await provider.plan(type_name, None, config)
                        plans[type_name] = plan.planned_state
        return plans

    ours = run(our_plans())
    assert sorted(ours) == sorted(tofu_changes)
    for type_name, planned in ours.items():
        change = tofu_changes[type_name]
        assert change["actions"] == ["create"], type_name
        same_plan(planned, change, type_name)
