"""Real side effects (hashicorp/local) and nested blocks / defaults (tls, time)."""

from __future__ import annotations

import pytest
from jetgen.runtime.tfplugin.client import ProviderProcess

from .conftest import run

pytestmark = pytest.mark.e2e


def test_local_file_create_read_gone_delete(provider_binary, tmp_path):
    path = tmp_path / "sub" / "hello.txt"
    config = {"filename": str(path), "content": "hello\n", "file_permission": "0640"}

    async def scenario():
        async with await ProviderProcess.start(provider_binary("local")) as provider:
            await provider.configure({})
            plan = await provider.plan("local_file", None, config)
            state, private = await provider.apply("local_file", None, plan, config)
            assert path.read_text() == "hello\n"
            assert oct(path.stat().st_mode & 0o777) == "0o640"
            assert state["id"] and state["directory_permission"] == "0777"  # default

            again, private = await provider.read("local_file", state, private)
            assert again == state
            assert (await provider.plan("local_file", again, config)).action == "noop"

            # Delete works from the state, while the file still exists...
            delete = await provider.plan("local_file", again, None)
            assert (await provider.apply("local_file", again, delete, None))[0] is None
            assert not path.exists()

            # ...and a file removed behind the provider's back reads as gone.
            plan = await provider.plan("local_file", None, config)
            state, private = await provider.apply("local_file", None, plan, config)
            path.unlink()
            return await provider.read("local_file", state, private)

    assert run(scenario()) == (None, b"")


def test_tls_self_signed_cert_with_nested_block_plans_no_change(provider_binary):
    async def scenario():
        async with await ProviderProcess.start(provider_binary("tls")) as provider:
            await provider.configure({})
            key_config = {"algorithm": "ECDSA", "ecdsa_curve": "P256"}
            plan = await provider.plan("tls_private_key", None, key_config)
            key, _ = await provider.apply("tls_private_key", None, plan, key_config)
            assert key["private_key_pem"].startswith("-----BEGIN EC PRIVATE KEY")
            assert key["rsa_bits"] == 2048  # optional+computed default, unused for ECDSA

            cert_config = {
                "private_key_pem": key["private_key_pem"],
                "validity_period_hours": 24,
                "allowed_uses": ["digital_signature", "server_auth"],
                "subject": [{"common_name": "jetgen.test", "organization": "jetgen"}],
            }
            plan = await provider.plan("tls_self_signed_cert", None, cert_config)
            cert, private = await provider.apply("tls_self_signed_cert", None, plan, cert_config)
            assert cert["cert_pem"].startswith("-----BEGIN CERTIFICATE")
            assert cert["subject"][0]["common_name"] == "jetgen.test"
            assert cert["subject"][0]["country"] is None

            cert, private = await provider.read("tls_self_signed_cert", cert, private)
            same = await provider.plan("tls_self_signed_cert", cert, cert_config, private)
            assert same.action == "noop", same.planned_state

            renamed = {**cert_config, "subject": [{"common_name": "other.test"}]}
            change = await provider.plan("tls_self_signed_cert", cert, renamed, private)
            assert change.action == "replace"
            assert any(path[0] == "subject" for path in change.requires_replace)

    run(scenario())


def test_time_static_optional_computed_has_no_false_diff(provider_binary):
    async def scenario():
        async with await ProviderProcess.start(provider_binary("time")) as provider:
            await provider.configure({})
            config = {"triggers": {"version": "1"}}
            plan = await provider.plan("time_static", None, config)
            state, private = await provider.apply("time_static", None, plan, config)
            # rfc3339 is optional+computed: set by the provider, absent from the config.
            assert state["rfc3339"].endswith("Z") and isinstance(state["unix"], int)

            state, private = await provider.read("time_static", state, private)
            same = await provider.plan("time_static", state, config, private)
            assert same.action == "noop", same.planned_state
            bumped = await provider.plan("time_static", state, {"triggers": {"version": "2"}})
            assert bumped.action == "replace" and ("triggers",) in bumped.requires_replace

    run(scenario())


def test_values_larger_than_grpc_default_limit_travel_both_ways(provider_binary, tmp_path):
    # 6 MiB of content goes to the provider in Plan/Apply and comes back in every state:
    # beyond the 4 MiB default message limit of gRPC libraries.
    content = "0123456789abcdef" * (6 * 1024 * 1024 // 16)
    config = {"filename": str(tmp_path / "big.txt"), "content": content}

    async def scenario():
        async with await ProviderProcess.start(provider_binary("local")) as provider:
            await provider.configure({})
            plan = await provider.plan("local_file", None, config)
            state, private = await provider.apply("local_file", None, plan, config)
            read, _ = await provider.read("local_file", state, private)
            return read

    read = run(scenario())
    assert read["content"] == content
    assert (tmp_path / "big.txt").stat().st_size == len(content)
