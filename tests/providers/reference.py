"""Helpers for the reference providers under ``providers/``: copy what is committed,
regenerate the copy, and describe every difference."""

from __future__ import annotations

import difflib
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PROVIDERS = REPO / "providers"
LINODE = PROVIDERS / "provider-linode"
RANDOM = PROVIDERS / "provider-random"
POSTGRESQL = PROVIDERS / "provider-postgresql"

# Written by `jetgen generate` but ignored by each provider's .gitignore.
UNTRACKED = {".jetgen-stamp.json", "schema.json"}


def tracked_files(provider: Path) -> list[str]:
    """Paths (relative to ``provider``) that git tracks: what is committed."""
    done = subprocess.run(
        ["git", "ls-files", "-z", "--", "."],
        cwd=provider,
        capture_output=True,
        text=True,
        check=True,
    )
    files = sorted(p for p in done.stdout.split("\0") if p)
    assert files, f"{provider}: git tracks no files"
    return files


def copy_tracked(provider: Path, target: Path) -> Path:
    for rel in tracked_files(provider):
        (target / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(provider / rel, target / rel)
    return target


def regenerate(repo: Path, *args: str, env: dict[str, str] | None = None) -> str:
    """``jetgen generate --force`` in ``repo`` (a subprocess: the hooks module of every
    provider is called ``config``); returns its output, fails with it."""
    done = subprocess.run(
        [sys.executable, "-m", "jetgen.generator.cli", "generate", "--repo", str(repo)]
        + ["--force", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def files_under(root: Path) -> set[str]:
    out = set()
    for path in root.rglob("*"):
        rel = path.relative_to(root)
        if path.is_file() and "__pycache__" not in rel.parts and rel.as_posix() not in UNTRACKED:
            out.add(rel.as_posix())
    return out


def differences(committed: Path, regenerated: Path, max_diff_lines: int = 40) -> list[str]:
    """One line per added, removed or changed file, with a short diff of the first
    changed ones."""
    before = set(tracked_files(committed))
    after = files_under(regenerated)
    problems = [f"not committed: {p}" for p in sorted(after - before)]
    problems += [f"no longer generated: {p}" for p in sorted(before - after)]
    budget = max_diff_lines
    for rel in sorted(before & after):
        old, new = (committed / rel).read_bytes(), (regenerated / rel).read_bytes()
        if old == new:
            continue
        problems.append(f"changed: {rel}")
        if budget > 0:
            diff = list(
                difflib.unified_diff(
                    old.decode(errors="replace").splitlines(),
                    new.decode(errors="replace").splitlines(),
                    f"committed/{rel}",
                    f"regenerated/{rel}",
                    lineterm="",
                    n=1,
                )
            )
            problems += diff[:budget]
            budget -= len(diff)
    return problems
