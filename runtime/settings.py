"""The controller's settings: one documented object, filled from the command line."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path


def _default_workdir_root() -> Path:
    return Path(tempfile.gettempdir()) / "jetgen-runtime"


@dataclass
class Settings:
    poll_interval: float = 60.0
    """Seconds between two observations of one managed resource (drift detection)."""

    max_runs: int = 4
    """Terraform runs at once, across all resources.  Each starts a provider process."""

    run_timeout: float = 3600.0
    """A Terraform run taking longer is interrupted (like Ctrl-C) and counted as failed."""

    rpc_timeout: float = 10.0
    """Seconds one plugin-protocol call of a poll may take; a provider slower than that is
    taken for stuck (its process is replaced) and the poll falls back to Terraform."""

    poll_driver: str = "plugin"
    """How settled resources are polled: ``plugin`` asks a shared, long-lived provider
    process over the plugin protocol and runs Terraform only if something changed;
    ``cli`` runs ``plan`` on every poll."""

    driver: str = ""
    """How every kind's writes (create, update, delete, import) are done, overriding the
    ``driver`` each kind has in kinds.json: ``plugin`` (plugin protocol on the shared
    provider process, the CLI for what that path cannot prove) or ``cli`` (always the
    CLI); empty: each kind's own."""

    max_providers: int = 4
    """Shared provider processes at most (one per provider configuration in use)."""

    provider_rss_growth_mib: int = 64
    """A shared provider process whose resident memory grew by more than this many MiB
    since it started is replaced by a fresh one (0: never); see ``poll.ProviderPool``."""

    namespaces: list[str] = field(default_factory=list)
    """Namespaces (globs) to watch; empty means the whole cluster."""

    serve: list[str] = field(default_factory=list)
    """Kinds to serve, as ``Kind``, ``group`` or ``Kind.group``; empty serves all."""

    binary: str = "tofu"
    """The ``tofu`` or ``terraform`` executable (a path or a name on PATH)."""

    cli_config: str | None = None
    """``TF_CLI_CONFIG_FILE`` for every run: where the provider mirror is."""

    workdir_root: Path = field(default_factory=_default_workdir_root)
    """Parent of the per-resource workdirs and the shared provider installation."""

    state_namespace: str = field(default_factory=lambda: os.environ.get("POD_NAMESPACE", "default"))
    """Where state Secrets of cluster-scoped resources live."""

    backoff_base: float = 2.0
    """First retry delay after an error; doubles per consecutive error, capped at the poll."""

    metrics_port: int | None = None
    """Serve Prometheus metrics on ``:<port>/metrics`` when set."""

    health_port: int | None = None
    """Serve kopf's liveness endpoint on ``:<port>/healthz`` when set (for probes)."""

    leader_election: bool = False
    """Reconcile only while holding a ``coordination.k8s.io/v1`` Lease (see leader.py), so
    any number of replicas can run; the generated Deployment turns it on."""

    leader_election_id: str = ""
    """Name of the Lease; empty: ``jetgen-<provider name>``."""

    leader_election_namespace: str = field(
        default_factory=lambda: os.environ.get("POD_NAMESPACE", "default")
    )
    """Namespace of the Lease: the controller's own."""

    lease_duration: float = 15.0
    """Seconds a standby waits after the leader's last renewal before taking over."""

    renew_deadline: float = 10.0
    """The leader stops (exits) when it could not renew for this long."""

    renew_period: float = 5.0
    """How often the leader renews the Lease."""

    retry_period: float = 2.0
    """How often a standby tries to take the Lease."""

    kube_qps: float = 100.0
    """Requests per second to the apiserver on average (the runtime's own client; kopf's
    watches and patches are not counted); 0 turns the limit off.  A new MR costs four of
    these requests (create-pending mark, state Secret, succeeded mark, status): at 50 a
    burst of 1,000 new MRs would wait 78 s on the limit alone."""

    kube_burst: int = 200
    """Requests to the apiserver at once before ``kube_qps`` applies."""

    watch_timeout: float = 120.0
    """Seconds the apiserver keeps one of kopf's watch streams (one per served kind) open
    before ending it; kopf then resumes from the last resourceVersion.  A stream that is
    still open ``WATCH_SLACK`` seconds later (an apiserver or connection that stopped
    feeding it) is dropped on our side and started again, so a stalled watch delays new
    events by at most about this long instead of for good (see ``operator.watch_settings``)."""

    kube_cache: bool = True
    """Read ProviderConfigs, Secrets and referenced objects from caches kept current by
    watches (see cache.py), so a settled resource's poll asks the apiserver nothing;
    off: every pass reads them from the apiserver."""

    safe_start: bool = True
    """Serve a kind only while its CRD exists and is established, and take up kinds whose
    CRD appears later (Crossplane's ``safe-start``; see serving.py).  Off: kopf serves the
    kinds API discovery shows (needs no watch on CRDs to start)."""

    finalizer: str = "jetgen.dev/finalizer"
    """Finalizer that keeps a managed resource until its external resource is deleted."""

    def serves(self, kind: str, group: str) -> bool:
        if not self.serve:
            return True
        return any(s in (kind, group, f"{kind}.{group}") for s in self.serve)
