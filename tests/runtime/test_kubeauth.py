"""credentials.py: what each kind of kubeconfig becomes, and the one line the controller
prints (and its exit status) when there are no usable credentials, from the real process."""

from __future__ import annotations

import asyncio
import json
import os
import ssl
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from jetgen.runtime import kubeauth

REPO = Path(__file__).resolve().parents[2]
RANDOM = REPO / "providers" / "provider-random"


def _kubeconfig(tmp_path: Path, user: dict[str, Any], cluster: dict[str, Any] | None = None) -> str:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": cluster or {"server": "https://127.0.0.1:6443/"}}],
        "users": [{"name": "u", "user": user}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u", "namespace": "ns"}}],
        "current-context": "c",
    }
    path = tmp_path / "config"
    path.write_text(json.dumps(config))
    return str(path)


@pytest.fixture(scope="module")
def tls(tmp_path_factory) -> Path:
    """A CA and a client certificate signed by it (openssl, as the test bed's PKI)."""
    d = tmp_path_factory.mktemp("tls")

    def ossl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)

    ossl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "ca.key")
    ossl("req", "-x509", "-new", "-key", "ca.key", "-subj", "/CN=ca", "-out", "ca.crt")
    ossl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "client.key")
    ossl("req", "-new", "-key", "client.key", "-subj", "/CN=me", "-out", "client.csr")
    ossl(
        "x509", "-req", "-in", "client.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
        "-CAcreateserial", "-days", "2", "-out", "client.crt",
    )  # fmt: skip
    return d


def test_static_token(tmp_path):
    creds = kubeauth.load(_kubeconfig(tmp_path, {"token": "s3cret"}))
    assert creds.server == "https://127.0.0.1:6443"
    assert creds.namespace == "ns"
    assert asyncio.run(creds.authorization()) == "Bearer s3cret"
    assert "s3cret" not in repr(creds)
    info = asyncio.run(creds.connection_info())
    assert (info.token, info.scheme, info.default_namespace) == ("s3cret", "Bearer", "ns")


def test_token_file_relative_to_the_kubeconfig_and_reread_on_401(tmp_path):
    (tmp_path / "tok").write_text("one\n")
    creds = kubeauth.load(_kubeconfig(tmp_path, {"tokenFile": "tok"}))
    assert asyncio.run(creds.authorization()) == "Bearer one"
    (tmp_path / "tok").write_text("two\n")  # rotated by the kubelet
    assert asyncio.run(creds.authorization()) == "Bearer one"  # not before a 401
    assert asyncio.run(creds.rejected("Bearer one")) is True
    assert asyncio.run(creds.authorization()) == "Bearer two"


def test_basic_auth(tmp_path):
    creds = kubeauth.load(_kubeconfig(tmp_path, {"username": "a", "password": "b"}))
    assert asyncio.run(creds.authorization()) == "Basic YTpi"


def test_client_certificate_files_and_data(tls, tmp_path):
    cluster = {"server": "https://127.0.0.1:6443", "certificate-authority": str(tls / "ca.crt")}
    user = {"client-certificate": str(tls / "client.crt"), "client-key": str(tls / "client.key")}
    creds = kubeauth.load(_kubeconfig(tmp_path, user, cluster))
    assert creds.tokens is None and creds.basic is None
    assert creds.certificate_path == str(tls / "client.crt")
    assert creds.ca_path == str(tls / "ca.crt")
    assert creds.ssl is not True and creds.ssl is not False  # a context with the chain

    import base64

    def b64(name: str) -> str:
        return base64.b64encode((tls / name).read_bytes()).decode()

    cluster = {"server": "https://127.0.0.1:6443", "certificate-authority-data": b64("ca.crt")}
    user = {"client-certificate-data": b64("client.crt"), "client-key-data": b64("client.key")}
    creds = kubeauth.load(_kubeconfig(tmp_path, user, cluster))
    info = asyncio.run(creds.connection_info())
    assert info.certificate_data == b64("client.crt").encode()
    assert info.ca_data == b64("ca.crt").encode()
    # kopf builds its own TLS context from the same data.
    assert isinstance(info.as_ssl_context(), ssl.SSLContext)


def test_insecure_cluster(tmp_path):
    cluster = {"server": "https://127.0.0.1:6443", "insecure-skip-tls-verify": True}
    creds = kubeauth.load(_kubeconfig(tmp_path, {"token": "t"}, cluster))
    assert creds.ssl is False
    assert asyncio.run(creds.connection_info()).insecure is True


