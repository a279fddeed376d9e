"""Prometheus metrics, in the text exposition format, served by aiohttp.

A handful of series is all the runtime needs, so it writes the format itself instead of
pulling in a client library:

``jetgen_reconcile_duration_seconds{kind,result}``   histogram of one reconcile pass
``jetgen_terraform_run_duration_seconds{command,result}``  histogram of one CLI run
``jetgen_reconcile_errors_total{kind}``               failed reconcile passes
``jetgen_plugin_polls_total{kind,result}``            polls answered over the plugin protocol
``jetgen_driver_operations_total{kind,operation,driver}``  plan/apply/import/destroy/changes
                                                      done, by driver (plugin or cli)
``jetgen_plugin_rpcs_total{operation}``              plugin-protocol calls made to provider
                                                      processes (polls and writes), by RPC
``jetgen_provider_processes``                         shared provider processes running
``jetgen_terraform_queue_depth``                      runs waiting for a free slot
``jetgen_terraform_runs_in_flight``                   runs holding a slot
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from aiohttp import web

BUCKETS = (0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900)


def _labels(names: tuple[str, ...], values: tuple[str, ...], extra: str = "") -> str:
    pairs = [f'{n}="{_escape(v)}"' for n, v in zip(names, values, strict=True)]
    if extra:
        pairs.append(extra)
    return "{" + ",".join(pairs) + "}" if pairs else ""


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


@dataclass
class Histogram:
    name: str
    help: str
    labels: tuple[str, ...]
    series: dict[tuple[str, ...], list[float]] = field(default_factory=dict)  # buckets+sum+count

    def observe(self, seconds: float, *values: str) -> None:
        row = self.series.setdefault(values, [0.0] * (len(BUCKETS) + 2))
        for i in range(bisect.bisect_left(BUCKETS, seconds), len(BUCKETS)):
            row[i] += 1
        row[-2] += seconds
        row[-1] += 1

    def render(self) -> list[str]:
        out = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} histogram"]
        for values, row in sorted(self.series.items()):
            for bound, count in zip(BUCKETS, row, strict=False):
                le = _labels(self.labels, values, f'le="{bound}"')
                out.append(f"{self.name}_bucket{le} {count:g}")
            inf = _labels(self.labels, values, 'le="+Inf"')
            out.append(f"{self.name}_bucket{inf} {row[-1]:g}")
            out.append(f"{self.name}_sum{_labels(self.labels, values)} {row[-2]:.6f}")
            out.append(f"{self.name}_count{_labels(self.labels, values)} {row[-1]:g}")
        return out


@dataclass
class Counter:
    name: str
    help: str
    labels: tuple[str, ...]
    series: dict[tuple[str, ...], float] = field(default_factory=dict)

    def inc(self, *values: str, by: float = 1) -> None:
        self.series[values] = self.series.get(values, 0) + by

    def render(self) -> list[str]:
        out = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} counter"]
        for values, count in sorted(self.series.items()):
            out.append(f"{self.name}{_labels(self.labels, values)} {count:g}")
        return out


@dataclass
class Gauge:
    name: str
    help: str
    read: Callable[[], float]
    type: str = "gauge"  # or "counter": a total kept elsewhere, read when scraped

    def render(self) -> list[str]:
        return [
            f"# HELP {self.name} {self.help}",
            f"# TYPE {self.name} {self.type}",
            f"{self.name} {self.read():g}",
        ]


@dataclass
class Tally:
    """A counter with one label whose totals are kept elsewhere, read when scraped."""

    name: str
    help: str
    label: str
    read: Callable[[], Mapping[str, float]]

    def render(self) -> list[str]:
        out = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} counter"]
        for value, count in sorted(self.read().items()):
            out.append(f"{self.name}{_labels((self.label,), (value,))} {count:g}")
        return out


class Metrics:
    def __init__(self) -> None:
        self.reconcile = Histogram(
            "jetgen_reconcile_duration_seconds",
            "Duration of one reconcile pass of a managed resource.",
            ("kind", "result"),
        )
        self.terraform = Histogram(
            "jetgen_terraform_run_duration_seconds",
            "Duration of one Terraform CLI run (including the provider start).",
            ("command", "result"),
        )
        self.errors = Counter(
            "jetgen_reconcile_errors_total", "Reconcile passes that ended in an error.", ("kind",)
        )
        self.plugin_polls = Counter(
            "jetgen_plugin_polls_total",
            "Polls of settled resources over the plugin protocol, by verdict "
            "(unchanged: no Terraform run; gone, drift, error: Terraform ran instead).",
            ("kind", "result"),
        )
        self.driver_operations = Counter(
            "jetgen_driver_operations_total",
            "Driver operations (plan, apply, import, destroy, changes) done, by the driver"
            " that did them: plugin (plugin protocol) or cli (Terraform CLI).",
            ("kind", "operation", "driver"),
        )
        self.kube_requests = Counter(
            "jetgen_kube_requests_total",
            "Requests of the runtime's own Kubernetes client (kopf's not included), by HTTP"
            " status; a 429 retried counts once per answer.",
            ("code",),
        )
        self.kube_waited = Counter(
            "jetgen_kube_rate_limit_wait_seconds_total",
            "Seconds requests waited for the client-side rate limit (--kube-qps/--kube-burst).",
            (),
        )
        self.provider_recycles = Counter(
            "jetgen_provider_recycles_total",
            "Shared provider processes replaced, by reason (rss: grew beyond "
            "--provider-rss-growth; uses: no RSS to read; exited; stuck: a call timed out).",
            ("reason",),
        )
        self.gauges: list[Gauge | Tally] = []

    def gauge(self, name: str, help_: str, read: Callable[[], float], type_: str = "gauge") -> None:
        self.gauges.append(Gauge(name, help_, read, type_))

    def tally(
        self, name: str, help_: str, label: str, read: Callable[[], Mapping[str, float]]
    ) -> None:
        self.gauges.append(Tally(name, help_, label, read))

    def terraform_run(self, command: str, seconds: float, ok: bool) -> None:
        self.terraform.observe(seconds, command, "ok" if ok else "error")

    def driver_operation(self, kind: str, operation: str, driver: str) -> None:
        self.driver_operations.inc(kind, operation, driver)

    def kube_request(self, status: int, waited: float) -> None:
        self.kube_requests.inc(str(status))
        if waited:
            self.kube_waited.inc(by=waited)

    def render(self) -> str:
        lines: list[str] = []
        metrics: list[Histogram | Counter | Gauge | Tally] = [
            self.reconcile,
            self.terraform,
            self.errors,
            self.plugin_polls,
            self.driver_operations,
            self.kube_requests,
            self.kube_waited,
            self.provider_recycles,
            *self.gauges,
        ]
        for metric in metrics:
            lines.extend(metric.render())
        return "\n".join(lines) + "\n"

    async def serve(self, port: int, host: str = "0.0.0.0") -> web.AppRunner:
        async def handle(_: web.Request) -> web.Response:
            return web.Response(text=self.render(), content_type="text/plain", charset="utf-8")

        app = web.Application()
        app.router.add_get("/metrics", handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, host, port).start()
        return runner
