"""Side by side: Upjet's provider-linode against jetgen's provider-linode, same MRs, same bed.

    .venv/bin/python benchmarks/peer_linode.py [--sizes 10,100,1000] [--runs 3] [--poll 60]
                                               [--rate 16] [--settle S] [--only peer|jetgen]
    flock /tmp/jetgen-bench.lock .venv/bin/python benchmarks/peer_linode.py   # figures

Both controllers reconcile `linode_domain` (a DNS zone: one API call to create, one to
read, so the controller is what is measured), for linode/linode 2.37.0:

* the peer: Upjet's provider-linode built by benchmarks/peer_setup.py from ../shared
  (no-fork: the Terraform provider's Go code runs inside the controller); its 40 CRDs,
  a ProviderConfig with its token Secret, the API URL given as ``LINODE_URL``;
* jetgen: provider-linode generated into a temporary folder from
  ../shared/schemas/linode-2.37.0.json with the reference provider's configuration at
  ``version: "2.37.0"``; the controller is ``jetgen.runtime.cli`` with the linode 2.37.0
  binary of the test bed's mirror, all 38 kinds served.

Each run gets a fresh control plane (the test bed's etcd + kube-apiserver) and its own
Linode API stand-in in a process of its own (tests/linode_standin), starts one
controller, makes one warm-up MR Ready, then creates N MRs at once (POSTs from 8
threads) and watches them. Same settings on both sides: poll interval ``--poll``
(peer ``--poll``; jetgen ``--poll-interval``) and ``--rate``: the peer's
``--max-reconcile-rate`` (that many reconciles at once, and a global limit of that many
reconciles a second; client 5x QPS, 10x burst) and jetgen's ``--max-runs`` with
``--kube-qps``/``--kube-burst`` at the same 5x/10x.  jetgen's plugin-protocol writes and
polls run at most 16 at once whatever ``--max-runs`` says (``--max-runs`` is its
Terraform CLI runs), so the default ``--rate`` is 16: the same concurrency on both sides.
The peer's global limit counts every reconcile, the ones its own status writes trigger
included; when it cannot reconcile every MR once per poll, the settled window shows it:
"MRs polled" (distinct domains read from the stand-in in the window) is then below the
MR count, and "CPU ms/MR polled" compares the work per MR actually checked.

Per run: time from an MR's create to Ready (p50/p90/max), the controller's CPU seconds
(process and children) and peak RSS (process tree) until all are Ready; then, after a
pause of ``--settle`` seconds (by default one poll interval and 10 s, so each MR's first
poll after its create is over), one poll period of steady state: RSS, cores, API calls to
the stand-in and apiserver requests per second (``apiserver_request_total`` of /metrics
before and after, less this script's own requests). Medians of ``--runs`` runs, and the ratios
jetgen/peer. Sizes and sides run one at a time; the order of the sides alternates.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import kubeload, peer_setup  # noqa: E402
from benchmarks.common import commit, cpu_seconds, descendants, load, rss_mib  # noqa: E402
from tests.linode_standin import RemoteStandIn  # noqa: E402
from tests.providers import reference  # noqa: E402
from tests.runtime import harness  # noqa: E402
from tests.testbed import controlplane  # noqa: E402
from tests.testbed.bed import Testbed  # noqa: E402
from tests.testbed.kube import ApiServer  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO.parent / "shared" / "schemas" / "linode-2.37.0.json"
DOCS_IN_BED = "src/terraform-provider-linode_v2.37.0/terraform-provider-linode/docs/resources"
PEER_NAMESPACE = "crossplane-system"
JETGEN_NAMESPACE = "bench"
PLANE_OWN = ("endpoints", "endpointslices", "leases")
DOMAIN = re.compile(r"^/v4/domains/[0-9]+$")  # one domain's read: that MR was polled
NETNS_MARK = "JETGEN_PEER_NETNS"  # set inside the network namespace of in_own_network()


# --- the two sides ---------------------------------------------------------------------


@dataclass
class Side:
    """How one controller is installed, started and given its MRs."""

    name: str
    crds: Path
    collection: str  # the MRs' list path on the apiserver
    install: Callable[[ApiServer, str, str], None]  # (api, stand-in URL, token)
    start: Callable[[ApiServer, str, Path], subprocess.Popen]  # (api, stand-in URL, work)
    manifest: Callable[[str], dict]


def domain_spec(name: str) -> dict:
    return {"domain": f"{name}.bench.example", "type": "master", "soaEmail": "ops@bench.example"}


def peer_side(peer: peer_setup.Peer, args: argparse.Namespace) -> Side:
    def install(api: ApiServer, url: str, token: str) -> None:
        api.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": PEER_NAMESPACE}})
        creds = {"name": "linode-creds", "namespace": PEER_NAMESPACE, "key": "credentials"}
        api.apply(
            [
                {
                    "apiVersion": "v1",
                    "kind": "Secret",
                    "metadata": {"name": creds["name"], "namespace": PEER_NAMESPACE},
                    "stringData": {"credentials": json.dumps({"token": token})},
                },
                {
                    "apiVersion": "linode.upbound.io/v1beta1",
                    "kind": "ProviderConfig",
                    "metadata": {"name": "default"},
                    "spec": {"credentials": {"source": "Secret", "secretRef": creds}},
                },
            ]
        )

    def start(api: ApiServer, url: str, work: Path) -> subprocess.Popen:
        # The provider's API URL comes from LINODE_URL (the ProviderConfig cannot set it);
        # HOME points at an empty folder so no ~/.config/linode is read.
        env = {**os.environ, "KUBECONFIG": str(api.kubeconfig), "LINODE_URL": url,
               "HOME": str(work)}  # fmt: skip
        command = [str(peer.binary), f"--poll={args.poll}s", "--sync=1h",
                   f"--max-reconcile-rate={args.rate}"]  # fmt: skip
        with open(work / "peer.log", "ab") as log:
            return subprocess.Popen(
                command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    def manifest(name: str) -> dict:
        return {
            "apiVersion": "domain.linode.upbound.io/v1alpha1",
            "kind": "Domain",
            "metadata": {"name": name},
            "spec": {"forProvider": domain_spec(name), "providerConfigRef": {"name": "default"}},
        }

    return Side("peer", peer.crds, "/apis/domain.linode.upbound.io/v1alpha1/domains",
                install, start, manifest)  # fmt: skip


def jetgen_side(generated: Path, bed: Testbed, args: argparse.Namespace) -> Side:
    namespace = JETGEN_NAMESPACE
    group = "linode.m.jetgen.dev"

    def install(api: ApiServer, url: str, token: str) -> None:
        api.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
        api.apply(
            [
                {
                    "apiVersion": "v1",
                    "kind": "Secret",
                    "metadata": {"name": "linode-token", "namespace": namespace},
                    "stringData": {"token": token},
                },
                {
                    "apiVersion": f"{group}/v1alpha1",
                    "kind": "ProviderConfig",
                    "metadata": {"name": "linode", "namespace": namespace},
                    "spec": {
                        "credentials": {"source": "Secret", "secretRef": {"name": "linode-token"}},
                        "configuration": {"url": url},
                    },
                },
            ]
        )

    def start(api: ApiServer, url: str, work: Path) -> subprocess.Popen:
        controller = jetgen_controller(generated, api, bed, work, poll=args.poll, rate=args.rate)
        assert controller.proc is not None
        return controller.proc

    def manifest(name: str) -> dict:
        return {
            "apiVersion": f"{group}/v1alpha1",
            "kind": "Domain",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {
                "forProvider": domain_spec(name),
                "providerConfigRef": {"kind": "ProviderConfig", "name": "linode"},
            },
        }

    return Side("jetgen", generated / "install" / "crds",
                f"/apis/{group}/v1alpha1/namespaces/{namespace}/domains",
                install, start, manifest)  # fmt: skip


def jetgen_controller(generated: Path, api: ApiServer, bed: Testbed, work: Path, *,
                      poll: float, rate: int,
                      extra_args: tuple[str, ...] = ()) -> harness.Controller:  # fmt: skip
    """jetgen's controller for the generated provider-linode, started: the MRs of
    namespace ``bench``, workdirs under ``work``, ``rate`` runs at once, the client at
    5x/10x that (the peer's settings for the same rate)."""
    return harness.Controller(
        kinds=generated / "linode_provider" / "kinds.json",
        apiserver=api,
        testbed=bed,
        workdir_root=work / "workdirs",
        log=work / "jetgen.log",
        poll=poll,
        namespace=JETGEN_NAMESPACE,
        env={"PYTHONPATH": str(generated)},  # its hooks module, `config`
        extra_args=[
            "--max-runs",
            str(rate),
            "--kube-qps",
            str(5 * rate),
            "--kube-burst",
            str(10 * rate),
            *extra_args,
        ],
    ).start()


def install_crds(api: ApiServer, crds: Path) -> None:
    """One side's CRDs, applied and established."""
    api.kubectl("apply", "--server-side", "-f", str(crds))
    api.kubectl("wait", "--for=condition=Established", "--timeout=120s", "-f", str(crds))


def generate_jetgen(bed: Testbed, work: Path) -> Path:
    """provider-linode for 2.37.0, the reference configuration with its version changed."""
    copy = reference.copy_tracked(reference.LINODE, work / "provider-linode-2.37.0")
    config = copy / "jetgen.yaml"
    config.write_text(config.read_text().replace('version: "3.13.0"', 'version: "2.37.0"'))
    reference.regenerate(copy, "--schema", str(SCHEMA), "--docs", str(bed.dir / DOCS_IN_BED))
    return copy


# --- what is measured ------------------------------------------------------------------


def tree(root: int) -> list[int]:
    return [root, *descendants(root)]


def tree_cpu_seconds(root: int) -> float:
    """CPU of the live processes from `root` down plus what their exited children used."""
    return sum(sum(cpu_seconds(pid)) for pid in tree(root))


def split_rss_mib(root: int) -> tuple[float, float]:
    """(the controller process, everything under it: Terraform runs, providers)."""
    return rss_mib(root), sum(rss_mib(pid) for pid in descendants(root))


@dataclass
class Figures:
    ready: int = 0
    ttr: list[float] = field(default_factory=list)  # seconds, create -> Ready, per MR
    burst_cpu: float = 0.0  # CPU seconds, controller and children, first create -> all Ready
    burst_rss: float = 0.0  # peak MiB meanwhile, controller and children
    controller_rss: float = 0.0  # peak MiB of the controller process over a settled poll
    children_rss: float = 0.0  # peak MiB of its children (providers) meanwhile
    settled_cores: float = 0.0
    settled_cpu: float = 0.0  # CPU seconds over the settled poll period
    polled: int = 0  # distinct domains read from the stand-in in the settled period
    api_calls_per_poll: float = 0.0  # calls to the stand-in in one settled poll period
    apiserver_rps: float = 0.0  # settled
    burst_requests_per_mr: float = 0.0  # the controller's apiserver requests per new MR
    settled_requests: Counter = field(default_factory=Counter)  # (verb, resource)
    settled_calls: Counter = field(default_factory=Counter)  # "METHOD /path/{id}"
    children: dict[str, tuple[int, float]] = field(default_factory=dict)  # name: (n, MiB)

    @property
    def settled_rss(self) -> float:
        return self.controller_rss + self.children_rss


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


# --- one run ---------------------------------------------------------------------------


def start_stand_in(token: str, work: Path) -> tuple[subprocess.Popen, RemoteStandIn]:
    env = {**os.environ, "LINODE_STANDIN_TOKEN": token}
    with open(work / "standin.log", "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.linode_standin"], cwd=REPO, env=env,
            stdout=subprocess.PIPE, stderr=log, text=True, start_new_session=True,
        )  # fmt: skip
    assert proc.stdout is not None
    return proc, RemoteStandIn(proc.stdout.readline().strip())


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def run_once(bed: Testbed, side: Side, size: int, args: argparse.Namespace) -> Figures:
    work = Path(tempfile.mkdtemp(prefix=f"jetgen-peer-{side.name}-"))
    plane = controlplane.start(bed, work / "plane")
    token = f"lin-{secrets.token_hex(16)}"
    standin_proc, standin = start_stand_in(token, work)
    ctl = None
    watch = None
    try:
        api = plane.api
        install_crds(api, side.crds)
        side.install(api, standin.url, token)
        watch = kubeload.ReadyWatch(api, side.collection)
        watch.start()
        ctl = side.start(api, standin.url, work)
        # Warm-up: the controller is up, its caches synced, the provider configured.
        kubeload.create_all(api, side.collection, [side.manifest("warm-up")])
        if not wait_ready(watch, {"warm-up"}, ctl, 300):
            raise RuntimeError(f"{side.name}: warm-up MR not Ready in 300 s; see {work}")
        figures = burst(api, side, ctl, watch, size, args.timeout)
        watch.stop()  # its re-watches would count as apiserver requests in the window
        time.sleep(args.settle)
        settled(figures, api, standin, ctl, args.poll)
        return figures
    finally:
        if watch is not None:
            watch.stop()
        if ctl is not None:
            stop(ctl)
        stop(standin_proc)
        plane.stop()
        if args.keep:
            print(f"  kept {work}", flush=True)
        else:
            shutil.rmtree(work, ignore_errors=True)


