import base64
import json

import pytest
from jetgen.runtime import transforms
from jetgen.runtime.config import ConnectionDetail
from jetgen.runtime.connection import ConnectionDetailError, DetailBuilder


def test_base64decode_returns_raw_bytes():
    raw = bytes(range(256))
    decode = transforms.compile_transform("base64decode")
    assert decode(base64.b64encode(raw).decode(), {}) == raw


def test_base64decode_rejects_garbage_without_echoing_it():
    decode = transforms.compile_transform("base64decode")
    with pytest.raises(transforms.TransformError) as err:
        decode("not base64 s3cr3t!!", {})
    assert "s3cr3t" not in str(err.value)


def test_json_path_picks_nested_values_and_lists():
    pick = transforms.compile_transform("json:users.1.token")
    doc = json.dumps({"users": [{"token": "a"}, {"token": "b"}]})
    assert pick(doc, {}) == b"b"
    with pytest.raises(transforms.TransformError):
        transforms.compile_transform("json:users.5.token")(doc, {})


def test_identity_encodes_non_strings_as_json():
    same = transforms.compile_transform(None)
    assert same("text", {}) == b"text"
    assert same({"b": 1, "a": [1, 2]}, {}) == b'{"a":[1,2],"b":1}'
    assert same(3, {}) == b"3"


def test_python_transform_gets_value_and_state(tmp_path, monkeypatch):
    (tmp_path / "myhooks.py").write_text(
        "def upper_with_id(value, state):\n    return value.upper() + ':' + state['id']\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    fn = transforms.compile_transform("python:myhooks:upper_with_id")
    assert fn("abc", {"id": "7"}) == b"ABC:7"


def test_unknown_transform_fails_at_compile_time():
    with pytest.raises(transforms.TransformError):
        transforms.compile_transform("rot13")
    with pytest.raises(transforms.TransformError):
        transforms.compile_transform("python:nomodulepart")


def test_detail_builder_combines_sensitive_and_details():
    kubeconfig = "apiVersion: v1\nkind: Config\n"
    attrs = {"kubeconfig": base64.b64encode(kubeconfig.encode()).decode(), "id": "42"}
    builder = DetailBuilder(
        [
            ConnectionDetail(key="kubeconfig", attribute="kubeconfig", transform="base64decode"),
            ConnectionDetail(key="id", attribute="id"),
            ConnectionDetail(key="absent", attribute="nothing.here"),
        ]
    )
    data = builder.build(attrs, {"attribute.kubeconfig": attrs["kubeconfig"]})
    assert data == {
        "attribute.kubeconfig": attrs["kubeconfig"].encode(),
        "kubeconfig": kubeconfig.encode(),
        "id": b"42",
    }


def test_detail_builder_names_the_key_on_failure():
    builder = DetailBuilder([ConnectionDetail(key="k", attribute="a", transform="base64decode")])
    with pytest.raises(ConnectionDetailError, match="'k'"):
        builder.build({"a": "%%%"}, {})
