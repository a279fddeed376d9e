"""A throwaway PKI for one control plane, made with the `openssl` CLI.

Files written to `folder`:
    ca.crt / ca.key              signs the serving certificate; clients trust ca.crt
    apiserver.crt / .key         kube-apiserver serving certificate (127.0.0.1, localhost,
                                 kubernetes.default.svc...)
    sa.key / sa.pub              ServiceAccount token signing key pair
    tokens.csv                   static bearer tokens: the admin, the controller manager (and,
                                 for a node, kube-proxy and kube-scheduler)
    <name>.crt / <name>.key      client certificates made by `client_cert` (a node's kubelet,
                                 the apiserver's kubelet client)

ECDSA P-256 keys keep generation fast; everything is valid for two days.
"""

from __future__ import annotations

import secrets
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

SERVICE_CLUSTER_IP = "10.0.0.1"  # first address of --service-cluster-ip-range
ADMIN_USER = "jetgen-admin"
KCM_USER = "system:kube-controller-manager"
# A node's components that authenticate by token; Kubernetes' bootstrap RBAC binds each.
NODE_TOKEN_USERS = ("system:kube-proxy", "system:kube-scheduler")


class PkiError(RuntimeError):
    pass


@dataclass(frozen=True)
class Pki:
    folder: Path
    admin_token: str
    kcm_token: str
    # user -> static token, for the NODE_TOKEN_USERS when made for a node
    tokens: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def ca_file(self) -> Path:
        return self.folder / "ca.crt"

    @property
    def serving_cert(self) -> Path:
        return self.folder / "apiserver.crt"

    @property
    def serving_key(self) -> Path:
        return self.folder / "apiserver.key"

    @property
    def sa_key(self) -> Path:
        return self.folder / "sa.key"

    @property
    def sa_pub(self) -> Path:
        return self.folder / "sa.pub"

    @property
    def token_file(self) -> Path:
        return self.folder / "tokens.csv"


def create(folder: Path, extra_ips: tuple[str, ...] = (), node_users: bool = False) -> Pki:
    """`extra_ips`: more serving-certificate IP SANs (a node's bridge address);
    `node_users`: also static tokens for kube-proxy and kube-scheduler."""
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    ca_key, ca_crt = folder / "ca.key", folder / "ca.crt"
    _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", ca_key)
    _openssl(
        "req", "-x509", "-new", "-key", ca_key, "-out", ca_crt, "-days", "2",
        "-subj", "/CN=jetgen-testbed-ca",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    )  # fmt: skip

    key, crt = folder / "apiserver.key", folder / "apiserver.crt"
    names = ["localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"]
    names.append("kubernetes.default.svc.cluster.local")
    ips = ["127.0.0.1", SERVICE_CLUSTER_IP, *extra_ips]
    san = ",".join([f"DNS:{n}" for n in names] + [f"IP:{ip}" for ip in ips])
    _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", key)
    _openssl(
        "req", "-x509", "-new", "-key", key, "-out", crt, "-days", "2",
        "-CA", ca_crt, "-CAkey", ca_key,
        "-subj", "/CN=kube-apiserver",
        "-addext", f"subjectAltName={san}",
        "-addext", "basicConstraints=critical,CA:FALSE",
        "-addext", "keyUsage=critical,digitalSignature",
        "-addext", "extendedKeyUsage=serverAuth",
    )  # fmt: skip

    sa_key, sa_pub = folder / "sa.key", folder / "sa.pub"
    _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", sa_key)
    _openssl("pkey", "-in", sa_key, "-pubout", "-out", sa_pub)

    tokens = {user: secrets.token_hex(24) for user in NODE_TOKEN_USERS} if node_users else {}
    pki = Pki(folder, secrets.token_hex(24), secrets.token_hex(24), tokens)
    # token,user,uid,"group1,group2": both are cluster admins (system:masters) so the
    # controller manager's garbage collector may delete anything it finds orphaned.
    lines = [
        f'{pki.admin_token},{ADMIN_USER},{ADMIN_USER},"system:masters"',
        f'{pki.kcm_token},{KCM_USER},{KCM_USER},"system:masters"',
    ]
    # The node's components get no group: the bootstrap ClusterRoleBindings name the user.
    lines += [f"{token},{user},{user}" for user, token in tokens.items()]
    pki.token_file.write_text("\n".join(lines) + "\n")
    pki.token_file.chmod(0o600)
    return pki


def client_cert(pki: Pki, name: str, user: str, group: str) -> tuple[Path, Path]:
    """A client certificate for `user` in `group`, signed by the CA the apiserver trusts
    (--client-ca-file); returns (cert, key) paths."""
    key, crt = pki.folder / f"{name}.key", pki.folder / f"{name}.crt"
    _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", key)
    _openssl(
        "req", "-x509", "-new", "-key", key, "-out", crt, "-days", "2",
        "-CA", pki.ca_file, "-CAkey", pki.folder / "ca.key",
        "-subj", f"/O={group}/CN={user}",
        "-addext", "basicConstraints=critical,CA:FALSE",
        "-addext", "keyUsage=critical,digitalSignature",
        "-addext", "extendedKeyUsage=clientAuth",
    )  # fmt: skip
    return crt, key


def _openssl(*args) -> None:
    cmd = ["openssl", *map(str, args)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True)
    except FileNotFoundError as exc:
        raise PkiError("the 'openssl' command is needed for the control plane PKI") from exc
    if proc.returncode != 0:
        raise PkiError(f"openssl {args[0]} failed: {proc.stderr.strip()}")
