"""go-plugin handshake parsing (pure)."""

from __future__ import annotations

import pytest
from jetgen.runtime.tfplugin.process import Handshake, PluginStartError


def test_parses_a_unix_socket_handshake():
    hs = Handshake.parse("1|6|unix|/tmp/plugin42|grpc|\n")
    assert hs == Handshake(1, 6, "unix", "/tmp/plugin42", "grpc")


@pytest.mark.parametrize(
    "line",
    [
        "This binary is a plugin. These are not meant to be executed directly.",
        "1|5|unix|/tmp/p|grpc|MIIBCERT",  # TLS offered: we never asked for it
        "",
    ],
)
def test_rejects_other_output(line):
    with pytest.raises(PluginStartError):
        Handshake.parse(line)
