"""A credential for the test bed's providers, which take none, and ways to see where it went.

test_e2e_credentials.py and test_e2e_cache.py rotate a token and follow it: the generated
kinds.json is given one credential (``token`` -> ``JETGEN_E2E_TOKEN``), exactly as the
generator writes it for a provider that has them; Terraform runs through a wrapper that
records a hash of what the variable held in each run; and the shared provider processes
of the plugin protocol are read for the same hash in their environment.  Only hashes are
kept, so a token never lands in a file the test writes.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from tests.runtime import harness
from tests.runtime.harness import Controller

TOKEN_ENV = "JETGEN_E2E_TOKEN"


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def kinds_with_token(provider: Path, folder: Path) -> tuple[Path, dict]:
    """A copy of the generated provider's kinds.json with the one credential; returns its
    path and its contents."""
    info = json.loads(harness.kinds_file(provider).read_text())
    info["credentials"] = [{"key": "token", "env": TOKEN_ENV}]
    kinds = folder / "kinds.json"
    kinds.write_text(json.dumps(info))
    return kinds, info


@dataclass(frozen=True)
class RecordingTofu:
    """The test bed's tofu behind a wrapper that appends the hash of ``$JETGEN_E2E_TOKEN``
    to ``seen`` on every run."""

    path: Path
    seen: Path

    def hashes(self) -> list[str]:
        return self.seen.read_text().split() if self.seen.exists() else []

    def install(self, ctl: Controller) -> Controller:
        """Make ``ctl`` run this wrapper as its Terraform (pin it to the CLI driver, so
        writes are runs the wrapper sees)."""
        ctl.args[ctl.args.index("--terraform") + 1] = str(self.path)
        return ctl


def recording_tofu(testbed, folder: Path) -> RecordingTofu:
    seen = folder / "seen-tokens"
    wrapper = folder / "recording-tofu"
    wrapper.write_text(
        "#!/bin/sh\n"
        f'printf %s "${TOKEN_ENV}" | sha256sum | cut -d" " -f1 >> "{seen}"\n'
        f'exec "{testbed.tofu}" "$@"\n'
    )
    wrapper.chmod(0o755)
    return RecordingTofu(wrapper, seen)


def plugin_tokens(workdir_root: Path) -> list[str]:
    """Hashes of JETGEN_E2E_TOKEN in the environments of the shared provider processes
    (the plugin protocol's, running in ``<workdir-root>/.plugin-cwd``)."""
    prefix = f"{TOKEN_ENV}=".encode()
    found = []
    for pid in harness.processes_running_in(workdir_root / ".plugin-cwd"):
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        found += [sha(e[len(prefix) :].decode()) for e in environ if e.startswith(prefix)]
    return found
