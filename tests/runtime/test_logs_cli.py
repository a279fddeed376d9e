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


def _kinds_file(tmp_path, transform="rot13", **info_extra):
    kind = {
        "kind": "File",
        "group": "g",
        "version": "v1",
        "plural": "files",
        "scope": "Namespaced",
        "terraform_type": "local_file",
        "fields": {"a": {"tf_name": "a", "type": "string", "computed": True}},
        "connection_details": [{"key": "k", "attribute": "a", "transform": transform}],
    }
    info = {
        "name": "local",
        "source": "hashicorp/local",
        "version": "",
        "config_group": "g",
        "config_version": "v1",
        "scope": "Namespaced",
        "kinds": [kind],
        **info_extra,
    }
    path = tmp_path / "kinds.json"
    path.write_text(json.dumps(info))
    return path


def test_broken_provider_packages_stop_the_controller_with_a_message(tmp_path, capsys):
    path = _kinds_file(tmp_path)
    assert cli.main(["--kinds", str(path)]) == 2
    assert "kinds[0].connection_details[0].transform: unknown" in capsys.readouterr().err
    path = _kinds_file(tmp_path, "base64decode", hooks_module="no_such_hooks_module_xyz")
    assert cli.main(["--kinds", str(path)]) == 2
    assert "no_such_hooks_module_xyz" in capsys.readouterr().err
    assert cli.main(["--kinds", str(tmp_path / "missing.json")]) == 2
