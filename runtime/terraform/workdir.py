"""A managed resource's private working directory and the files Terraform keeps in it."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from jetgen.runtime.terraform.desired import Desired
from jetgen.runtime.terraform.tfstate import state_attributes

CONFIG_FILE = "main.tf.json"
STATE_FILE = "terraform.tfstate"
PLAN_FILE = "jetgen.tfplan"
LOCK_FILE = ".terraform.lock.hcl"


class Workdir:
    """One managed resource's private directory (mode 0700)."""

    def __init__(self, path: Path):
        self.path = path
        self.state_file = path / STATE_FILE
        self.config_file = path / CONFIG_FILE
        # The typed configuration last written by write_desired: a driver that speaks the
        # plugin protocol plans with it instead of parsing main.tf.json back.
        self.desired: Desired | None = None
        # A pass asks for the state several times (restore, render, poll, persist,
        # report); each answer is what is on disk now -- a driver may have written it --
        # but a file not changed since is not read again, nor the same bytes parsed
        # again.  Lives as long as the pass's Workdir (nothing is held between passes).
        self._read: tuple[tuple[int, int, int, int], bytes] | None = None  # (file, bytes)
        self._parsed_from: bytes | None = None
        self._attributes: dict[str, Any] | None = None

    def ensure(self) -> None:
        self.path.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.path, 0o700)  # mkdir honours umask; be explicit

    def write_config(self, doc: dict[str, Any]) -> bool:
        """Write ``main.tf.json``; returns whether it changed."""
        text = json.dumps(doc, indent=1, sort_keys=True) + "\n"
        path = self.config_file
        if path.exists() and path.read_text() == text:
            return False
        _write_private(path, text.encode())
        return True

    def write_desired(self, desired: Desired) -> bool:
        """Write ``desired``'s ``main.tf.json`` and keep ``desired`` for the driver;
        returns whether the file changed."""
        self.desired = desired
        return self.write_config(desired.config)

    def read_config(self) -> dict[str, Any] | None:
        """The ``main.tf.json`` last written, or ``None``."""
        try:
            doc: dict[str, Any] = json.loads(self.config_file.read_text())
        except (FileNotFoundError, ValueError):
            return None
        return doc

    def read_state(self) -> bytes | None:
        """The state file's bytes, or ``None``.  Read again unless the file has the inode,
        size and modification and change times of the last read: a write of ours replaces
        the file (a new inode), Terraform's rewrite in place sets its times (fine-grained
        after a stat since Linux 6.13; before, a write would have to come within a clock
        tick of the last one with this read between them, and a pass holds the MR's lock
        while each Terraform run is a new process)."""
        try:
            st = os.stat(self.state_file)
        except FileNotFoundError:
            return None
        seen = (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
        if self._read is not None and self._read[0] == seen:
            return self._read[1]
        try:
            data = self.state_file.read_bytes()  # after the stat: a change between, read anew
        except FileNotFoundError:
            return None
        self._read = (seen, data)
        return data

    def write_state(self, data: bytes) -> None:
        self._read = None
        _write_private(self.state_file, data)

    def resource_attributes(self) -> dict[str, Any] | None:
        """Attributes of the one resource in the state, or ``None`` if there is none.
        Read-only: the same dict is handed out until the file's content changes."""
        data = self.read_state()
        if data is None or data != self._parsed_from:
            self._parsed_from = data
            self._attributes = state_attributes(data)
        return self._attributes

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def _write_private(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)
