"""Generated CRDs on a real kube-apiserver: install (up to the 987 of AWS), wait until
Established, dry-run the examples, remove.

Shared by the generator tests that put a generated provider in front of an apiserver
(test_apiserver, test_regressions, test_properties, test_obtain, test_testbed_providers)
and the reference providers' tests.  A busy apiserver (a loaded machine, or one still
deleting a thousand CRDs) answers some requests late: every step here waits on the
condition it needs, until a deadline, instead of a fixed number of tries.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path

# How long a step may wait for a busy apiserver (kubectl's own --timeout for `wait`).
DEADLINE = 600.0
# How long a kind may stay unknown to kubectl's discovery after its CRD is Established
# (seconds on a quiet apiserver): past that, "no matches for kind" is the answer.
DISCOVERY = 120.0
# Per file, a create the apiserver did not finish in time; it may still land.
SERVER_BUSY = re.compile(
    r"Error from server \((?:Timeout|ServerTimeout|InternalError|ServiceUnavailable|"
    r'TooManyRequests)\): error when creating "([^"]+)"'
)
ALREADY_EXISTS = re.compile(r'Error from server \(AlreadyExists\): error when creating "([^"]+)"')


def crd_names(out: Path) -> list[str]:
    names = []
    for path in sorted((out / "install" / "crds").glob("*.yaml")):
        group, plural = path.stem.split("_", 1)
        names.append(f"{plural}.{group}")
    return names


def _kubectl(apiserver, *args: str) -> list[str]:
    return [str(apiserver.kubectl_binary), "--kubeconfig", str(apiserver.kubeconfig), *args]


def _in_streams(commands: list[list[str]]) -> list[tuple[int, str]]:
    """Run the commands side by side; (exit code, stderr) of each."""
    procs = [
        subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        for command in commands
    ]
    results = []
    for proc in procs:
        _, stderr = proc.communicate(timeout=900)
        results.append((proc.returncode, stderr))
    return results


def _create(apiserver, files: list[str], streams: int, again: bool) -> list[str]:
    """Create ``files`` in a few parallel kubectl streams; return those the apiserver was
    too busy to create (timed out, unavailable). ``again``: these files were sent before
    and timed out, so one that exists now is the earlier create that landed late."""
    chunks = [files[i::streams] for i in range(streams) if files[i::streams]]
    commands = [_kubectl(apiserver, "create", *[a for f in c for a in ("-f", f)]) for c in chunks]
    busy = []
    for code, stderr in _in_streams(commands):
        if code == 0:
            continue
        failed = [line for line in stderr.splitlines() if line.startswith("Error")]
        retry = [m[1] for line in failed if (m := SERVER_BUSY.match(line))]
        landed = [m[1] for line in failed if again and (m := ALREADY_EXISTS.match(line))]
        assert failed and len(retry) + len(landed) == len(failed), stderr[-3000:]
        busy += retry
    return busy


def install_crds(apiserver, out: Path, streams: int = 4) -> list[str]:
    """Create all CRDs (in a few parallel kubectl streams) and wait until every one is
    Established; a create the apiserver times out on is sent again."""
    files = sorted(str(p) for p in (out / "install" / "crds").glob("*.yaml"))
    deadline = time.monotonic() + DEADLINE
    pending = _create(apiserver, files, streams, again=False)
    while pending:
        assert time.monotonic() < deadline, f"the apiserver never took {pending[:5]}"
        time.sleep(1)
        pending = _create(apiserver, pending, streams, again=True)
    names = crd_names(out)
    wait_established(apiserver, names)
    return names


def wait_established(apiserver, names: list[str]) -> None:
    """kubectl wait fails at once on a CRD whose status has no conditions yet (just
    created, or the apiserver's CRD controllers still busy): ask again until the
    deadline."""
    command = _kubectl(
        apiserver, "wait", "--for=condition=Established", f"--timeout={DEADLINE:.0f}s",
        *[f"crd/{n}" for n in names],
    )  # fmt: skip
    deadline = time.monotonic() + DEADLINE
    while True:
        done = subprocess.run(command, capture_output=True, text=True, timeout=DEADLINE + 300)
        if done.returncode == 0:
            return
        if "accessor error" not in done.stderr or time.monotonic() > deadline:
            raise AssertionError(done.stderr[-3000:])
        time.sleep(1)


def remove_crds(apiserver, names: list[str], streams: int = 4) -> None:
    base = _kubectl(apiserver, "delete", "--wait=false", "--ignore-not-found")
    commands = [[*base, *[f"crd/{n}" for n in names[i::streams]]] for i in range(streams)]
    for code, stderr in _in_streams([c for c in commands if len(c) > len(base)]):
        assert code == 0, stderr[-3000:]


def _until_discovered(run) -> subprocess.CompletedProcess[str]:
    """Run a kubectl command until its kinds are known: discovery can lag behind
    Established for a fresh group (seconds; more on a busy apiserver)."""
    deadline = time.monotonic() + DISCOVERY
    while True:
        done = run()
        if "no matches for kind" not in done.stderr or time.monotonic() > deadline:
            return done
        time.sleep(2)


def dry_run_examples(apiserver, out: Path, namespace: str) -> subprocess.CompletedProcess[str]:
    command = _kubectl(
        apiserver, "create", "--dry-run=server", "-n", namespace, "-R", "-f", str(out / "examples")
    )
    return _until_discovered(
        lambda: subprocess.run(command, capture_output=True, text=True, timeout=900)
    )


def create(apiserver, namespace: str, obj: dict, check: bool = True):
    args = ["create", "-n", namespace, "-f", "-", "-o", "json"]
    done = _until_discovered(lambda: apiserver.kubectl(*args, input=json.dumps(obj), check=False))
    if check and done.returncode != 0:
        raise AssertionError(done.stderr)
    return done
