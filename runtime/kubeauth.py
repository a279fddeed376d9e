"""Who the controller is to the apiserver: one set of credentials for kopf and kube.py.

The kubeconfig (or the pod's service account) is read by lightkube's loader, which knows
contexts, clusters and users, in-cluster configuration, relative paths and the ``*-data``
fields, and builds the TLS context (CA, client certificate).  The bearer token is ours:
:class:`TokenSource` hands the same, current token to kopf's login handler and to
:class:`jetgen.runtime.kube.KubeClient`, and refreshes it once when either gets a 401, so
a token that expires (an ``exec`` plugin's, a rotated service-account token) is replaced
for both.  lightkube's own ``ExecAuth`` is not used: it ignores the credential's
``expirationTimestamp``, refuses ``client.authentication.k8s.io/v1``, and would run the
plugin apart from kopf.

Every failure to obtain credentials is a :class:`CredentialsError` whose message is one
line naming what is missing; the CLI prints it and exits 1.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import json
import os
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import kopf
from lightkube.config import client_adapter
from lightkube.config.kubeconfig import SERVICE_ACCOUNT, KubeConfig, SingleConfig
from lightkube.config.models import Cluster, User, UserExec
from lightkube.core.exceptions import ConfigError

DEFAULT_KUBECONFIG = "~/.kube/config"
EXEC_API_VERSIONS = (
    "client.authentication.k8s.io/v1",
    "client.authentication.k8s.io/v1beta1",
    "client.authentication.k8s.io/v1alpha1",
)
# A token this close to its expiry is renewed before use (clock skew, request time).
EXPIRY_MARGIN = 30.0
EXEC_TIMEOUT = 60.0


class CredentialsError(Exception):
    """No usable credentials; the message is one line that names the problem."""


class TokenSource:
    """The current bearer token and a way to get a new one when it is rejected."""

    async def token(self) -> str | None:
        raise NotImplementedError

    async def refresh(self, rejected: str | None) -> str | None:
        """A token to use after ``rejected`` got a 401: a newer one if there is one."""
        return await self.token()

    @property
    def expires(self) -> float | None:
        """Wall-clock time (epoch seconds) the current token expires, if known."""
        return None


@dataclass
class StaticToken(TokenSource):
    value: str = field(repr=False)

    async def token(self) -> str | None:
        return self.value


@dataclass
class TokenFile(TokenSource):
    """A token file re-read on 401 (the kubelet rotates projected service-account tokens)."""

    path: Path
    _value: str | None = field(default=None, repr=False)

    def _read(self) -> str:
        try:
            value = self.path.read_text().strip()
        except OSError as exc:
            raise CredentialsError(f"token file {self.path}: {exc.strerror}") from None
        if not value:
            raise CredentialsError(f"token file {self.path} is empty")
        return value

    async def token(self) -> str | None:
        if self._value is None:
            self._value = self._read()
        return self._value

    async def refresh(self, rejected: str | None) -> str | None:
        if rejected == self._value:
            self._value = self._read()
        return self._value


class ExecPlugin(TokenSource):
    """A kubeconfig ``exec`` credential plugin (EKS, GKE, AKS, OIDC helpers ...).

    The plugin runs when there is no token yet, when the token is within
    :data:`EXPIRY_MARGIN` of its ``expirationTimestamp``, and after a 401 on the current
    token; one run at a time, so a burst of 401s runs it once.
    """

    def __init__(self, spec: UserExec, user: str, base: Path | None, server: str):
        self.spec = spec
        self.user = user
        self.base = base  # the kubeconfig's folder: relative commands are resolved there
        self.server = server
        self._token: str | None = None
        self._expires: float | None = None
        self._lock = asyncio.Lock()

    @property
    def expires(self) -> float | None:
        return self._expires

    def _fresh(self) -> bool:
        if self._token is None:
            return False
        return self._expires is None or self._expires - EXPIRY_MARGIN > time.time()

    async def token(self) -> str | None:
        async with self._lock:
            if not self._fresh():
                await self._run()
            return self._token

    async def refresh(self, rejected: str | None) -> str | None:
        async with self._lock:
            if rejected is None or rejected == self._token or not self._fresh():
                await self._run()
            return self._token

    def _command(self) -> list[str]:
        command = self.spec.command
        # As kubectl does: a command with a path separator is relative to the kubeconfig.
        if os.sep in command and not os.path.isabs(command) and self.base is not None:
            command = str(self.base / command)
        return [command, *(self.spec.args or [])]

    def _environment(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update((var.name, var.value) for var in self.spec.env or [])
        info = {
            "apiVersion": self.spec.apiVersion,
            "kind": "ExecCredential",
            "spec": {"interactive": False},
        }
        env["KUBERNETES_EXEC_INFO"] = json.dumps(info)
        return env

    async def _run(self) -> None:
        what = f"exec plugin {self.spec.command!r} of kubeconfig user {self.user!r}"
        if self.spec.apiVersion not in EXEC_API_VERSIONS:
            raise CredentialsError(f"{what}: apiVersion {self.spec.apiVersion!r} is unknown")
        try:
            proc = await asyncio.create_subprocess_exec(
                *self._command(),
                env=self._environment(),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
        except OSError as exc:
            hint = f" ({_first_line(self.spec.installHint)})" if self.spec.installHint else ""
            raise CredentialsError(f"{what}: {exc.strerror}{hint}") from None
        try:
            out, err = await asyncio.wait_for(proc.communicate(), EXEC_TIMEOUT)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise CredentialsError(f"{what}: no answer within {EXEC_TIMEOUT:g}s") from None
        if proc.returncode != 0:
            last = _last_line(err.decode(errors="replace"))
            raise CredentialsError(
                f"{what}: exited {proc.returncode}" + (f": {last}" if last else "")
            )
        self._token, self._expires = _exec_status(out, what)


def _exec_status(out: bytes, what: str) -> tuple[str, float | None]:
    """The token and expiry of an ExecCredential printed by a plugin."""
    try:
        status = json.loads(out)["status"]
        token = status.get("token")
        expiry = status.get("expirationTimestamp")
    except (ValueError, KeyError, TypeError, AttributeError):
        raise CredentialsError(f"{what}: did not print an ExecCredential with a status") from None
    if not isinstance(token, str) or not token:
        # A plugin may answer with a client certificate instead; not supported (yet).
        raise CredentialsError(f"{what}: its ExecCredential has no status.token")
    expires = None
    if expiry:
        try:
            stamp = datetime.datetime.fromisoformat(str(expiry).replace("Z", "+00:00"))
        except ValueError:
            raise CredentialsError(
                f"{what}: status.expirationTimestamp {str(expiry)[:40]!r} is not a time"
            ) from None
        expires = stamp.timestamp()
    return token, expires


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0][:200] if text.strip() else ""


def _last_line(text: str) -> str:
    return text.strip().splitlines()[-1][:200] if text.strip() else ""


@dataclass
class Credentials:
    """The apiserver's address, the TLS settings and the identity to present."""

    server: str
    ssl: ssl.SSLContext | bool = True  # aiohttp's ``ssl``: False turns verification off
    tokens: TokenSource | None = None
    basic: tuple[str, str] | None = field(default=None, repr=False)
    namespace: str = "default"
    # For kopf, which builds its own TLS context from these (paths or base64 data).
    ca_path: str | None = None
    ca_data: bytes | None = field(default=None, repr=False)
    certificate_path: str | None = None
    certificate_data: bytes | None = field(default=None, repr=False)
    private_key_path: str | None = None
    private_key_data: bytes | None = field(default=None, repr=False)
    insecure: bool = False
    _handed_to_kopf: str | None = field(default=None, repr=False)

    async def authorization(self) -> str | None:
        """The ``Authorization`` header value for the next request."""
        if self.tokens is not None:
            token = await self.tokens.token()
            return f"Bearer {token}" if token else None
        if self.basic is not None:
            pair = base64.b64encode(":".join(self.basic).encode()).decode()
            return f"Basic {pair}"
        return None

    async def rejected(self, authorization: str | None) -> bool:
        """A request with ``authorization`` got a 401: True if a new token may help."""
        if self.tokens is None or not authorization or not authorization.startswith("Bearer "):
            return False
        stale = authorization.removeprefix("Bearer ")
        return await self.tokens.refresh(stale) != stale

    async def check(self) -> None:
        """Obtain a token now (an ``exec`` plugin runs once), so a broken setup fails at
        start with one line rather than on every request."""
        await self.authorization()

    async def connection_info(self) -> kopf.ConnectionInfo:
        """For kopf's login handler.  kopf calls it again after a 401 (or when the token
        it holds expired): the token it got last time is then refreshed, unless kube.py
        refreshed it meanwhile."""
        token = None
        if self.tokens is not None:
            if self._handed_to_kopf is None:
                token = await self.tokens.token()
            else:
                token = await self.tokens.refresh(self._handed_to_kopf)
            self._handed_to_kopf = token
        expires = self.tokens.expires if self.tokens is not None else None
        return kopf.ConnectionInfo(
            server=self.server,
            ca_path=self.ca_path,
            ca_data=self.ca_data,
            insecure=self.insecure,
            username=self.basic[0] if self.basic else None,
            password=self.basic[1] if self.basic else None,
            scheme="Bearer" if token else None,
            token=token,
            certificate_path=self.certificate_path,
            certificate_data=self.certificate_data,
            private_key_path=self.private_key_path,
            private_key_data=self.private_key_data,
            default_namespace=self.namespace,
            expiration=(
                datetime.datetime.fromtimestamp(expires, datetime.UTC) if expires else None
            ),
        )


