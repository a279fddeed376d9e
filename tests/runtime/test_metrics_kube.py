from jetgen.runtime import kube
from jetgen.runtime.metrics import Metrics


def test_metrics_text_format():
    m = Metrics()
    m.reconcile.observe(0.3, "File", "ok")
    m.reconcile.observe(7, "File", "ok")
    m.terraform_run("plan", 0.2, True)
    m.errors.inc("File")
    m.gauge("jetgen_terraform_queue_depth", "waiting", lambda: 3)
    text = m.render()
    assert 'jetgen_reconcile_duration_seconds_bucket{kind="File",result="ok",le="0.5"} 1' in text
    assert 'jetgen_reconcile_duration_seconds_bucket{kind="File",result="ok",le="10"} 2' in text
    assert 'jetgen_reconcile_duration_seconds_count{kind="File",result="ok"} 2' in text
    assert 'jetgen_terraform_run_duration_seconds_count{command="plan",result="ok"} 1' in text
    assert 'jetgen_reconcile_errors_total{kind="File"} 1' in text
    assert "jetgen_terraform_queue_depth 3" in text


def test_object_paths():
    assert kube.object_path("v1", "secrets", "ns", "s") == "/api/v1/namespaces/ns/secrets/s"
    assert (
        kube.object_path("g.io/v1", "things", None, "t", "status")
        == "/apis/g.io/v1/things/t/status"
    )


def test_secret_data_roundtrip():
    encoded = kube.encode_data({"k": b"\x00\xffv"})
    assert kube.decode_secret({"data": {"t": encoded["k"]}}) == {"t": "\x00\ufffdv"}
    assert kube.decode_secret({"data": kube.encode_data({"a": b"text"})}) == {"a": "text"}


def test_kube_request_metrics():
    m = Metrics()
    m.kube_request(200, 0.0)
    m.kube_request(429, 0.25)
    m.kube_request(200, 0.5)
    text = m.render()
    assert 'jetgen_kube_requests_total{code="200"} 2' in text
    assert 'jetgen_kube_requests_total{code="429"} 1' in text
    assert "jetgen_kube_rate_limit_wait_seconds_total 0.75" in text


def test_a_tally_is_read_when_scraped():
    calls = {"read_resource": 2}
    m = Metrics()
    m.tally("jetgen_plugin_rpcs_total", "calls", "operation", lambda: calls)
    calls["plan_resource_change"] = 1
    text = m.render()
    assert "# TYPE jetgen_plugin_rpcs_total counter" in text
    assert 'jetgen_plugin_rpcs_total{operation="plan_resource_change"} 1\n' in text
    assert 'jetgen_plugin_rpcs_total{operation="read_resource"} 2\n' in text
