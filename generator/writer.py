"""Put generated files in place all at once, and skip work when nothing changed.

Everything is first written into a temporary directory (inside the output directory
when it exists, else beside it, in its nearest existing parent); only when generation
finished without error is the output directory created if need be and the generated
top-level paths swapped in, so a failure leaves nothing behind, not even an empty
output directory.  A stamp file records a hash of the inputs
and of every output: a later run with the same inputs and intact outputs does nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

STAMP_FILE = ".jetgen-stamp.json"


class OutputError(ValueError):
    """The output directory cannot be written; the message names it."""


def existing_base(root: Path) -> Path:
    """The directory to stage in: ``root`` if it exists, else its nearest existing
    parent.  Raises OutputError when ``root`` or a parent of it is not a directory."""
    for path in (root, *root.absolute().parents):
        if path.is_dir():
            return path
        if path.exists() or path.is_symlink():
            raise OutputError(f"{root}: {path} exists and is not a directory")
    raise OutputError(f"{root}: no existing parent directory")


class Staging:
    """A temporary directory (see the module docstring) collecting one run's output."""

    def __init__(self, root: Path):
        self.root = root
        base = existing_base(root)
        try:
            self.dir = Path(tempfile.mkdtemp(prefix=".jetgen-tmp-", dir=base))
        except OSError as exc:
            raise OutputError(f"{root}: {exc.strerror}") from None

    def write(self, rel: str, data: str | bytes) -> None:
        path = self.dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            raise OutputError(f"{self.root}: two generated files share the path {rel}")
        path.write_bytes(data.encode() if isinstance(data, str) else data)

    def commit(self, owned: Iterable[str]) -> None:
        """Replace each owned path (a directory or file relative to root) by its new
        version; owned paths with no new version are removed."""
        old = self.dir / ".old"
        old.mkdir()
        self.root.mkdir(parents=True, exist_ok=True)
        for i, rel in enumerate(sorted(owned)):
            target, new = self.root / rel, self.dir / rel
            if target.exists() or target.is_symlink():
                os.replace(target, old / str(i))
            if new.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(new, target)
        self.discard()

    def discard(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> Staging:
        return self

    def __exit__(self, *exc: object) -> None:
        self.discard()  # no-op after commit; cleans up after an error


# --- stamp ---------------------------------------------------------------------------


def digest(parts: Iterable[bytes]) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(hashlib.sha256(part).digest())
    return h.hexdigest()


def file_hashes(root: Path, owned: Iterable[str]) -> dict[str, str]:
    """sha256 of every file under the owned paths, keyed by path relative to root."""
    out: dict[str, str] = {}
    for rel in owned:
        base = root / rel
        paths = [base] if base.is_file() else sorted(p for p in base.rglob("*") if p.is_file())
        for path in paths:
            if "__pycache__" in path.parts:
                continue  # Python writes these when the package is imported
            out[path.relative_to(root).as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    return dict(sorted(out.items()))


def up_to_date(root: Path, inputs: str) -> bool:
    """Whether the stamp matches ``inputs`` and every recorded output is unchanged."""
    try:
        stamp = json.loads((root / STAMP_FILE).read_text())
    except (OSError, ValueError):
        return False
    if stamp.get("inputs") != inputs:
        return False
    recorded: object = stamp.get("outputs")
    return file_hashes(root, stamp.get("owned", [])) == recorded


def write_stamp(root: Path, inputs: str, owned: list[str]) -> None:
    stamp = {"inputs": inputs, "owned": sorted(owned), "outputs": file_hashes(root, owned)}
    tmp = root / (STAMP_FILE + ".tmp")
    tmp.write_text(json.dumps(stamp, indent=1, sort_keys=True) + "\n")
    os.replace(tmp, root / STAMP_FILE)
