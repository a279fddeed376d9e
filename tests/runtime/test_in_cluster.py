"""In a pod, the runtime finds the apiserver the way client-go does, without cluster DNS."""

from __future__ import annotations

import kopf
from jetgen.runtime.operator import in_cluster_server

KOPF_DEFAULT = kopf.ConnectionInfo(server="https://kubernetes.default.svc", token="t")


def test_service_host_and_port_from_the_kubelet_replace_the_dns_name():
    env = {"KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "443"}
    info = in_cluster_server(KOPF_DEFAULT, env)
    assert info.server == "https://10.0.0.1:443"
    assert info.token == "t"  # everything else kept


def test_ipv6_service_host_is_bracketed_and_a_missing_port_is_443():
    info = in_cluster_server(KOPF_DEFAULT, {"KUBERNETES_SERVICE_HOST": "fd00::1"})
    assert info.server == "https://[fd00::1]:443"


def test_without_the_variables_kopfs_server_stays():
    assert in_cluster_server(KOPF_DEFAULT, {}) is KOPF_DEFAULT