def wait_ready(watch: kubeload.ReadyWatch, names: set[str], ctl: subprocess.Popen,
               timeout: float, on_tick: Callable[[], None] = lambda: None) -> bool:  # fmt: skip
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ctl.poll() is not None:
            raise RuntimeError(f"controller exited with {ctl.returncode}")
        if watch.wait_ready(names, timeout=0.5, every=0.25):
            return True
        on_tick()
    return False


def burst(api: ApiServer, side: Side, ctl: subprocess.Popen, watch: kubeload.ReadyWatch,
          size: int, timeout: float) -> Figures:  # fmt: skip
    """`size` new MRs at once: time to Ready, CPU and peak RSS until all are Ready."""
    names = [f"d-{i:05d}" for i in range(size)]
    peak = [sum(split_rss_mib(ctl.pid))]
    cpu0, requests0 = tree_cpu_seconds(ctl.pid), kubeload.request_counts(api)
    created = kubeload.create_all(api, side.collection, [side.manifest(n) for n in names], 8)
    wait_ready(watch, set(names), ctl, timeout, lambda: peak.append(sum(split_rss_mib(ctl.pid))))
    cpu1, requests1 = tree_cpu_seconds(ctl.pid), kubeload.request_counts(api)
    with watch.lock:
        first_ready = dict(watch.first_ready)
    figures = Figures(ready=sum(n in first_ready for n in names))
    figures.ttr = [first_ready[n] - created[n] for n in names if n in first_ready]
    figures.burst_cpu = cpu1 - cpu0
    figures.burst_rss = max(peak)
    # This script's own: the creates, and the watch's (re-)lists and watches of the MRs.
    resource = side.collection.rsplit("/", 1)[1]
    requests = controllers_requests(kubeload.diff(requests1, requests0))
    own = sum(n for (verb, res), n in requests.items()
              if res == resource and verb in ("POST", "LIST", "WATCH"))  # fmt: skip
    figures.burst_requests_per_mr = (sum(requests.values()) - own) / size
    return figures


