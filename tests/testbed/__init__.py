"""jetgen's test bed: pinned real tools in a cache folder plus a throwaway control plane.

`scripts/testbed install` builds kube-apiserver, kube-controller-manager, kubectl, etcd,
OpenTofu, Terraform and the Terraform providers from pinned Go modules; the pytest plugin
`tests.testbed.fixtures` and `scripts/testbed up|down|env` start and stop etcd,
kube-apiserver, kube-controller-manager and PostgreSQL on loopback ports.
See docs/testbed.md.
"""
