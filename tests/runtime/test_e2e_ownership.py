"""End-to-end: what the controller owns, trusts and hands to Terraform.

* connection Secrets: created with a controller owner reference, garbage-collected with
  the MR; a Secret of that name not controlled by this MR is refused and left untouched;
* Terraform state: kept in the controller's namespace; a tenant-forged state Secret in
  the MR's namespace is ignored (and reported) -- here it claims a victim file, which a
  trusted forgery would make Terraform delete; the real state survives a restart with the
  workdir gone (no import, no apply);
* environment: a run inherits none of the controller's variables (a marker, a fake
  cloud identity, KUBERNETES_*, HOME) unless a cluster-scoped config asks for
  ``InjectedIdentity``; a namespaced ProviderConfig cannot ask;
* redaction: a secret value echoed by Terraform (stderr, warning and error diagnostics)
  and by the provider process (its stderr) appears in no log, event, condition or status.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import re
import shutil
import time
import urllib.request
from pathlib import Path

import pytest

from tests.runtime import harness
from tests.runtime.harness import Controller, get, is_ready, wait_for
from tests.runtime.local_mrs import GROUP, file_mr
from tests.testbed.processes import free_port

pytestmark = pytest.mark.e2e

FILES = "files." + GROUP


def controller(apiserver, testbed, provider, tmp_path, ns, **kw) -> Controller:
    return Controller(
        kinds=harness.kinds_file(provider),
        apiserver=apiserver,
        testbed=testbed,
        workdir_root=tmp_path / "work",
        log=tmp_path / "controller.log",
        poll=3,
        namespace=ns,
        **kw,
    )


def synced(apiserver, name, ns) -> dict:
    return harness.condition(get(apiserver, FILES, name, ns), "Synced")


# --- connection Secrets ----------------------------------------------------------------


def test_connection_secret_is_owned_and_never_taken_over(
    apiserver, testbed, local_provider, tmp_path
):
    ns = apiserver.create_namespace("conn-own")
    out = tmp_path / "out"
    foreign = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "taken", "namespace": ns},
        "stringData": {"keep": "me"},
    }
    apiserver.apply(foreign)
    before = get(apiserver, "secret", "taken", ns)
    with controller(apiserver, testbed, local_provider, tmp_path, ns):
        apiserver.apply(
            file_mr("a", ns, out / "a.txt", "a\n", writeConnectionSecretToRef={"name": "taken"})
        )
        apiserver.apply(
            file_mr("b", ns, out / "b.txt", "b\n", writeConnectionSecretToRef={"name": "mine"})
        )
        b = wait_for("b Ready", lambda: (o := get(apiserver, FILES, "b", ns)) and is_ready(o) and o)
        mine = wait_for("b's Secret", lambda: get(apiserver, "secret", "mine", ns))
        (owner,) = mine["metadata"]["ownerReferences"]
        assert owner["uid"] == b["metadata"]["uid"] and owner["controller"] is True
        assert owner["kind"] == "File" and owner["name"] == "b"

        message = (
            wait_for(
                "a refused",
                lambda: "not controlled" in synced(apiserver, "a", ns).get("message", ""),
            )
            and synced(apiserver, "a", ns)["message"]
        )
        assert f"Secret {ns}/taken" in message
        assert synced(apiserver, "a", ns)["status"] == "False"
        # A second MR may not take over the first one's Secret either.
        apiserver.apply(
            file_mr("c", ns, out / "c.txt", "c\n", writeConnectionSecretToRef={"name": "mine"})
        )
        wait_for(
            "c refused",
            lambda: f"Secret {ns}/mine" in synced(apiserver, "c", ns).get("message", ""),
        )
        time.sleep(4)  # a few more passes: still nothing written
        after = get(apiserver, "secret", "taken", ns)
        assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
        assert after["data"] == before["data"] and "ownerReferences" not in after["metadata"]
        assert get(apiserver, "secret", "mine", ns).get("data") == mine.get("data")

        for name in ("a", "b", "c"):
            apiserver.kubectl("delete", FILES, name, "-n", ns, "--timeout=60s")
        wait_for("b's Secret collected", lambda: get(apiserver, "secret", "mine", ns) is None)
        assert get(apiserver, "secret", "taken", ns)["data"] == before["data"]


# --- Terraform state -------------------------------------------------------------------


def forged_state(victim: Path, content: str) -> bytes:
    """A state claiming that this MR's local_file is ``victim``.  Trusted, it would make
    Terraform replace it -- deleting the victim -- to create the MR's own file."""
    attributes = {
        "content": content,
        "content_base64": None,
        "content_base64sha256": base64.b64encode(
            hashlib.sha256(content.encode()).digest()
        ).decode(),
        "content_base64sha512": base64.b64encode(
            hashlib.sha512(content.encode()).digest()
        ).decode(),
        "content_md5": hashlib.md5(content.encode()).hexdigest(),
        "content_sha1": hashlib.sha1(content.encode()).hexdigest(),
        "content_sha256": hashlib.sha256(content.encode()).hexdigest(),
        "content_sha512": hashlib.sha512(content.encode()).hexdigest(),
        "directory_permission": "0777",
        "file_permission": "0777",
        "filename": str(victim),
        "id": hashlib.sha1(content.encode()).hexdigest(),
        "sensitive_content": None,
        "source": None,
    }
    state = {
        "version": 4,
        "terraform_version": "1.10.10",
        "serial": 99,
        "lineage": "forged-by-a-tenant",
        "outputs": {},
        "resources": [
            {
                "mode": "managed",
                "type": "local_file",
                "name": "this",
                "provider": 'provider["registry.opentofu.org/hashicorp/local"]',
                "instances": [{"schema_version": 0, "attributes": attributes}],
            }
        ],
        "check_results": None,
    }
    return json.dumps(state).encode()