def children_by_name(root: int) -> dict[str, tuple[int, float]]:
    """The controller's descendants now, by command name: how many, their RSS in MiB."""
    found: dict[str, tuple[int, float]] = {}
    for pid in descendants(root):
        try:
            name = Path(f"/proc/{pid}/comm").read_text().strip()
        except OSError:
            continue
        count, mib = found.get(name, (0, 0.0))
        found[name] = (count + 1, mib + rss_mib(pid))
    return found


def controllers_requests(requests: Counter) -> Counter:
    """Leave out the control plane's own requests: its endpoint reconciler and leases
    (neither controller takes a lease here: no leader election on either side)."""
    return Counter({(v, r): n for (v, r), n in requests.items() if r not in PLANE_OWN})


def settled(figures: Figures, api: ApiServer, standin: RemoteStandIn, ctl: subprocess.Popen,
            poll: float) -> None:  # fmt: skip
    """One poll period with nothing to do: memory, CPU, stand-in calls, apiserver requests."""
    since = time.time()
    calls0, cpu0 = standin.call_count(), tree_cpu_seconds(ctl.pid)
    requests0, started = kubeload.request_counts(api), time.monotonic()
    rss = []
    while time.monotonic() - started < poll:
        rss.append(split_rss_mib(ctl.pid))
        time.sleep(2)
    seconds = time.monotonic() - started
    calls1, cpu1 = standin.call_count(), tree_cpu_seconds(ctl.pid)
    requests = controllers_requests(kubeload.diff(kubeload.request_counts(api), requests0))
    figures.controller_rss = max(r[0] for r in rss)
    figures.children_rss = max(r[1] for r in rss)
    figures.settled_cpu = cpu1 - cpu0
    figures.settled_cores = figures.settled_cpu / seconds
    figures.api_calls_per_poll = (calls1 - calls0) * poll / seconds
    figures.apiserver_rps = sum(requests.values()) / seconds
    figures.settled_requests = requests
    figures.children = children_by_name(ctl.pid)
    calls = [
        c for c in standin.calls() if since <= c["at"] and not c["path"].startswith("/_control")
    ]
    figures.settled_calls = Counter(
        f"{c['method']} {re.sub(r'/[0-9]+', '/{id}', c['path'])}" for c in calls
    )
    figures.polled = len(
        {c["path"] for c in calls if c["method"] == "GET" and DOMAIN.match(c["path"])}
    )


