"""End-to-end: a provider install (``tofu init``) that fails is retried with back-off by
one pass, not by every pass of every MR, and one good install unblocks them all.

The controller's CLI configuration points at a mirror without the provider; three MRs
then wait with a clear condition while ``init`` runs only on the back-off's schedule
(counted by the controller's own metrics); once the provider is copied into the mirror,
the next try installs it and all three become Ready.
"""

from __future__ import annotations

import re
import shutil
import time

import pytest

from tests.runtime import harness
from tests.runtime.harness import Controller, condition, get, is_ready, wait_for
from tests.runtime.local_mrs import GROUP, file_mr
from tests.runtime.scrape import Metrics
from tests.testbed.processes import free_port

pytestmark = pytest.mark.e2e

MRS = ("a", "b", "c")


def reconcile_errors(metrics: Metrics) -> int:
    found = re.findall(
        r'^jetgen_reconcile_errors_total\{kind="File"\} (\S+)$', metrics.text(), re.M
    )
    return int(float(found[0])) if found else 0


def test_a_failed_install_is_retried_with_back_off_then_unblocks_every_mr(
    apiserver, testbed, local_provider, tmp_path
):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    cli_config = tmp_path / "terraformrc"
    cli_config.write_text(
        f'provider_installation {{\n  filesystem_mirror {{\n    path = "{mirror}"\n  }}\n}}\n'
    )
    ns = apiserver.create_namespace("install-backoff")
    port = free_port()
    metrics = Metrics(port)
    ctl = Controller(
        kinds=harness.kinds_file(local_provider),
        apiserver=apiserver,
        testbed=testbed,
        workdir_root=tmp_path / "work",
        log=tmp_path / "controller.log",
        poll=2,
        # The last --cli-config wins over the test bed's.
        extra_args=["--metrics-port", str(port), "--cli-config", str(cli_config)],
        namespace=ns,
    )
    started = time.monotonic()
    with ctl:
        for name in MRS:
            apiserver.apply(file_mr(name, ns, tmp_path / "out" / name, f"{name}\n"))

        def failing(name: str) -> dict:
            obj = get(apiserver, "files." + GROUP, name, ns)
            synced = condition(obj, "Synced")
            return synced if synced.get("status") == "False" else {}

        for name in MRS:
            synced = wait_for(f"{name} not synced", lambda n=name: failing(n), timeout=60)
            message = synced["message"]
            assert "hashicorp/local" in message and "is not installed" in message, message
            assert "init:" in message, message  # tofu's own reason follows
        # Many failed passes, few installs: the back-off (2 s, doubling) paces init.
        wait_for("more failed passes", lambda: reconcile_errors(metrics) >= 12, timeout=60)
        inits = metrics.terraform_runs().get("init", 0)
        elapsed = time.monotonic() - started
        print(f"{reconcile_errors(metrics)} failed passes, {inits} inits in {elapsed:.0f}s")
        # Tries at about 0, 2, 6, 14, 30 s...: log2 of the time, not one per pass.
        assert 1 <= inits <= 2 + int(elapsed / 2).bit_length(), (inits, elapsed)
        assert not any(is_ready(get(apiserver, "files." + GROUP, n, ns)) for n in MRS)

        # The fix: the provider appears in the mirror.  The next try installs it once.
        for host in ("registry.opentofu.org", "registry.terraform.io"):
            source = testbed.layout.mirror / host / "hashicorp" / "local"
            if source.exists():
                shutil.copytree(source, mirror / host / "hashicorp" / "local")
        fixed_at = time.monotonic()
        for name in MRS:
            wait_for(
                f"{name} Ready",
                lambda n=name: is_ready(get(apiserver, "files." + GROUP, n, ns)),
                timeout=330,
            )
        print(f"all Ready {time.monotonic() - fixed_at:.1f}s after the fix")
        runs = re.findall(
            r'jetgen_terraform_run_duration_seconds_count\{command="init",result="ok"\} (\S+)',
            metrics.text(),
        )
        assert runs == ["1"]  # one good install for all three
        for name in MRS:
            assert (tmp_path / "out" / name).read_text() == f"{name}\n"
