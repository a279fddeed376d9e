"""Client side of the throwaway control plane: the `apiserver` fixture object.

Everything goes through the test bed's own kubectl and a kubeconfig that carries the admin
token, so tests exercise exactly what a user's kubectl would.
"""

from __future__ import annotations

import json
import re
import secrets
import ssl
import subprocess
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path


class KubectlError(subprocess.CalledProcessError):
    """kubectl exited non-zero; str() includes its stderr, which plain CalledProcessError hides."""

    def __str__(self) -> str:
        return f"kubectl {' '.join(self.cmd[3:])} exited {self.returncode}: {self.stderr.strip()}"


@dataclass
class ApiServer:
    url: str
    kubeconfig: Path
    ca_file: Path
    token: str = field(repr=False)
    kubectl_binary: Path = field(repr=False)

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        cmd = [str(self.kubectl_binary), "--kubeconfig", str(self.kubeconfig), *args]
        proc = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=120)
        if check and proc.returncode != 0:
            raise KubectlError(proc.returncode, cmd, proc.stdout, proc.stderr)
        return proc

    def apply(self, manifest: dict | list | str) -> subprocess.CompletedProcess[str]:
        """Server-side apply a dict, a list of dicts or YAML text (one or more documents).

        Server-side apply, because generated CRDs outgrow the annotation client-side
        apply stores.
        """
        if isinstance(manifest, list):
            manifest = {"apiVersion": "v1", "kind": "List", "items": manifest}
        text = manifest if isinstance(manifest, str) else json.dumps(manifest)
        args = ["apply", "--server-side", "--force-conflicts", "--field-manager=jetgen-tests"]
        return self.kubectl(*args, "-f", "-", input=text)

    def create_namespace(self, prefix: str) -> str:
        """A new namespace `<prefix>-<random>`; unique per call so tests never collide."""
        stem = re.sub(r"[^a-z0-9-]+", "-", prefix.lower()).strip("-")[:50] or "test"
        name = f"{stem}-{secrets.token_hex(4)}"
        self.kubectl("create", "namespace", name)
        return name

    def get_json(self, *args: str) -> dict:
        """`kubectl get ... -o json`, parsed."""
        return json.loads(self.kubectl("get", *args, "-o", "json").stdout)

    def http_get(self, path: str, timeout: float = 5.0) -> tuple[int, str]:
        """GET a raw API path with the admin token (used for /readyz)."""
        request = urllib.request.Request(self.url + path)
        request.add_header("Authorization", f"Bearer {self.token}")
        context = ssl.create_default_context(cafile=str(self.ca_file))
        try:
            with urllib.request.urlopen(request, context=context, timeout=timeout) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode(errors="replace")
        except (urllib.error.URLError, OSError) as exc:
            return 0, str(exc)


def write_kubeconfig(path: Path, url: str, ca_file: Path, token: str, user: str) -> None:
    """kubectl reads JSON kubeconfigs too, so no YAML library is needed here."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "testbed", "cluster": {"server": url, "certificate-authority": str(ca_file)}}
        ],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": "testbed", "context": {"cluster": "testbed", "user": user}}],
        "current-context": "testbed",
    }
    path.write_text(json.dumps(config, indent=2) + "\n")
    path.chmod(0o600)


def write_cert_kubeconfig(
    path: Path, url: str, ca_file: Path, cert: Path, key: Path, user: str
) -> None:
    """A kubeconfig that authenticates with a client certificate (the kubelet's)."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "testbed", "cluster": {"server": url, "certificate-authority": str(ca_file)}}
        ],
        "users": [
            {"name": user, "user": {"client-certificate": str(cert), "client-key": str(key)}}
        ],
        "contexts": [{"name": "testbed", "context": {"cluster": "testbed", "user": user}}],
        "current-context": "testbed",
    }
    path.write_text(json.dumps(config, indent=2) + "\n")
    path.chmod(0o600)