# --- the table -------------------------------------------------------------------------

COLUMNS = (
    ("Ready", lambda f: f.ready, "{:.0f}"),
    ("TTR p50 s", lambda f: pct(f.ttr, 0.5), "{:.2f}"),
    ("TTR p90 s", lambda f: pct(f.ttr, 0.9), "{:.2f}"),
    ("TTR max s", lambda f: max(f.ttr, default=float("nan")), "{:.2f}"),
    ("burst CPU s", lambda f: f.burst_cpu, "{:.1f}"),
    ("burst RSS MiB", lambda f: f.burst_rss, "{:.0f}"),
    ("RSS MiB", lambda f: f.settled_rss, "{:.0f}"),
    ("ctl RSS", lambda f: f.controller_rss, "{:.0f}"),
    ("child RSS", lambda f: f.children_rss, "{:.0f}"),
    ("cores", lambda f: f.settled_cores, "{:.3f}"),
    ("MRs polled", lambda f: f.polled, "{:.0f}"),
    (
        "CPU ms/MR polled",
        lambda f: 1000 * f.settled_cpu / f.polled if f.polled else float("nan"),
        "{:.1f}",
    ),
    ("API calls/poll", lambda f: f.api_calls_per_poll, "{:.0f}"),
    ("apiserver req/s", lambda f: f.apiserver_rps, "{:.2f}"),
    ("req/new MR", lambda f: f.burst_requests_per_mr, "{:.1f}"),
)
SIDES = ("peer", "jetgen")


