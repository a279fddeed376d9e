"""In a pod, the runtime finds the apiserver the way client-go does, without cluster DNS."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import pytest
from jetgen.runtime import kubeauth


@pytest.fixture
def account(tmp_path: Path) -> Path:
    """A service account folder as the kubelet mounts it (token, namespace, ca.crt)."""
    folder = tmp_path / "serviceaccount"
    folder.mkdir()
    (folder / "token").write_text("t")
    (folder / "namespace").write_text("provider-system")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
        + ["-nodes", "-keyout", str(tmp_path / "ca.key"), "-subj", "/CN=ca"]
        + ["-out", str(folder / "ca.crt")],
        check=True,
        capture_output=True,
    )
    return folder


def test_service_host_and_port_from_the_kubelet_replace_the_dns_name(account):
    env = {"KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "443"}
    creds = kubeauth.in_cluster(str(account), env)
    assert creds.server == "https://10.0.0.1:443"
    assert asyncio.run(creds.authorization()) == "Bearer t"  # everything else kept
    assert creds.namespace == "provider-system"
    assert asyncio.run(creds.connection_info()).server == "https://10.0.0.1:443"  # kopf's


def test_ipv6_service_host_is_bracketed_and_a_missing_port_is_443(account):
    creds = kubeauth.in_cluster(str(account), {"KUBERNETES_SERVICE_HOST": "fd00::1"})
    assert creds.server == "https://[fd00::1]:443"


def test_without_the_variables_it_is_not_in_a_cluster(account):
    with pytest.raises(kubeauth.CredentialsError, match="KUBERNETES_SERVICE_HOST is not set"):
        kubeauth.in_cluster(str(account), {})