def metric(port: int, name: str, **labels: str) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_state_is_kept_where_a_tenant_cannot_forge_it(apiserver, testbed, local_provider, tmp_path):
    ns = apiserver.create_namespace("state-trust")
    state_ns = apiserver.create_namespace("state-home")
    out = tmp_path / "out"
    out.mkdir()
    victim = out / "victim.txt"
    victim.write_text("precious\n")
    real = out / "real.txt"

    # The MR exists before any controller sees it, and the tenant plants a state for it.
    apiserver.apply(file_mr("f", ns, real, "mine\n"))
    uid = get(apiserver, FILES, "f", ns)["metadata"]["uid"]
    forged_name = f"jetgen-tfstate-{uid}"
    apiserver.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": forged_name,
                "namespace": ns,
                "labels": {"jetgen.dev/tfstate-for": uid},
            },
            "data": {
                "tfstate.gz": base64.b64encode(
                    gzip.compress(forged_state(victim, "precious\n"))
                ).decode()
            },
        }
    )
    # A controller has reported on it before (its state Secret lost since): a brand-new MR's
    # first pass does not look for state at all (reconciler.never_handled), so the forged
    # Secret would not even be read; this one is looked up, found foreign and refused.
    apiserver.kubectl(
        "patch",
        FILES,
        "f",
        "-n",
        ns,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps(
            {
                "status": {
                    "conditions": [
                        {
                            "type": "Ready",
                            "status": "False",
                            "reason": "Creating",
                            "message": "",
                            "lastTransitionTime": "2026-01-01T00:00:00Z",
                        }
                    ]
                }
            }
        ),
    )
    args = ["--state-namespace", state_ns]
    with controller(apiserver, testbed, local_provider, tmp_path, ns, extra_args=args):
        wait_for("Ready", lambda: is_ready(get(apiserver, FILES, "f", ns)), timeout=60)
        events = harness.events_text(apiserver, ns)
        assert "UntrustedState" in events and f"Secret {ns}/{forged_name}" in events
    assert victim.read_text() == "precious\n", "the forged state was trusted"
    assert real.read_text() == "mine\n"

    kept = get(apiserver, "secret", forged_name, state_ns)
    assert kept["metadata"]["labels"]["jetgen.dev/tfstate-for"] == uid
    assert "ownerReferences" not in kept["metadata"]  # another namespace: no owner possible
    kept_state = json.loads(gzip.decompress(base64.b64decode(kept["data"]["tfstate.gz"])))
    assert kept_state["lineage"] != "forged-by-a-tenant"

    # Restart with the workdir gone: the real state is restored -- no import, no apply.
    shutil.rmtree(tmp_path / "work")
    port = free_port()
    args += ["--metrics-port", str(port)]
    with controller(apiserver, testbed, local_provider, tmp_path, ns, extra_args=args):
        # Driver operations, whichever driver does them (plugin protocol or CLI).
        runs = "jetgen_driver_operations_total"
        # The state Secret's settled mark lets the first pass prove the MR unchanged over
        # the plugin protocol (no plan needed); either way it is a pass that ends ok.
        wait_for(
            "a pass after restart",
            lambda: metric(port, "jetgen_reconcile_duration_seconds_count", result="ok") >= 1,
        )
        assert metric(port, runs, operation="import") == 0
        assert metric(port, runs, operation="apply") == 0
        (restored,) = (tmp_path / "work").glob("*/terraform.tfstate")
        assert json.loads(restored.read_text())["lineage"] == kept_state["lineage"]
        assert is_ready(get(apiserver, FILES, "f", ns))

        apiserver.kubectl("delete", FILES, "f", "-n", ns, "--timeout=60s")
        assert not real.exists() and victim.read_text() == "precious\n"
        # The MR cannot own it across namespaces: the controller deleted it itself.
        assert get(apiserver, "secret", forged_name, state_ns) is None
    assert get(apiserver, "secret", forged_name, ns) is not None  # the tenant's: untouched


