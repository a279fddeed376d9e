import json
import logging
from pathlib import Path

from jetgen.runtime import cli, logs


def test_json_log_lines_carry_the_object():
    record = logging.LogRecord("kopf.objects", logging.INFO, __file__, 1, "hello %s", ("x",), None)
    record.k8s_ref = {"kind": "File", "namespace": "ns", "name": "a", "uid": "u"}
    line = json.loads(logs.JsonFormatter().format(record))
    assert line["message"] == "hello x"
    assert line["level"] == "info"
    assert line["object"] == {"kind": "File", "namespace": "ns", "name": "a"}


def test_wake_handler_successes_are_filtered():
    quiet = logs._QuietWakeups()
    noisy = logging.LogRecord(
        "kopf.objects", logging.INFO, "", 1, "Handler 'wake' succeeded.", (), None
    )
    other = logging.LogRecord(
        "kopf.objects", logging.INFO, "", 1, "Handler 'finalize' succeeded.", (), None
    )
    assert not quiet.filter(noisy)
    assert quiet.filter(other)


def test_cli_options_become_settings(monkeypatch):
    monkeypatch.setenv("JETGEN_MAX_RUNS", "7")
    args = cli.parser().parse_args(
        [
            "--kinds",
            "k.json",
            "--poll-interval",
            "5",
            "--namespace",
            "a",
            "--namespace",
            "b-*",
            "--serve",
            "File",
            "--terraform",
            "terraform",
            "--workdir-root",
            "/tmp/w",
        ]
    )
    settings = cli.settings_from(args)
    assert settings.poll_interval == 5 and settings.max_runs == 7
    assert settings.namespaces == ["a", "b-*"]
    assert settings.serves("File", "local.m.jetgen.dev")
    assert not settings.serves("Id", "random.m.jetgen.dev")
    assert settings.binary == "terraform" and settings.workdir_root == Path("/tmp/w")
    assert settings.backoff_base == 2.0


def test_cli_without_kinds_file_fails_cleanly(capsys):
    assert cli.main([]) == 2
    assert "--kinds is required" in capsys.readouterr().err
