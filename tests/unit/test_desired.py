"""The typed desired state: what it writes into main.tf.json, what it shows the provider,
and its fingerprints.

How real tofu reads such a file is proven in tests/plugin/test_e2e_literal.py and
tests/plugin/test_e2e_poll.py; here the objects themselves.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
from jetgen.generator import obtain, packaging
from jetgen.runtime import literal
from jetgen.runtime.kinds import ProviderInfo
from jetgen.runtime.provider_requirements import install_config, required_providers
from jetgen.runtime.terraform.credentials import credential_env_name
from jetgen.runtime.terraform.desired import Desired, ProviderSetup, ResourceBlock

ROOT = Path(__file__).resolve().parents[2]
SECRET = "s3cret-Value-7f1e"


def setup(**kw) -> ProviderSetup:
    args = {"source": "example/x", "version": "1.0.0", "arguments": {"region": "eu"}}
    return ProviderSetup(**{**args, **kw})


def block(**kw) -> ResourceBlock:
    args = {"type": "x_thing", "arguments": {"name": "a", "size": 3}}
    return ResourceBlock(**{**args, **kw})


def reordered(value):
    """The same JSON value with every object's keys in reverse order."""
    if isinstance(value, dict):
        return {k: reordered(value[k]) for k in reversed(list(value))}
    if isinstance(value, list):
        return [reordered(v) for v in value]
    return value


# --- required_providers: one rule, one builder -------------------------------------------


@pytest.mark.parametrize(
    "source, local",
    [
        ("hashicorp/random", "random"),
        ("cyrilgdn/postgresql", "postgresql"),
        ("registry.example.org/acme/thing", "thing"),
        ("linode/linode/", "linode"),
    ],
)
def test_the_local_name_is_the_last_part_of_the_source(source, local):
    assert required_providers(source, "1.2.3") == {local: {"source": source, "version": "1.2.3"}}
    assert required_providers(source, "") == {local: {"source": source}}  # unpinned


def test_every_writer_of_required_providers_uses_the_one_builder():
    # The workdir's main.tf.json, the generator's schema run and the image's init agree
    # even where the provider's jetgen name differs from its source.
    info = ProviderInfo(
        name="pg",
        source="cyrilgdn/postgresql",
        version="1.26.0",
        config_group="pg.example.org",
        config_version="v1beta1",
        scope="Namespaced",
    )
    expected = {"terraform": {"required_providers": required_providers(info.source, "1.26.0")}}
    assert (
        Desired(setup(source=info.source, version="1.26.0"), block()).config["terraform"]
        == (expected["terraform"])
    )
    assert install_config(info.source, info.version) == expected
    dockerfile = packaging.dockerfile(info)
    assert json.dumps(expected, sort_keys=True) in dockerfile
    assert not hasattr(obtain, "main_tf")  # the generator has no builder of its own


def test_no_module_builds_required_providers_by_hand():
    """Only provider_requirements.py spells the key in code (docstrings may mention it)."""
    spelled = []
    for folder in ("generator", "runtime"):
        for path in (ROOT / folder).rglob("*.py"):
            tree = ast.parse(path.read_text())
            docstrings = {
                id(node.body[0].value)
                for node in ast.walk(tree)
                if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef)
                and node.body
                and isinstance(node.body[0], ast.Expr)
            }
            for node in ast.walk(tree):
                if (
                    isinstance(node, ast.Constant)
                    and node.value == "required_providers"
                    and id(node) not in docstrings
                ):
                    spelled.append(str(path.relative_to(ROOT)))
    assert sorted(set(spelled)) == ["runtime/provider_requirements.py"]


# --- what is written ---------------------------------------------------------------------


def test_credentials_are_never_written_as_values():
    desired = Desired(
        setup(credentials={"token": SECRET}, environment={"X_API_KEY": SECRET + "-env"}),
        block(),
    )
    text = json.dumps(desired.config)
    assert SECRET not in text  # neither the argument's value nor the environment's
    assert desired.config["provider"]["x"]["token"] == "${var.jetgen_credential_token}"
    assert desired.config["variable"] == {
        "jetgen_credential_token": {"type": "string", "sensitive": True}
    }
    # The value travels in the run's environment only.
    assert desired.env == {
        credential_env_name("token"): SECRET,
        "X_API_KEY": SECRET + "-env",
    }


def test_a_credential_argument_wins_over_a_plain_one_of_the_same_name():
    desired = Desired(setup(arguments={"token": "plain"}, credentials={"token": SECRET}), block())
    assert desired.config["provider"]["x"]["token"] == "${var.jetgen_credential_token}"
    assert "plain" not in json.dumps(desired.config)
    assert desired.provider.configuration()["token"] == SECRET