# --- environment and redaction ---------------------------------------------------------

MARKER = "jetgen-marker-7f3a9c"
SECRET = "s3cr3t-echoed-by-the-provider-41"


def recording_tofu(testbed, tmp_path: Path) -> tuple[Path, Path, Path]:
    """A tofu wrapper that dumps its environment per run and, as a careless provider
    would, echoes the secret into stderr and a warning -- and into an error, in the first
    plan after the file ``fail-next-plan`` appears."""
    dumps = tmp_path / "envs"
    dumps.mkdir()
    arm = tmp_path / "fail-next-plan"
    wrapper = tmp_path / "tofu-wrapper"
    warning = json.dumps(
        {
            "type": "diagnostic",
            "diagnostic": {"severity": "warning", "summary": f"token {SECRET} is deprecated"},
        }
    )
    error = json.dumps(
        {
            "type": "diagnostic",
            "diagnostic": {"severity": "error", "summary": f"rejected token {SECRET}"},
        }
    )
    wrapper.write_text(
        "#!/bin/sh\n"
        f'{{ env; echo "RUN_CWD=$(pwd)"; }} > "{dumps}/$$"\n'
        f'echo "debug: using token {SECRET}" >&2\n'
        f'if [ "$1" = plan ] && rm "{arm}" 2>/dev/null; then\n'
        f"  echo '{error}'; exit 1\n"
        "fi\n"
        f"echo '{warning}'\n"
        f'exec "{testbed.tofu}" "$@"\n'
    )
    wrapper.chmod(0o755)
    return wrapper, dumps, arm


def echoing_mirror(testbed, tmp_path: Path) -> Path:
    """A copy of the test bed's mirror whose local provider is a wrapper writing the
    secret to its stderr (as an hclog error line) before running the real binary; and a
    CLI config pointing at it."""
    mirror = tmp_path / "mirror"
    shutil.copytree(testbed.mirror, mirror, symlinks=True)
    binaries = sorted(mirror.glob("*/hashicorp/local/*/*/terraform-provider-local*"))
    for i, binary in enumerate(binaries):
        real = tmp_path / f"real-provider-{i}"  # outside: one binary per provider directory
        binary.rename(real)
        line = json.dumps({"@level": "error", "@message": f"provider got token {SECRET}"})
        binary.write_text(f'#!/bin/sh\necho \'{line}\' >&2\nexec "{real}" "$@"\n')
        binary.chmod(0o755)
    config = tmp_path / "terraformrc"
    config.write_text(
        f'provider_installation {{\n  filesystem_mirror {{\n    path = "{mirror}"\n  }}\n}}\n'
    )
    return config


