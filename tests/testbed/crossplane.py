"""Crossplane on the node's cluster, and the loopback OCI registry it installs packages from.

`start_registry` runs the test bed's own `registry` program (go-containerregistry's
in-memory registry, `go/registry`) on a 127.0.0.1 port: Crossplane fetches packages from it
and the node's containerd pulls images from it, both over plain HTTP, which both do by
themselves for a loopback host (no registry configuration needed).

`start_crossplane` runs Crossplane core v2.3.0 the way its Helm chart does, but as host
processes with the node cluster's admin kubeconfig instead of Pods:

1. `crossplane-core core init`: installs Crossplane's own CRDs from the release tree's
   `cluster/crds` (`CRDS_PATH`; the chart bakes them into the image at `/crds`), makes
   the CA and the client certificate Secrets, the Lock object and the default
   DeploymentRuntimeConfig; no default activation policy, so a safe-start provider's MRDs
   stay Inactive until a test activates them;
2. `crossplane-core core start`: the package manager; it loads its client certificate from
   the Secret init made (written to files, as the chart's volume would);
3. `crossplane-core rbac start`: the RBAC manager, which gives each provider revision's
   ServiceAccount the rights to its own kinds (and, for a safe-start provider, to view CRDs).

Host processes, because the package manager is what the tests exercise and it does not
care where it runs: it creates the provider's Deployment through the apiserver, and the
kubelet runs that Pod. Running Crossplane itself as Pods would need an image of it built
here (no registry is reachable) for no extra coverage. Webhooks are off: they serve only
Usages and compositions, and the apiserver would have to reach a host port.
"""

from __future__ import annotations

import base64
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from . import processes
from .bed import Testbed
from .kube import ApiServer

NAMESPACE = "crossplane-system"
VERSION = "2.3.0"
CA_SECRET = "crossplane-root-ca"
CLIENT_SECRET = "crossplane-tls-client"
SERVER_SECRET = "crossplane-tls-server"
INIT_ATTEMPTS = 5


@dataclass
class Registry:
    server: processes.Server
    host: str  # "127.0.0.1:<port>"
    binary: Path

    def push(self, archive: Path, repository: str, tag: str) -> str:
        """Upload a `docker save` tarball (an image, or an .xpkg) as `repository:tag`, its
        blobs unchanged; returns the reference."""
        ref = f"{self.host}/{repository}:{tag}"
        subprocess.run(
            [str(self.binary), "push", str(archive), ref],
            check=True, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        return ref

    def stop(self) -> None:
        self.server.stop()


def start_registry(bed: Testbed, log_dir: Path, *, tied: bool = True) -> Registry:
    binary = bed.bin("registry")
    port_file = log_dir / "registry.port"
    port_file.unlink(missing_ok=True)
    cmd = [str(binary), "serve", "-addr", "127.0.0.1:0", "-port-file", str(port_file)]
    server = processes.start_server(
        "registry", cmd, log_dir / "registry.log", port_file.exists, 30, tied
    )
    return Registry(server, f"127.0.0.1:{port_file.read_text().strip()}", binary)


@dataclass
class Crossplane:
    servers: list[processes.Server] = field(default_factory=list)

    def stop(self) -> None:
        processes.stop_all(self.servers)


def crds_path(bed: Testbed) -> Path:
    """Crossplane's own CRDs, in the release tree the install unpacked."""
    path = bed.dir / "src" / "crossplane-core" / f"crossplane-{VERSION}" / "cluster" / "crds"
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: missing; run scripts/testbed install")
    return path


def start_crossplane(
    bed: Testbed, api: ApiServer, folder: Path, *, tied: bool = True, timeout: float = 120
) -> Crossplane:
    """init, then the package manager and the RBAC manager; returns once both answer."""
    folder.mkdir(parents=True, exist_ok=True)
    binary = str(bed.bin("crossplane-core"))
    env = _env(api)
    api.kubectl("create", "namespace", NAMESPACE)
    # The chart's ServiceAccount: the package manager copies its pull secrets to providers.
    api.kubectl("create", "serviceaccount", "crossplane", "-n", NAMESPACE)
    _run_init(binary, bed, env, folder)
    certs = _write_client_certs(api, folder / "tls-client")
    (folder / "xpkg-cache").mkdir(exist_ok=True)  # the chart's emptyDir at /cache
    crossplane = Crossplane()
    try:
        health = processes.free_port()
        core = [
            binary, "core", "start", "--enable-webhooks=false",
            f"--xpkg-cache-dir={folder / 'xpkg-cache'}",
            f"--metrics-port={processes.free_port()}", f"--health-probe-port={health}",
        ]  # fmt: skip
        crossplane.servers.append(
            processes.start_server(
                "crossplane",
                core,
                folder / "crossplane.log",
                lambda: _answers(f"http://127.0.0.1:{health}/readyz"),
                timeout,
                tied,
                env={**env, "TLS_CLIENT_CERTS_DIR": str(certs)},
            )  # fmt: skip
        )
        # The RBAC manager's only endpoint is its metrics server, fixed at :8080 (not a
        # flag); if that port is taken it exits at once, and this fails with its log.
        rbac = [binary, "rbac", "start"]
        crossplane.servers.append(
            processes.start_server(
                "crossplane-rbac",
                rbac,
                folder / "rbac.log",
                lambda: _answers("http://127.0.0.1:8080/metrics"),
                timeout,
                tied,
                env=env,
            )  # fmt: skip
        )
    except BaseException:
        crossplane.stop()
        raise
    return crossplane


def _env(api: ApiServer) -> dict[str, str]:
    return {
        "PATH": "/usr/bin:/bin",
        "KUBECONFIG": str(api.kubeconfig),
        "POD_NAMESPACE": NAMESPACE,
        "POD_SERVICE_ACCOUNT": "crossplane",
        "TLS_CA_SECRET_NAME": CA_SECRET,
        "TLS_CLIENT_SECRET_NAME": CLIENT_SECRET,
        "TLS_SERVER_SECRET_NAME": SERVER_SECRET,
    }


def _run_init(binary: str, bed: Testbed, env: dict[str, str], folder: Path) -> None:
    """`core init`, again while it fails: it applies its CRDs and at once creates objects
    of them, before the apiserver serves them ("no matches for kind Lock"); in the chart
    the init container is simply restarted. Each run is idempotent."""
    cmd = [binary, "core", "init", "--enable-webhooks=false"]
    env = {**env, "CRDS_PATH": str(crds_path(bed))}  # its flag is spelled --cr-ds-path
    log = folder / "init.log"
    for _ in range(INIT_ATTEMPTS):
        with log.open("ab") as out:
            done = subprocess.run(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, timeout=180)
        if done.returncode == 0:
            return
        time.sleep(1)
    tail = "\n".join(log.read_text(errors="replace").splitlines()[-20:])
    raise processes.StartupError(f"crossplane core init exited {done.returncode}:\n{tail}")


def _write_client_certs(api: ApiServer, target: Path) -> Path:
    """The client certificate init made, as files (the chart mounts the Secret)."""
    secret = api.get_json("secret", CLIENT_SECRET, "-n", NAMESPACE)
    target.mkdir(mode=0o700, exist_ok=True)
    for key in ("ca.crt", "tls.crt", "tls.key"):
        path = target / key
        path.write_bytes(base64.b64decode(secret["data"][key]))
        path.chmod(0o600)
    return target


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as reply:
            return reply.status == 200
    except OSError:
        return False