def test_in_cluster(tls, tmp_path, monkeypatch):
    account = tmp_path / "sa"
    account.mkdir()
    (account / "token").write_text("sa-token\n")
    (account / "namespace").write_text("provider-system")
    (account / "ca.crt").write_bytes((tls / "ca.crt").read_bytes())
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    creds = kubeauth.in_cluster(str(account))
    assert (creds.server, creds.namespace) == ("https://10.0.0.1:443", "provider-system")
    assert creds.ca_path == str(account / "ca.crt")
    assert asyncio.run(creds.authorization()) == "Bearer sa-token"
    (account / "token").write_text("rotated")  # the kubelet's projected token rotation
    assert asyncio.run(creds.rejected("Bearer sa-token")) is True
    assert asyncio.run(creds.authorization()) == "Bearer rotated"
    (account / "ca.crt").write_text("not a certificate")
    with pytest.raises(kubeauth.CredentialsError, match="TLS settings unusable"):
        kubeauth.in_cluster(str(account))


@pytest.mark.parametrize(
    ("user", "message"),
    [
        ({"auth-provider": {"name": "gcp"}}, "auth-provider 'gcp' is not supported"),
        ({}, "context 'c' has no user credentials"),
    ],
)
def test_unusable_users_are_one_line(tmp_path, user, message):
    with pytest.raises(kubeauth.CredentialsError, match=message) as caught:
        kubeauth.load(_kubeconfig(tmp_path, user))
    assert "\n" not in str(caught.value)


def test_missing_context(tmp_path):
    path = _kubeconfig(tmp_path, {"token": "t"})
    with pytest.raises(kubeauth.CredentialsError, match="Context 'other' not found"):
        kubeauth.load(path, context="other")


def test_exec_plugin_failures_are_one_line(tmp_path):
    plugin = tmp_path / "plugin"
    for body, message in [
        ("echo 'token expired, run login' >&2; exit 3", "exited 3: token expired, run login"),
        ("echo not json", "did not print an ExecCredential"),
        ('echo \'{"status": {"token": ""}}\'', "has no status.token"),
        (
            'echo \'{"status": {"token": "t", "expirationTimestamp": "never"}}\'',
            "is not a time",
        ),
    ]:
        plugin.write_text(f"#!/bin/sh\n{body}\n")
        plugin.chmod(0o755)
        user = {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": "./plugin"}}
        creds = kubeauth.load(_kubeconfig(tmp_path, user))
        with pytest.raises(kubeauth.CredentialsError, match=message) as caught:
            asyncio.run(creds.check())
        assert "\n" not in str(caught.value)


# --- the real process ---------------------------------------------------------------------


def _controller(tmp_path: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("KUBE", "JETGEN_"))}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "jetgen.runtime.cli",
            "--kinds",
            str(RANDOM / "random_provider" / "kinds.json"),
            "--workdir-root",
            str(tmp_path / "work"),
            *args,
        ],
        cwd=RANDOM,  # the package's hooks module imports from there
        env={**clean, "HOME": str(tmp_path), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_no_credentials_is_one_line_and_exit_1(tmp_path):
    proc = _controller(tmp_path, env={})
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("jetgen-runtime: no Kubernetes credentials: not in a cluster")
    assert "~/.kube/config" in lines[0]
    assert proc.stdout == ""


def test_failing_exec_plugin_is_one_line_and_exit_1(tmp_path):
    plugin = tmp_path / "get-token"
    plugin.write_text("#!/bin/sh\necho 'error: SSO session expired' >&2\nexit 1\n")
    plugin.chmod(0o755)
    api = "client.authentication.k8s.io/v1beta1"
    user = {"exec": {"apiVersion": api, "command": "./get-token"}}
    path = _kubeconfig(tmp_path, user)
    proc = _controller(tmp_path, "--kubeconfig", path, env={})
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.splitlines() == [
        "jetgen-runtime: exec plugin './get-token' of kubeconfig user 'u': exited 1:"
        " error: SSO session expired"
    ]
    # The same through $KUBECONFIG.
    proc = _controller(tmp_path, env={"KUBECONFIG": path})
    assert proc.returncode == 1 and len(proc.stderr.splitlines()) == 1, proc.stderr


def test_missing_kubeconfig_file_is_one_line(tmp_path):
    proc = _controller(tmp_path, "--kubeconfig", str(tmp_path / "nope"), env={})
    assert proc.returncode == 1
    line = f"jetgen-runtime: kubeconfig {tmp_path / 'nope'}: no such file"
    assert proc.stderr.splitlines() == [line]