@pytest.mark.parametrize("text", ['${file("/etc/passwd")}', "%{ if x }y%{ endif }", "$${x}"])
def test_literal_templates_stay_escaped_in_the_file_and_literal_for_the_provider(text):
    provider = setup(arguments={"endpoint": text, text: [text]}, credentials={"token": SECRET})
    resource = block(arguments={"name": text, "tags": {text: text}})
    written = json.loads(json.dumps(Desired(provider, resource).config))
    written_resource = written["resource"]["x_thing"]["this"]
    del written_resource["lifecycle"]
    # What Terraform reads from the file is what the user wrote ...
    assert literal.unescape(written_resource) == {"name": text, "tags": {text: text}}
    block_written = dict(written["provider"]["x"])
    assert block_written.pop("token") == "${var.jetgen_credential_token}"  # ours, unescaped
    assert literal.unescape(block_written) == {"endpoint": text, text: [text]}
    # ... and exactly what the plugin poll shows the provider.
    assert provider.configuration() == {"endpoint": text, text: [text], "token": SECRET}
    assert dict(resource.arguments) == {"name": text, "tags": {text: text}}


def test_ignore_changes_is_written_sorted_and_kept_apart_from_the_arguments():
    resource = block(ignore_changes=("tags", "size", 'labels["team"]'))
    assert resource.ignore_changes == ('labels["team"]', "size", "tags")
    doc: dict = {}
    resource.write(doc)
    written = doc["resource"]["x_thing"]["this"]
    assert written["lifecycle"] == {
        "prevent_destroy": False,
        "ignore_changes": ['labels["team"]', "size", "tags"],
    }
    assert "lifecycle" not in resource.arguments  # the provider is never shown it
    assert block().ignore_changes == ()
    doc = {}
    block().write(doc)
    assert doc["resource"]["x_thing"]["this"]["lifecycle"] == {"prevent_destroy": False}


def test_config_is_a_new_document_each_time():
    desired = Desired(setup(), block())
    first = desired.config
    first["resource"]["x_thing"]["this"]["name"] = "changed"
    assert desired.config["resource"]["x_thing"]["this"]["name"] == "a"


# --- fingerprints --------------------------------------------------------------------------


def test_fingerprints_are_stable_digests_independent_of_key_order():
    desired = Desired(setup(credentials={"token": SECRET}), block())
    again = Desired(
        setup(credentials={"token": SECRET}, arguments=reordered({"region": "eu"})),
        block(arguments=reordered({"name": "a", "size": 3})),
    )
    assert desired.fingerprint() == again.fingerprint()
    assert (
        block(ignore_changes=("b", "a")).fingerprint()
        == block(ignore_changes=("a", "b")).fingerprint()
    )
    value = desired.fingerprint()
    assert len(value) == 64 and set(value) <= set("0123456789abcdef")  # only a digest
    assert SECRET not in value


@pytest.mark.parametrize(
    "changed",
    [
        Desired(setup(credentials={"token": "rotated"}), block()),  # a rotated credential
        Desired(setup(credentials={"token": SECRET}, environment={"A": "1"}), block()),
        Desired(setup(credentials={"token": SECRET}, version="1.0.1"), block()),
        Desired(setup(credentials={"token": SECRET}, arguments={"region": "us"}), block()),
        Desired(setup(credentials={"token": SECRET}), block(arguments={"name": "b", "size": 3})),
        Desired(setup(credentials={"token": SECRET}), block(ignore_changes=("size",))),
        Desired(setup(credentials={"token": SECRET}), block(type="x_other")),
    ],
)
def test_every_part_of_the_desired_state_changes_the_fingerprint(changed):
    base = Desired(setup(credentials={"token": SECRET}), block())
    assert changed.fingerprint() != base.fingerprint()


def test_each_part_has_its_own_fingerprint():
    base = Desired(setup(), block())
    other_resource = Desired(setup(), block(arguments={"name": "b"}))
    assert other_resource.provider.fingerprint() == base.provider.fingerprint()
    assert other_resource.resource.fingerprint() != base.resource.fingerprint()
    other_provider = Desired(setup(credentials={"token": SECRET}), block())
    assert other_provider.resource.fingerprint() == base.resource.fingerprint()
    assert other_provider.provider.fingerprint() != base.provider.fingerprint()


def test_without_credentials_the_fingerprint_ignores_only_their_values():
    base = Desired(setup(credentials={"token": SECRET}), block())
    rotated = Desired(setup(credentials={"token": "rotated"}), block())
    assert rotated.fingerprint(credentials=False) == base.fingerprint(credentials=False)
    moved = Desired(setup(credentials={"token": SECRET}, environment={"A": "1"}), block())
    assert moved.fingerprint(credentials=False) == base.fingerprint(credentials=False)
    for other in (
        Desired(setup(), block()),  # no credential argument at all: another provider block
        Desired(setup(credentials={"key": SECRET}), block()),
        Desired(setup(credentials={"token": SECRET}, arguments={"region": "us"}), block()),
        Desired(setup(credentials={"token": SECRET}), block(arguments={"name": "b"})),
    ):
        assert other.fingerprint(credentials=False) != base.fingerprint(credentials=False)


@pytest.mark.parametrize(
    "resource",
    [
        block(),
        block(ignore_changes=("size", "name")),
        block(arguments={"name": "${var.x} %{if} $${}", "tags": {"${k}": ["%{v}"]}}),
        block(arguments={}),
    ],
)
def test_a_resource_block_reads_back_from_the_file_it_wrote(resource):
    """The deletion fallback's source: main.tf.json as written, through JSON."""
    doc = json.loads(json.dumps(Desired(setup(credentials={"token": SECRET}), resource).config))
    assert ResourceBlock.read(doc) == resource