def medians(runs: list[Figures]) -> list[float]:
    return [statistics.median(get(f) for f in runs) for _, get, _ in COLUMNS]


def print_table(results: dict[tuple[str, int], list[Figures]], sizes: list[int]) -> None:
    header = ["MRs", "side", *(name for name, _, _ in COLUMNS)]
    rows = []
    for size in sizes:
        values = {side: medians(results[(side, size)]) for side in SIDES if (side, size) in results}
        for side, row in values.items():
            cells = [fmt.format(v) for (_, _, fmt), v in zip(COLUMNS, row, strict=True)]
            rows.append([str(size), side, *cells])
        if len(values) == 2:
            pairs = zip(values["jetgen"], values["peer"], strict=True)
            rows.append([str(size), "jetgen/peer", *(ratio(j, p) for j, p in pairs)])
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(cell.rjust(w) for cell, w in zip(row, widths, strict=True)))


def ratio(ours: float, theirs: float) -> str:
    return f"{ours / theirs:.2f}" if theirs else ("=" if ours == theirs else "inf")


def print_where(results: dict[tuple[str, int], list[Figures]], sizes: list[int]) -> None:
    """Where the settled requests go, per side, for the largest size's last run."""
    size = max(sizes)
    for side in SIDES:
        if (side, size) not in results:
            continue
        last = results[(side, size)][-1]
        top = ", ".join(f"{v} {r} {n}" for (v, r), n in last.settled_requests.most_common(6))
        calls = ", ".join(f"{k} {n}" for k, n in last.settled_calls.most_common(4))
        print(f"{side}, {size} MRs, one settled poll period: apiserver {top or 'none'}")
        print(f"{' ' * len(side)}  stand-in calls: {calls or 'none'}")
        kids = ", ".join(f"{n} x {name} {mib:.0f} MiB" for name, (n, mib) in last.children.items())
        print(f"{' ' * len(side)}  child processes at the end: {kids or 'none'}")


