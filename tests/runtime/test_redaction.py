import base64
import logging

import pytest
from jetgen.runtime import leader, redaction
from jetgen.runtime.resource import Redactor


def test_registry_masks_values_and_their_base64_longest_first():
    registry = redaction.Registry()
    registry.add("hunter2hunter2")
    registry.add("hunter2")
    registry.add("abc")  # too short to hide
    b64 = base64.b64encode(b"hunter2hunter2").decode()
    text = registry(f"pw=hunter2hunter2 b64={b64} short=abc part=hunter2!")
    assert text == "pw=[redacted] b64=[redacted] short=abc part=[redacted]!"


def test_registry_keeps_only_the_newest_values():
    registry = redaction.Registry(limit=4)  # two values: each is kept with its base64
    for value in ("value-one", "value-two", "value-three"):
        registry.add(value)
    assert registry("value-one value-two value-three") == "value-one [redacted] [redacted]"


def test_a_pass_redactor_registers_process_wide():
    Redactor().add("seen-in-another-pass-42")
    assert "seen-in-another-pass-42" not in Redactor()("leak: seen-in-another-pass-42")


def test_log_filter_masks_message_arguments_and_traceback():
    redaction.REGISTRY.add("top-secret-value-9")
    record = logging.LogRecord(
        "x", logging.ERROR, __file__, 1, "got %s", ("top-secret-value-9",), None
    )
    try:
        raise ValueError("top-secret-value-9 in an exception")
    except ValueError as exc:
        record.exc_info = (type(exc), exc, exc.__traceback__)
    assert redaction.LogFilter().filter(record)
    text = logging.Formatter().format(record)
    assert "top-secret-value-9" not in text
    assert text.startswith("got [redacted]") and "ValueError: [redacted] in an exception" in text


@pytest.mark.parametrize(
    "timing",
    [
        leader.LeaseTiming(duration=10, renew_deadline=10),
        leader.LeaseTiming(renew=10, renew_deadline=10),
        leader.LeaseTiming(retry=0),
    ],
)
def test_lease_timing_must_let_the_leader_notice_first(timing):
    with pytest.raises(ValueError, match="renew < renew deadline < lease duration"):
        timing.check()


def test_default_lease_timing_is_valid():
    leader.LeaseTiming().check()


def test_json_escaped_and_per_line_forms_are_masked():
    """Terraform's diagnostics quote main.tf.json lines: a multi-line secret appears there
    JSON-escaped (newlines as backslash-n, Go's \\u003c for <), or one line at a time."""
    from jetgen.runtime.redaction import MASK, Registry

    pem = (
        "-----BEGIN KEY-----\n"
        "MIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf9Cnzj4p4WGeKLs1Pt8Qu\n"
        "<&>tail-line-x\n-----END KEY-----"
    )
    registry = Registry()
    registry.add(pem)
    import json

    for text in (
        f'  on main.tf.json line 7: "content": {json.dumps(pem)},',
        json.dumps(pem).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"),
        "line: MIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf9Cnzj4p4WGeKLs1Pt8Qu here",
    ):
        masked = registry(text)
        assert MASK in masked
        assert "MIIBOgIBAAJBAKj34" not in masked
        assert "tail-line-x" not in masked
