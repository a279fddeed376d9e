"""Hostile numbers on the controller's command line and in its JETGEN_* variables.

Every numeric option either takes the value with a documented meaning (0 RSS growth:
never replace; 0 QPS: no limit; a huge value: taken at its word) or stops the controller
before it starts anything with one line on stderr that names the option and its variable,
exit code 2 -- never a busy loop (poll 0 or negative), a provider process replaced on
every use (negative RSS growth), a timeout that never expires (NaN) or a traceback.
"""

from __future__ import annotations

import kopf
import pytest
from jetgen.runtime import cli, operator
from jetgen.runtime.metrics import Metrics
from jetgen.runtime.poll import MIB

OPTIONS = [option for option, *_ in cli.NUMBERS]
INTEGERS = {"max-runs", "max-providers", "provider-rss-growth", "kube-burst"}
PORTS = {"metrics-port", "health-port"}


def one_line_error(capsys, argv: list[str]) -> str:
    try:
        code = cli.main(argv)
    except SystemExit as exc:  # argparse's own refusal (a value that is not a number)
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err  # one line, no usage block, no traceback
    assert "Traceback" not in err
    return err


def refused_values(option: str) -> list[str]:
    values = ["-1", "nan", "inf", "-inf", "abc"]
    if option not in PORTS:
        values.append("-99999999999999999999999")
    if option in INTEGERS | PORTS:
        values += ["1.5", "1e3"]  # an integer option takes no fraction or exponent
    else:
        values.append("1e999")  # float("1e999") is infinity
    if option in {
        "poll-interval",
        "run-timeout",
        "rpc-timeout",
        "watch-timeout",
    } or option.startswith(("lease", "renew", "retry")):
        values.append("0")
    if option in {"max-runs", "max-providers", "kube-burst"}:
        values.append("0")
    if option in PORTS:
        values += ["65536", "99999999999999999999999"]
    return values


CASES = [(option, value) for option in OPTIONS for value in refused_values(option)]


@pytest.mark.parametrize(("option", "value"), CASES, ids=[f"{o}={v}" for o, v in CASES])
def test_a_refused_number_on_the_command_line_is_one_line_naming_the_option(capsys, option, value):
    err = one_line_error(capsys, [f"--{option}={value}"])
    assert f"--{option}" in err, err


@pytest.mark.parametrize(("option", "value"), CASES, ids=[f"{o}={v}" for o, v in CASES])
def test_a_refused_number_in_the_environment_names_the_variable_and_the_option(
    capsys, monkeypatch, option, value
):
    variable = "JETGEN_" + option.upper().replace("-", "_")
    monkeypatch.setenv(variable, value)
    err = one_line_error(capsys, [])
    assert variable in err and f"--{option}" in err, err


def test_an_empty_variable_is_the_default(monkeypatch):
    monkeypatch.setenv("JETGEN_PROVIDER_RSS_GROWTH", "")
    monkeypatch.setenv("JETGEN_POLL_INTERVAL", "")
    settings = cli.settings_from(cli.parser().parse_args([]))
    assert settings.provider_rss_growth_mib == 64 and settings.poll_interval == 60


def test_rss_growth_messages_say_what_is_wrong(capsys, monkeypatch):
    err = one_line_error(capsys, ["--provider-rss-growth", "-5"])
    assert err.strip() == (
        "jetgen-runtime: --provider-rss-growth (JETGEN_PROVIDER_RSS_GROWTH) must be at "
        "least 0, got -5"
    )
    err = one_line_error(capsys, ["--provider-rss-growth", "lots"])
    assert "--provider-rss-growth: invalid int value: 'lots'" in err
    monkeypatch.setenv("JETGEN_PROVIDER_RSS_GROWTH", "12.5")
    err = one_line_error(capsys, [])
    assert err.strip() == (
        'jetgen-runtime: JETGEN_PROVIDER_RSS_GROWTH (--provider-rss-growth): "12.5" is '
        "not an integer"
    )


@pytest.mark.parametrize(
    ("growth", "replaces_above"),
    [("0", None), ("1", MIB), ("64", 64 * MIB), ("99999999999999999999", (10**20 - 1) * MIB)],
)
def test_rss_growth_taken_reaches_the_provider_pool(tmp_path, growth, replaces_above):
    """0 never replaces a process (no limit in the pool); a huge value is taken as it is
    (no process grows that much: never replaced either)."""
    argv = ["--provider-rss-growth", growth, "--workdir-root", str(tmp_path)]
    args = cli.parser().parse_args(argv)
    settings = cli.settings_from(args)
    cli.check_numbers(settings)
    pool = operator._pool(settings, Metrics())
    assert pool.rss_growth == replaces_above


def test_documented_edges_are_taken():
    argv = [
        "--kube-qps=0",  # no limit
        "--metrics-port=0",  # not served
        "--max-runs=1",
        "--max-providers=1",
        "--kube-burst=1",
        "--poll-interval=0.5",
        "--max-runs=100000000000000000000",  # huge: taken at its word
        "--poll-interval=1e12",
    ]
    settings = cli.settings_from(cli.parser().parse_args(argv))
    cli.check_numbers(settings)
    assert settings.kube_qps == 0 and settings.metrics_port == 0
    assert settings.max_runs == 10**20 and settings.poll_interval == 1e12


REFUSED = "(JETGEN_{}) must be {}"  # what follows the option in each line below


@pytest.mark.parametrize(
    ("argv", "variables", "line"),
    [
        (["--poll-interval", "0"], {},
         "--poll-interval " + REFUSED.format("POLL_INTERVAL", "above 0, got 0")),
        ([], {"JETGEN_RUN_TIMEOUT": "nan"},
         "--run-timeout " + REFUSED.format("RUN_TIMEOUT", "above 0, got nan")),
        (["--health-port", "70000"], {},
         "--health-port "
         + REFUSED.format("HEALTH_PORT", "a port from 1 to 65535, or 0 for none, got 70000")),
    ],
)  # fmt: skip
def test_the_refusal_says_what_the_option_must_be(capsys, monkeypatch, argv, variables, line):
    """The whole line, word for word (test_contract_startup.py shows the installed
    process prints the same lines)."""
    for variable, value in variables.items():
        monkeypatch.setenv(variable, value)
    assert one_line_error(capsys, argv) == f"jetgen-runtime: {line}\n"


@pytest.mark.parametrize(("value", "server"), [(120.0, 120), (0.4, 1), (2.6, 3), (1e300, 10**9)])
def test_the_watch_timeout_bounds_every_kopf_watch_and_its_inactivity_timer_fires_last(
    value, server
):
    """An integer ``timeoutSeconds`` (the apiserver takes no fraction), aiohttp's own timer
    after it, and kopf's inactivity timer -- which cancels the watcher task when it fires
    outside the stream -- never the first."""
    watching = kopf.OperatorSettings().watching
    operator.watch_settings(watching, value)
    assert watching.server_timeout == server and isinstance(watching.server_timeout, int)
    assert watching.server_timeout < watching.client_timeout < watching.inactivity_timeout
    assert watching.connect_timeout == operator.WATCH_CONNECT_TIMEOUT
