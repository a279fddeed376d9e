"""The environment a provider process is started with: the SDKs' and the provider's own
log levels at WARN unless the caller asked for logs (process.quiet_logs)."""

from __future__ import annotations

from jetgen.runtime.tfplugin.process import provider_log_variable, quiet_logs


def test_the_provider_s_own_logger_is_quieted_with_the_sdks():
    env: dict[str, str] = {}
    quiet_logs(env, "linode")
    assert env["TF_LOG_PROVIDER"] == "WARN"
    assert env["TF_LOG_SDK_PROTO"] == "WARN"
    # terraform-plugin-go reads this one, not TF_LOG_PROVIDER, for a provider served
    # under its registry address.
    assert env["TF_LOG_PROVIDER_LINODE"] == "WARN"


def test_the_provider_s_own_logger_follows_the_caller_s_provider_level():
    env = {"TF_LOG_PROVIDER": "INFO"}
    quiet_logs(env, "linode")
    assert env["TF_LOG_PROVIDER_LINODE"] == "INFO"
    env = {"TF_LOG_PROVIDER_LINODE": "TRACE"}
    quiet_logs(env, "linode")
    assert env["TF_LOG_PROVIDER_LINODE"] == "TRACE"


def test_tf_log_leaves_every_level_to_the_caller():
    env = {"TF_LOG": "DEBUG"}
    quiet_logs(env, "linode")
    assert env == {"TF_LOG": "DEBUG"}


def test_the_variable_is_named_after_the_provider_type():
    # terraform-plugin-go: the type part of the address, "-" as "_", upper case.
    assert provider_log_variable("linode") == "TF_LOG_PROVIDER_LINODE"
    assert provider_log_variable("google-beta") == "TF_LOG_PROVIDER_GOOGLE_BETA"