def load(kubeconfig: str | None = None, context: str | None = None) -> Credentials:
    """Credentials from ``kubeconfig`` if given, else ``$KUBECONFIG``, else the pod's
    service account, else ``~/.kube/config``."""
    explicit = kubeconfig or os.environ.get("KUBECONFIG")
    if explicit:
        return from_kubeconfig(explicit, context)
    if os.environ.get("KUBERNETES_SERVICE_HOST") and Path(SERVICE_ACCOUNT, "token").exists():
        return in_cluster()
    default = Path(DEFAULT_KUBECONFIG).expanduser()
    if default.exists():
        return from_kubeconfig(str(default), context)
    raise CredentialsError(
        "no Kubernetes credentials: not in a cluster (no KUBERNETES_SERVICE_HOST and"
        f" service account token), no --kubeconfig or $KUBECONFIG, and no {DEFAULT_KUBECONFIG}"
    )


def in_cluster(account: str = SERVICE_ACCOUNT, env: Mapping[str, str] = os.environ) -> Credentials:
    """The pod's service account, and the apiserver at KUBERNETES_SERVICE_HOST:PORT as
    client-go's in-cluster config finds it (the name kubernetes.default.svc would need
    cluster DNS; the kubelet sets these two variables in every container)."""
    where = f"service account {account}"
    host = env.get("KUBERNETES_SERVICE_HOST")
    if not host:
        raise CredentialsError(f"{where}: KUBERNETES_SERVICE_HOST is not set")
    if ":" in host:  # IPv6
        host = f"[{host}]"
    port = env.get("KUBERNETES_SERVICE_PORT") or "443"
    folder = Path(account)
    try:
        namespace = (folder / "namespace").read_text().strip()
    except OSError as exc:
        raise CredentialsError(f"{where}: {exc.strerror}: {folder / 'namespace'}") from None
    config = KubeConfig.from_one(
        cluster=Cluster(server=f"https://{host}:{port}", certificate_auth=str(folder / "ca.crt")),
        user=User(token_file=str(folder / "token")),
        namespace=namespace,
    ).get()
    assert config is not None
    return _from_single(config, where=where)