def run_envs(dumps: Path) -> list[dict[str, str]]:
    envs = []
    for dump in dumps.iterdir():
        env = {}
        for line in dump.read_text().splitlines():
            if "=" in line:
                key, value = line.split("=", 1)
                env[key] = value
        envs.append(env)
    return envs


def provider_envs(parent: int) -> list[dict[str, str]]:
    """Environments of the controller's provider processes (the plugin poll's), from /proc."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) != parent:
                continue
            raw = (stat.parent / "environ").read_bytes()
        except (OSError, ValueError, IndexError):
            continue
        env = dict(item.split("=", 1) for item in raw.decode().split("\0") if "=" in item)
        if "PLUGIN_PROTOCOL_VERSIONS" in env:
            found.append(env)
    return found


AMBIENT = ("JETGEN_E2E_MARKER", "AWS_ACCESS_KEY_ID", "GOOGLE_APPLICATION_CREDENTIALS",
           "KUBERNETES_SERVICE_HOST")  # fmt: skip


def test_runs_get_a_minimal_environment_and_secrets_stay_out_of_every_message(
    apiserver, testbed, local_provider, tmp_path
):
    ns = apiserver.create_namespace("ambient")
    out = tmp_path / "out"
    wrapper, dumps, arm = recording_tofu(testbed, tmp_path)
    info = json.loads(harness.kinds_file(local_provider).read_text())
    api = f"{info['config_group']}/{info['config_version']}"
    suffix = ns.rsplit("-", 1)[-1]
    injected = f"injected-{suffix}"
    apiserver.apply(
        [
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "content", "namespace": ns},
                "stringData": {"text": SECRET},
            },
            {
                "apiVersion": api,
                "kind": "ClusterProviderConfig",
                "metadata": {"name": injected},
                "spec": {"credentials": {"source": "InjectedIdentity"}},
            },
            {
                "apiVersion": api,
                "kind": "ProviderConfig",
                "metadata": {"name": "none", "namespace": ns},
                "spec": {"credentials": {"source": "None"}},
            },
        ]
    )
    # A tenant's namespaced ProviderConfig cannot ask for the controller's identity.
    refused = apiserver.kubectl(
        "apply", "-f", "-", check=False,
        input=json.dumps({
            "apiVersion": api, "kind": "ProviderConfig",
            "metadata": {"name": "greedy", "namespace": ns},
            "spec": {"credentials": {"source": "InjectedIdentity"}},
        }),
    )  # fmt: skip
    assert refused.returncode != 0 and "InjectedIdentity" in refused.stderr

    ambient = {
        "JETGEN_E2E_MARKER": MARKER,
        "AWS_ACCESS_KEY_ID": "AKIA" + MARKER,
        "GOOGLE_APPLICATION_CREDENTIALS": "/var/run/" + MARKER,
        "KUBERNETES_SERVICE_HOST": "10.0.0.1",
        "HOME": str(tmp_path / "controller-home"),
    }
    ctl = controller(
        apiserver, testbed, local_provider, tmp_path, ns,
        env=ambient, extra_args=["--log-level", "DEBUG"],
        driver="cli",  # the wrapper checks each tofu run's environment and fails a plan
    )  # fmt: skip
    ctl.args[ctl.args.index("--terraform") + 1] = str(wrapper)
    ctl.args[ctl.args.index("--cli-config") + 1] = str(echoing_mirror(testbed, tmp_path))

    def sensitive(name: str, **spec) -> dict:
        mr = file_mr(name, ns, out / f"{name}.txt", "", **spec)
        del mr["spec"]["forProvider"]["content"]
        mr["spec"]["forProvider"]["sensitiveContentSecretRef"] = {"name": "content", "key": "text"}
        return mr

    with ctl:
        apiserver.apply(
            [
                sensitive("plain", writeConnectionSecretToRef={"name": "plain-conn"}),
                sensitive("none", providerConfigRef={"kind": "ProviderConfig", "name": "none"}),
                sensitive(
                    "injected",
                    providerConfigRef={"kind": "ClusterProviderConfig", "name": injected},
                ),
            ]
        )
        for name in ("plain", "none", "injected"):
            wait_for(f"{name} Ready", lambda n=name: is_ready(get(apiserver, FILES, n, ns)), 90)
        # The plugin poll's provider processes start on the next polls.
        wait_for("provider processes", lambda: len(provider_envs(ctl.proc.pid)) >= 2, 30)
        providers = provider_envs(ctl.proc.pid)
        # A change makes the next pass plan; that plan fails, echoing the secret.
        arm.touch()
        patch = json.dumps({"spec": {"forProvider": {"filePermission": "0600"}}})
        apiserver.kubectl("patch", FILES, "plain", "-n", ns, "--type=merge", "-p", patch)
        wait_for("the failing plan", lambda: not arm.exists(), 30)
        wait_for(
            "plain Ready again",
            lambda: (
                (o := get(apiserver, FILES, "plain", ns))
                and is_ready(o)
                and o["status"]["atProvider"].get("filePermission") == "0600"
            ),
            60,
        )
        mrs = {n: get(apiserver, FILES, n, ns) for n in ("plain", "none", "injected")}
        events = harness.events_text(apiserver, ns)
    logs = ctl.logs()

    # Environment: which runs saw the controller's variables.
    uids = {n: mr["metadata"]["uid"] for n, mr in mrs.items()}
    runs = run_envs(dumps)
    by_mr = {n: [e for e in runs if e.get("RUN_CWD", "").endswith(uid)] for n, uid in uids.items()}
    assert all(by_mr.values()), {n: len(e) for n, e in by_mr.items()}
    for name in ("plain", "none"):
        for env in by_mr[name]:
            leaked = [v for v in AMBIENT if v in env]
            assert not leaked, (name, leaked)
            assert env["HOME"] != ambient["HOME"] and env["HOME"].endswith(uids[name])
    for env in by_mr["injected"]:
        assert env["JETGEN_E2E_MARKER"] == MARKER and env["HOME"] == ambient["HOME"]
    injected_providers = [e for e in providers if e.get("JETGEN_E2E_MARKER") == MARKER]
    clean_providers = [e for e in providers if not any(v in e for v in AMBIENT)]
    assert injected_providers and clean_providers
    assert len(injected_providers) + len(clean_providers) == len(providers)

    # Redaction: the secret was echoed, and shows nowhere people look.
    failed = [c for mr in mrs.values() for c in mr["status"]["conditions"]]
    assert "provider got token" in logs, "the provider's stderr was not relayed"
    assert "is deprecated" in logs, "Terraform's warning was not logged"
    assert "[redacted]" in logs and "rejected token [redacted]" in events
    b64 = base64.b64encode(SECRET.encode()).decode()
    texts = {"controller log": logs, "events": events, "MRs": json.dumps(mrs)}
    counts = {where: len(re.findall(re.escape(SECRET) + "|" + re.escape(b64), text))
              for where, text in texts.items()}  # fmt: skip
    print(
        f"secret echoed; occurrences: {counts}; masked in log "
        f"{logs.count('[redacted]')}x, in events {events.count('[redacted]')}x; "
        f"{len(runs)} Terraform runs and {len(providers)} provider processes checked"
    )
    assert counts == dict.fromkeys(texts, 0)
    assert all(SECRET not in json.dumps(c) for c in failed)
    assert harness.secret_data(apiserver, "plain-conn", ns)["attribute.sensitive_content"] == (
        SECRET.encode()
    )
