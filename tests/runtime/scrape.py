"""Reading /metrics in the end-to-end tests and benchmarks: the controller's own (Metrics,
own_requests, polls_of) and the apiserver's (apiserver_requests)."""

from __future__ import annotations

import re
import urllib.request


class Metrics:
    def __init__(self, port: int):
        self.port = port

    def text(self) -> str:
        url = f"http://127.0.0.1:{self.port}/metrics"
        return urllib.request.urlopen(url, timeout=30).read().decode()  # stuck: fail, not hang

    def terraform_runs(self) -> dict[str, int]:
        """Terraform CLI runs so far, per command (all results)."""
        pattern = (
            r'jetgen_terraform_run_duration_seconds_count\{command="(\w+)",result="\w+"\} (\S+)'
        )
        runs: dict[str, int] = {}
        for command, count in re.findall(pattern, self.text()):
            runs[command] = runs.get(command, 0) + int(float(count))
        return runs

    def writes(self) -> dict[str, int]:
        """Driver operations so far (plan, apply, ...), whichever driver did them."""
        pattern = (
            r'jetgen_driver_operations_total\{kind="\w+",operation="(\w+)",driver="\w+"\} (\S+)'
        )
        ops: dict[str, int] = {}
        for operation, count in re.findall(pattern, self.text()):
            ops[operation] = ops.get(operation, 0) + int(float(count))
        return ops

    def passes(self, kind: str) -> int:
        """Reconcile passes of ``kind`` so far, whatever their result and driver."""
        pattern = rf'jetgen_reconcile_duration_seconds_count\{{kind="{kind}",result="\w+"\}} (\S+)'
        return sum(int(float(n)) for n in re.findall(pattern, self.text()))

    def polls(self, result: str) -> int:
        pattern = rf'jetgen_plugin_polls_total\{{kind="\w+",result="{result}"\}} (\S+)'
        return sum(int(float(n)) for n in re.findall(pattern, self.text()))

    def gauge(self, name: str) -> float:
        match = re.search(rf"^{name} (\S+)$", self.text(), re.M)
        return float(match.group(1)) if match else -1


SAMPLE = re.compile(r"^apiserver_request_total\{(?P<labels>[^}]*)\} (?P<value>\S+)$", re.M)


def apiserver_requests(apiserver) -> dict[tuple[str, str], float]:
    """(verb, resource) -> requests the apiserver served so far."""
    status, text = apiserver.http_get("/metrics", timeout=30)
    assert status == 200, text[:200]
    counts: dict[tuple[str, str], float] = {}
    for match in SAMPLE.finditer(text):
        labels = dict(re.findall(r'(\w+)="([^"]*)"', match["labels"]))
        key = (labels.get("verb", ""), labels.get("resource", ""))
        counts[key] = counts.get(key, 0) + float(match["value"])
    return counts


def own_requests(metrics: Metrics) -> float:
    """Requests the controller's own client made so far (any answer)."""
    pattern = r"^jetgen_kube_requests_total\{[^}]*\} (\S+)$"
    return sum(float(n) for n in re.findall(pattern, metrics.text(), re.M))


def polls_of(metrics: Metrics, kind: str, result: str) -> int:
    return polls_of_text(metrics.text(), kind, result)


def polls_of_text(text: str, kind: str, result: str) -> int:
    pattern = rf'jetgen_plugin_polls_total\{{kind="{kind}",result="{result}"\}} (\S+)'
    return sum(int(float(n)) for n in re.findall(pattern, text))
