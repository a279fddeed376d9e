"""What the contract's checks cost: kinds.json read and checked at the controller's start,
and the validator's share of ``jetgen generate``, for the AWS schema (987 kinds).

    .venv/bin/python benchmarks/contract_load.py [--runs 5] [--schema FILE]

The model is built once from the schema (as ``jetgen generate`` does), written with the
contract's writer, then timed ``--runs`` times each: ``kindsfile.loads`` (JSON parse,
strict decoding and the validator: the controller's start-up), the decoding alone
(``json.loads`` + ``kindsfile.decode``) and ``rules.check`` alone (what generation adds).
Prints the median and the spread of each, and the file's size.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jetgen.generator import model, schema
from jetgen.runtime.config import ProviderConfiguration
from jetgen.runtime.contract import kindsfile, rules

# The shared folder sits next to the repository (../shared), never at a fixed machine path.
DEFAULT_SCHEMA = Path(__file__).resolve().parents[2] / "shared" / "schemas" / "aws-4.15.1.json"


def timed(runs: int, step: Callable[[], Any]) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--schema", type=Path, default=DEFAULT_SCHEMA)
    args = parser.parse_args()
    info = model.build(schema.load(args.schema), ProviderConfiguration(name=""))
    text = kindsfile.dumps(info)
    print(f"{args.schema.name}: {len(info.kinds)} kinds, kinds.json {len(text) / 2**20:.2f} MiB")
    for what, step in (
        ("load (parse, decode, check)", lambda: kindsfile.loads(text)),
        ("parse and decode only", lambda: kindsfile.decode(json.loads(text))),
        ("rules.check only", lambda: rules.check(info)),
    ):
        times = timed(args.runs, step)
        print(
            f"{what:30} median {statistics.median(times) * 1000:7.1f} ms"
            f"  (min {min(times) * 1000:.1f}, max {max(times) * 1000:.1f}, {args.runs} runs)"
        )


if __name__ == "__main__":
    main()