def from_kubeconfig(path: str, context: str | None = None) -> Credentials:
    if os.pathsep in path:
        # kubectl merges a list of files; take the first that exists (no merging).
        path = next((p for p in path.split(os.pathsep) if p and Path(p).exists()), path)
    where = f"kubeconfig {path}"
    if not Path(path).expanduser().is_file():
        raise CredentialsError(f"{where}: no such file")
    try:
        config = KubeConfig.from_file(path).get(context)
    except ConfigError as exc:
        raise CredentialsError(f"{where}: {exc}") from None
    except KeyError as exc:
        message = f"{where}: the context names {exc}, which is not there"
        raise CredentialsError(message) from None
    except Exception as exc:  # noqa: BLE001 - YAML and schema errors from the loader
        message = f"{where}: not a usable kubeconfig ({_first_line(str(exc))})"
        raise CredentialsError(message) from None
    assert config is not None
    return _from_single(config, where=where)


def _from_single(config: SingleConfig, where: str) -> Credentials:
    user = config.user or User()
    cluster = config.cluster
    try:
        context = client_adapter.verify_cluster(cluster, user, config.abs_file)
    except (ConfigError, OSError, ssl.SSLError, ValueError) as exc:
        message = f"{where}: TLS settings unusable ({_first_line(str(exc))})"
        raise CredentialsError(message) from None
    creds = Credentials(
        server=cluster.server.rstrip("/"),
        ssl=False if cluster.insecure else context,
        tokens=_token_source(user, config, where),
        basic=(user.username, user.password) if user.username and user.password else None,
        namespace=config.namespace,
        insecure=cluster.insecure,
    )
    if cluster.certificate_auth:
        creds.ca_path = str(config.abs_file(cluster.certificate_auth))
    elif cluster.certificate_auth_data:
        creds.ca_data = cluster.certificate_auth_data.encode()
    if user.client_cert:
        creds.certificate_path = str(config.abs_file(user.client_cert))
    elif user.client_cert_data:
        creds.certificate_data = user.client_cert_data.encode()
    if user.client_key:
        creds.private_key_path = str(config.abs_file(user.client_key))
    elif user.client_key_data:
        creds.private_key_data = user.client_key_data.encode()
    if (
        creds.tokens is None
        and creds.basic is None
        and not (user.client_cert or user.client_cert_data)
    ):
        raise CredentialsError(f"{where}: context {config.context_name!r} has no user credentials")
    return creds


def _token_source(user: User, config: SingleConfig, where: str) -> TokenSource | None:
    if user.auth_provider:
        name = (user.auth_provider or {}).get("name", "?")
        raise CredentialsError(
            f"{where}: auth-provider {name!r} is not supported; use its exec plugin instead"
        )
    if user.token_file:
        return TokenFile(Path(config.abs_file(user.token_file)))
    if user.token:
        return StaticToken(user.token)
    if user.exec:
        base = config.fname.parent if config.fname else None
        return ExecPlugin(user.exec, config.context.user or "", base, config.cluster.server)
    return None
