"""The controller refuses a kinds.json that breaks the contract, at start-up: exit status
2 and one line on stderr naming the file and the key, before it looks for a cluster.

The real ``jetgen-runtime`` process runs (no test bed: it must stop before needing one).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.unit.kinds_json import cluster, valid

RUNTIME = Path(sys.executable).with_name("jetgen-runtime")


def start(
    kinds: Path,
    cwd: Path,
    *command: str,
    argv: tuple[str, ...] = (),
    variables: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run the controller on ``kinds`` with only ``variables`` of JETGEN_* set."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KUBE", "JETGEN_"))}
    env["KUBECONFIG"] = str(cwd / "no-such-kubeconfig")  # nothing to reach, on purpose
    env["PYTHONPATH"] = str(cwd)  # where a test's hooks module lives
    env |= variables or {}
    args = [*(command or [str(RUNTIME)]), "--kinds", str(kinds), *argv]
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=60)


def valid_kinds(folder: Path) -> Path:
    kinds = folder / "kinds.json"
    kinds.write_text(json.dumps(valid()))
    return kinds


@pytest.mark.parametrize(
    "command", [(), (sys.executable, "-m", "jetgen.runtime.cli")], ids=["script", "module"]
)
def test_a_bad_timeout_stops_the_controller_with_one_line(tmp_path, command):
    data = valid()
    cluster(data)["timeouts"]["create"] = "20 minutes"
    kinds = tmp_path / "kinds.json"
    kinds.write_text(json.dumps(data))
    done = start(kinds, tmp_path, *command)
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines() == [
        f'jetgen-runtime: {kinds}: kinds[0].timeouts.create: "20 minutes" is not a duration:'
        " a number and a unit (h, m or s) or several, such as 45s, 20m or 1h30m"
    ]


@pytest.mark.parametrize(
    ("change", "key"),
    [
        (lambda d: d["kinds"][1]["references"][0].update(kind="Gone"), "references[0].kind"),
        (lambda d: cluster(d)["late_init_ignore"].append("nope"), "late_init_ignore[1]"),
        (lambda d: cluster(d)["connection_details"][0].update(transform="rot13"), "transform"),
        (lambda d: d["kinds"][1]["external_name"].update(template="{x.y}"), "template"),
    ],
    ids=["reference", "path", "transform", "template"],
)
def test_each_broken_rule_is_one_line_and_exit_2(tmp_path, change, key):
    data = valid()
    change(data)
    kinds = tmp_path / "kinds.json"
    kinds.write_text(json.dumps(data))
    done = start(kinds, tmp_path)
    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.splitlines()
    assert line.startswith(f"jetgen-runtime: {kinds}: kinds[") and key in line


def test_not_json_and_missing_file(tmp_path):
    kinds = tmp_path / "kinds.json"
    kinds.write_text('{"name": "acme",\n')
    done = start(kinds, tmp_path)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"jetgen-runtime: {kinds}: not valid JSON: "
        + ("Expecting property name enclosed in double quotes (line 2 column 1)")
    ]
    done = start(tmp_path / "gone.json", tmp_path)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"jetgen-runtime: {tmp_path / 'gone.json'}: No such file or directory"
    ]


def test_hooks_that_fail_to_import_are_one_line(tmp_path):
    """A hooks module with a syntax error (or any failure while importing) is reported in
    one line, not a traceback; a python: transform's missing function likewise."""
    (tmp_path / "config.py").write_text("def configure(config):\n    return (\n")
    data = valid()  # hooks_module: config
    kinds = tmp_path / "kinds.json"
    kinds.write_text(json.dumps(data))
    done = start(kinds, tmp_path)
    assert done.returncode == 2
    (line,) = done.stderr.splitlines()
    assert line.startswith(f"jetgen-runtime: {kinds}: hooks_module: SyntaxError: ")

    (tmp_path / "config.py").write_text("")
    done = start(kinds, tmp_path)  # python:m.sub:f names a module that does not exist
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"jetgen-runtime: {kinds}: kinds[0].connection_details[2].transform:"
        " ModuleNotFoundError: No module named 'm'"
    ]


@pytest.mark.parametrize(
    ("variable", "value", "wanted"),
    [
        ("JETGEN_KUBE_QPS", "abc", "a number"),
        ("JETGEN_MAX_RUNS", "4.5", "an integer"),
        ("JETGEN_METRICS_PORT", "${PORT}", "an integer"),
        ("JETGEN_LEASE_DURATION", "15s\n", "a number"),
    ],
)
def test_a_setting_that_is_not_a_number_is_one_line_naming_the_variable(
    tmp_path, variable, value, wanted
):
    done = start(valid_kinds(tmp_path), tmp_path, variables={variable: value})
    assert done.returncode == 2, done.stderr
    option = "--" + variable.removeprefix("JETGEN_").lower().replace("_", "-")
    assert done.stderr.splitlines() == [
        f"jetgen-runtime: {variable} ({option}): {json.dumps(value)} is not {wanted}"
    ]


REFUSED = "(JETGEN_{}) must be {}"  # what follows the option in each line below


@pytest.mark.parametrize(
    ("argv", "variables", "line"),
    [
        ([], {"JETGEN_PROVIDER_RSS_GROWTH": "-5"},
         "--provider-rss-growth " + REFUSED.format("PROVIDER_RSS_GROWTH", "at least 0, got -5")),
        (["--provider-rss-growth", "x"], {},
         "argument --provider-rss-growth: invalid int value: 'x' (--help lists the options)"),
    ],
)  # fmt: skip
def test_a_number_an_option_cannot_take_stops_the_real_process_with_one_line(
    tmp_path, argv, variables, line
):
    """The installed console script, as a Deployment runs it: refused before the kinds
    file is read or anything contacted (its kubeconfig does not exist).  Each option and
    hostile value is a row of test_cli_numbers.py, in-process (a process start costs
    seconds under load); these two show the real process says the same."""
    kinds = tmp_path / "no-such-kinds.json"
    done = start(kinds, tmp_path, argv=tuple(argv), variables=variables)
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines() == [f"jetgen-runtime: {line}"]


@pytest.mark.parametrize("value", ["grpc", "CLI", "cli\n", "plugin,cli"])
def test_a_driver_setting_that_is_not_a_driver_is_one_line_naming_the_variable(tmp_path, value):
    done = start(valid_kinds(tmp_path), tmp_path, variables={"JETGEN_DRIVER": value})
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines() == [
        f"jetgen-runtime: JETGEN_DRIVER: {json.dumps(value)} is not one of plugin, cli"
    ]


def test_the_driver_setting_overrides_each_kind_s_own(monkeypatch):
    from jetgen.runtime import cli

    monkeypatch.delenv("JETGEN_DRIVER", raising=False)
    assert cli.settings_from(cli.parser().parse_args([])).driver == ""
    assert cli.settings_from(cli.parser().parse_args(["--driver", "cli"])).driver == "cli"
    with pytest.raises(SystemExit):
        cli.parser().parse_args(["--driver", "grpc"])
