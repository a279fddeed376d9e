"""Property-based tests: any schema in, only CRDs the apiserver accepts out.

Inputs come from :mod:`tests.generator.strategies` (valid documents from the format's
grammar, and corruptions of real ones).  For every input ``jetgen generate``:

* never raises (no traceback): exit 0, or exit 1 with one line naming the schema file;
* on error leaves nothing behind (no output directory, no staging directory);
* on success writes CRDs that pass :mod:`tests.generator.apiserver_rules` and YAML that
  reads back as written, and the same input gives byte-identical output.

Examples per run: ``JETGEN_HYPOTHESIS_EXAMPLES`` (default 150 grammar + 75 corruption
examples in CI; the e2e test applies the CRDs of 25 more to the real apiserver).  A longer run:
``JETGEN_HYPOTHESIS_EXAMPLES=2000 .venv/bin/pytest tests/generator/test_properties.py``,
which prints its counts.  Every failure found is kept as a regression case under
``tests/generator/regressions/`` (see test_regressions.py).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import resource
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jetgen.generator import cli

from tests.generator import apiserver_rules, strategies
from tests.generator.crds import install_crds, remove_crds
from tests.generator.paths import EVERY_SHAPE

EXAMPLES = int(os.environ.get("JETGEN_HYPOTHESIS_EXAMPLES", "150"))
APISERVER_SAMPLE = 25
COUNTS: Counter[str] = Counter()


def run_generate(schema_text: str, work: Path, *extra: str) -> tuple[int, str, Path]:
    """``jetgen generate`` in this process; returns (exit status, stderr, output dir).
    Any exception escapes: that is a traceback the user would see."""
    schema = work / "schema.json"
    schema.write_text(schema_text, encoding="utf-8", errors="surrogatepass")
    out = work / "out" / "provider"
    stderr = io.StringIO()
    args = ["generate", "--schema", str(schema), "--output", str(out), "--no-models", *extra]
    with contextlib.redirect_stderr(stderr), address_space_capped():
        status = cli.main(args)
    return status, stderr.getvalue(), out


@contextlib.contextmanager
def address_space_capped() -> Iterator[None]:
    """An input that makes the generator build something huge (one found: min_items of
    2**63 in a required block, whose example list was that long) must fail here, not take
    the machine's memory: cap this process's address space while it generates. Only then:
    a process started meanwhile would inherit the cap (an etcd started by a session
    fixture during a module-wide cap could not map its 10 GiB database)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (6 * 2**30, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def tree(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def check_output(out: Path) -> list[dict[str, Any]]:
    """Every CRD valid, every YAML file readable; returns the CRDs (install/crds holds all
    of them; the Crossplane package repeats the ProviderConfig ones, which must be equal)."""
    found: dict[str, dict[str, Any]] = {}
    packaged: dict[str, dict[str, Any]] = {}
    for path in sorted(out.rglob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        match = apiserver_rules.YAML_UNSAFE.search(text)
        assert match is None, f"{path}: raw U+{ord(match.group()):04X}"
        documents = list(yaml.safe_load_all(text))
        if path.parent.name == "crds":
            (crd,) = documents
            assert apiserver_rules.problems(crd) == [], path
            inside = path.relative_to(out).parts[0]
            (found if inside == "install" else packaged)[path.name] = crd
    assert apiserver_rules.group_problems(list(found.values())) == []
    for name, crd in packaged.items():
        assert found.get(name) == crd, f"package/crds/{name} differs from install/crds"
    return list(found.values())


def progress() -> None:
    """A long run writes its counts as it goes (JETGEN_HYPOTHESIS_PROGRESS=FILE)."""
    target = os.environ.get("JETGEN_HYPOTHESIS_PROGRESS")
    if target:
        Path(target).write_text(json.dumps(dict(COUNTS), sort_keys=True) + "\n")


def check(schema_text: str, determinism: bool = True) -> tuple[int, list[dict[str, Any]]]:
    """Run one input through every property; returns (status, CRDs written)."""
    try:
        return _check(schema_text, determinism)
    finally:
        progress()


def _check(schema_text: str, determinism: bool) -> tuple[int, list[dict[str, Any]]]:
    with tempfile.TemporaryDirectory(prefix="jetgen-prop-") as tmp:
        work = Path(tmp)
        status, stderr, out = run_generate(schema_text, work)
        assert status in (0, 1), stderr
        if status == 1:
            COUNTS["clean errors"] += 1
            lines = stderr.splitlines()
            assert len(lines) == 1 and lines[0].startswith("jetgen: error: "), stderr
            assert str(work / "schema.json") in lines[0], stderr
            left = sorted(p.name for p in work.iterdir())
            assert left == ["schema.json"], f"left behind: {left}"
            return status, []
        COUNTS["generated"] += 1
        crds = check_output(out)
        COUNTS["CRDs"] += len(crds)
        if determinism:
            (work / "again").mkdir()
            again, _, out2 = run_generate(schema_text, work / "again")
            assert again == 0 and tree(out2) == tree(out), "output differs between runs"
        return status, crds


def every_shape() -> dict[str, Any]:
    return json.loads(EVERY_SHAPE.read_text())


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(strategies.schemas())
def test_grammar_schemas_generate_valid_crds_or_clean_errors(document):
    text = json.dumps(document, ensure_ascii=False)
    check(text, determinism=COUNTS["grammar"] % 4 == 0)
    COUNTS["grammar"] += 1


@settings(
    max_examples=max(1, EXAMPLES // 2),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(strategies.corrupted(every_shape()))
def test_corrupted_real_schema_generates_or_fails_cleanly(text):
    check(text, determinism=False)
    COUNTS["corrupted"] += 1


@pytest.fixture(scope="module", autouse=True)
def report_counts():
    yield
    # Reached only when every example passed: tracebacks, rejected CRDs and half-written
    # outputs are all 0 then (each would have failed its test).
    print(
        f"\nproperty run: {COUNTS['grammar']} grammar + {COUNTS['corrupted']} corrupted"
        f" inputs; {COUNTS['generated']} generated ({COUNTS['CRDs']} CRDs, all valid),"
        f" {COUNTS['clean errors']} clean one-line errors"
    )


@settings(
    max_examples=8,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(strategies.schemas(max_depth=2), st.booleans())
def test_generated_models_import(document, cluster):
    """The pydantic models datamodel-codegen makes from the CRDs import (slow: 8)."""
    with tempfile.TemporaryDirectory(prefix="jetgen-prop-") as tmp:
        schema = Path(tmp) / "schema.json"
        schema.write_text(json.dumps(document, ensure_ascii=False), errors="surrogatepass")
        out = Path(tmp) / "out"
        stderr = io.StringIO()
        with contextlib.redirect_stderr(stderr), address_space_capped():
            status = cli.main(["generate", "--schema", str(schema), "--output", str(out)])
        assert status in (0, 1), stderr.getvalue()
        if status == 1:
            assert len(stderr.getvalue().splitlines()) == 1
            return
        import subprocess
        import sys

        package = next(p for p in out.iterdir() if p.name.endswith("_provider"))
        code = f"import importlib; importlib.import_module('{package.name}.models')"
        for module in sorted((package / "models").glob("*.py")):
            code += f"; importlib.import_module('{package.name}.models.{module.stem}')"
        done = subprocess.run(
            [sys.executable, "-c", code], cwd=out, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr[-2000:]


@pytest.mark.e2e
def test_a_sample_of_generated_crds_is_established(apiserver, tmp_path_factory):
    """The offline rules are only as good as their match with the apiserver: the CRDs
    of a fresh sample of inputs are installed for real and must become Established."""
    merged = tmp_path_factory.mktemp("sample") / "all"
    (merged / "install" / "crds").mkdir(parents=True)
    sample = {"inputs": 0, "CRDs": 0}

    @settings(
        max_examples=APISERVER_SAMPLE,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(strategies.schemas())
    def collect(document):
        with tempfile.TemporaryDirectory(prefix="jetgen-prop-") as tmp:
            repo = Path(tmp) / "repo"
            repo.mkdir()
            # A group suffix per input keeps CRD names of different inputs apart.
            suffix = f"s{sample['inputs']}.sample.test"
            (repo / "jetgen.yaml").write_text(f"name: ''\ngroupSuffix: {suffix}\n")
            status, stderr, out = run_generate(
                json.dumps(document, ensure_ascii=False), Path(tmp), "--repo", str(repo)
            )
            assert status in (0, 1), stderr
            sample["inputs"] += 1
            if status == 0:
                check_output(out)
                for path in (out / "install" / "crds").glob("*.yaml"):
                    (merged / "install" / "crds" / path.name).write_bytes(path.read_bytes())
                    sample["CRDs"] += 1

    collect()
    assert sample["CRDs"] > APISERVER_SAMPLE  # most inputs generate
    names = install_crds(apiserver, merged)
    remove_crds(apiserver, names)
    print(f"\napiserver sample: {sample['inputs']} inputs, {len(names)} CRDs Established")
