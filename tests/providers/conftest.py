"""Fixtures of the reference-provider tests.

They run on a control plane of their own, not the session's: other tests generate
providers from the same schemas with other settings (the runtime tests' random provider,
the generator tests' linode CRDs) and install CRDs of the same names, and one CRD name
cannot serve two shapes at once. A second control plane costs about 5 s.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from tests.testbed import controlplane
from tests.testbed.kube import ApiServer


@pytest.fixture(scope="package")
def reference_apiserver(testbed, tmp_path_factory) -> Iterator[ApiServer]:
    folder = tmp_path_factory.mktemp("reference-controlplane")
    plane = controlplane.start(testbed, folder)
    try:
        yield plane.api
    finally:
        plane.stop()
        shutil.rmtree(folder / "etcd", ignore_errors=True)
