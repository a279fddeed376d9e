"""A throwaway PKI for one control plane, made with the `openssl` CLI.

Files written to `folder`:
    ca.crt / ca.key              signs the serving certificate; clients trust ca.crt
    apiserver.crt / .key         kube-apiserver serving certificate (127.0.0.1, localhost,
                                 kubernetes.default.svc...)
    sa.key / sa.pub              ServiceAccount token signing key pair
    tokens.csv                   static bearer tokens: the admin and the controller manager

ECDSA P-256 keys keep generation fast; everything is valid for two days.
"""

from __future__ import annotations

import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path

SERVICE_CLUSTER_IP = "10.0.0.1"  # first address of --service-cluster-ip-range
ADMIN_USER = "jetgen-admin"
KCM_USER = "system:kube-controller-manager"


class PkiError(RuntimeError):
    pass


@dataclass(frozen=True)
class Pki:
    folder: Path
    admin_token: str
    kcm_token: str

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


def create(folder: Path) -> Pki:
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
    san = ",".join([f"DNS:{n}" for n in names] + ["IP:127.0.0.1", f"IP:{SERVICE_CLUSTER_IP}"])
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

    pki = Pki(folder, admin_token=secrets.token_hex(24), kcm_token=secrets.token_hex(24))
    # token,user,uid,"group1,group2": both are cluster admins (system:masters) so the
    # controller manager's garbage collector may delete anything it finds orphaned.
    pki.token_file.write_text(
        f'{pki.admin_token},{ADMIN_USER},{ADMIN_USER},"system:masters"\n'
        f'{pki.kcm_token},{KCM_USER},{KCM_USER},"system:masters"\n'
    )
    pki.token_file.chmod(0o600)
    return pki


def _openssl(*args) -> None:
    cmd = ["openssl", *map(str, args)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True)
    except FileNotFoundError as exc:
        raise PkiError("the 'openssl' command is needed for the control plane PKI") from exc
    if proc.returncode != 0:
        raise PkiError(f"openssl {args[0]} failed: {proc.stderr.strip()}")