def in_own_network() -> int:
    """Run this script again in a network namespace of its own with only loopback up.

    The peer's metrics listener is fixed at :8080 (no flag), which other programs on a
    shared machine may hold; in its own namespace every port is free, and both sides run
    the same way. Everything a run needs is on loopback (the Go build ran before)."""
    command = ["unshare", "--net", "--", "sh", "-c", 'ip link set lo up && exec "$@"', "sh",
               sys.executable, *sys.argv]  # fmt: skip
    return subprocess.run(command, env={**os.environ, NETNS_MARK: "1"}, check=False).returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,100,1000", help="MR counts, comma-separated")
    parser.add_argument("--runs", type=int, default=3, help="runs per size and side")
    parser.add_argument("--poll", type=int, default=60, help="poll interval, seconds")
    parser.add_argument("--rate", type=int, default=16, help="reconciles / runs at once")
    parser.add_argument(
        "--settle",
        type=float,
        help="seconds from all Ready to the settled window (default: the poll interval and 10 s,"
        " so every MR's first poll after its create is over before it)",
    )
    parser.add_argument("--timeout", type=float, default=1800, help="seconds until all Ready")
    parser.add_argument("--only", choices=["peer", "jetgen"], help="run one side only")
    parser.add_argument("--keep", action="store_true", help="keep the work folders (logs)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.settle is None:
        # The first poll after a create costs more than a settled one (jetgen: the state's
        # upgrade and no-op plan are not remembered yet, three RPCs instead of one), and it
        # comes up to one poll interval after Ready: the window must not hold it.
        args.settle = args.poll + 10.0
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[attr-defined]
    if os.environ.get(NETNS_MARK) != "1":
        if args.only != "jetgen":
            peer_setup.ensure()  # needs the Go module proxy: before leaving the network
        return in_own_network()
    # SIGTERM (timeout, kill) unwinds like Ctrl-C, so the controllers and planes are stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    bed = Testbed()
    bed.require_installed()
    work = Path(tempfile.mkdtemp(prefix="jetgen-peer-bench-"))
    try:
        sides = []
        if args.only != "jetgen":
            sides.append(peer_side(peer_setup.ensure(), args))
        if args.only != "peer":
            sides.append(jetgen_side(generate_jetgen(bed, work), bed, args))
        print(f"commit {commit()}; load before: {load()}; poll {args.poll} s, rate {args.rate}")
        results: dict[tuple[str, int], list[Figures]] = {}
        for size in sizes:
            for run in range(args.runs):
                for side in sides if run % 2 == 0 else sides[::-1]:
                    figures = run_once(bed, side, size, args)
                    results.setdefault((side.name, size), []).append(figures)
                    print(f"  {side.name} {size} MRs run {run + 1}: {figures.ready} Ready, "
                          f"p50 {pct(figures.ttr, 0.5):.2f}s, max "
                          f"{max(figures.ttr, default=float('nan')):.2f}s, burst CPU "
                          f"{figures.burst_cpu:.1f}s; settled RSS {figures.settled_rss:.0f} MiB, "
                          f"{figures.settled_cores:.3f} cores, {figures.polled} MRs polled, "
                          f"{figures.apiserver_rps:.2f} apiserver req/s; load "
                          f"{os.getloadavg()[0]:.1f}", flush=True)  # fmt: skip
        print(f"load after: {load()}")
        print_table(results, sizes)
        print_where(results, sizes)
        complete = all(f.ready == size for (_, size), runs in results.items() for f in runs)
        return 0 if complete else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
