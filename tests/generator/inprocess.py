"""Running the generator's command line in the test's own process."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

from jetgen.generator import cli


def generate_file(schema: Path, out: Path, *extra: str) -> tuple[int, str]:
    """``jetgen generate`` in this process: (exit status, stderr)."""
    args = ["generate", "--schema", str(schema), "--output", str(out), *extra]
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        status = cli.main(args)
    return status, stderr.getvalue()
