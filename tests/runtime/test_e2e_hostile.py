"""End-to-end: every name and value a tenant writes is hostile input.

Real kube-apiserver, real controllers, real tofu with the random, local and tls providers.
A tenant namespace holds MRs and ProviderConfigs whose names try to leave it (``..``,
percent-encoded forms, ``/``, over-long and invalid names, another namespace) and whose
values look like Terraform templates (``${file(...)}``, ``%{...}``, literal ``$${``).  A
victim namespace holds a Secret, a connection Secret and a referenceable object whose
value must never reach the tenant, and a marker file holds text that only an evaluated
``${file(...)}`` could read.

Two layers are tried for every name case:

* the generated CRDs (server-side dry-run create): the apiserver should refuse;
* the same objects on *pattern-less* copies of the CRDs (another API group, name rules
  stripped and ``namespace`` fields added, as an old or edited CRD would be) reconciled by
  the controller: the runtime must refuse with ``Synced=False`` naming the field.

Values must be taken literally: the file, the state and ``status.atProvider`` hold the
spec's text.  The count of cases and outcomes is written to ``hostile-summary.txt`` in the
test's tmp dir and printed.
"""

from __future__ import annotations

import base64
import json
import secrets
import ssl
import subprocess
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from jetgen.runtime import state

from tests.runtime import harness
from tests.runtime.harness import Controller, wait_for

pytestmark = pytest.mark.e2e

VERSION = "v1alpha1"
LOCAL, SENSITIVE, RANDOM = (
    "local.m.jetgen.dev",
    "sensitive.local.m.jetgen.dev",
    "random.m.jetgen.dev",
)
TLS_CERT, TLS = "cert.tls.m.jetgen.dev", "tls.m.jetgen.dev"
# The pattern-less copies live in groups of their own, so the real CRDs stay as they are.
EDITED = {
    "local.m.jetgen.dev": "localh.m.jetgen.dev",
    "random.m.jetgen.dev": "randomh.m.jetgen.dev",
}


def edited(group: str) -> str:
    for old, new in EDITED.items():
        if group.endswith(old):
            return group[: -len(old)] + new
    return group


# --- hostile names -----------------------------------------------------------------------


def object_name_forms(victim: str) -> dict[str, str]:
    return {
        "dotdot": "..",
        "dot": ".",
        "traversal": f"../../{victim}/secrets/victim",
        "encoded-dotdot": "%2e%2e",
        "encoded-traversal": f"%2e%2e%2f%2e%2e%2f{victim}%2fsecrets%2fvictim",
        "double-encoded": "%252e%252e%252f",
        "slash": f"{victim}/victim",
        "over-long": "v" * 254,
        "invalid-upper": "Victim",
        "invalid-query": "victim?watch=true",
    }


KEY_FORMS = {
    "dotdot": "..",
    "dot": ".",
    "traversal": "../victim",
    "encoded": "%2e%2e",
    "slash": "a/b",
    "over-long": "k" * 254,
    "invalid-space": "a b",
}

LABEL_FORMS = {
    "key-comma": {"app,x": "v"},
    "value-comma": {"app": "x,other=y"},
    "key-bang": {"app!": "v"},
    "value-traversal": {"app": "../victim"},
    "value-encoded": {"app": "%2e%2e"},
    "key-slashes": {"a/b/c": "v"},
    "value-over-long": {"app": "v" * 64},
    "key-over-long": {"k" * 64: "v"},
    "value-invalid": {"app": "-x-"},
}


@dataclass
class Case:
    """One hostile input: the objects that carry it and what became of it."""

    group: str  # name class or value class
    form: str
    objects: list[dict]  # in the real API groups; the last one is the MR watched
    field: str  # what a refusal must name
    kind: str  # "name" or "value"
    apiserver: str = ""  # refused / accepted
    apiserver_message: str = ""
    runtime: str = ""  # refused / literal / provider-refused-literal
    runtime_message: str = ""
    check: Any = None  # value cases: callable(mr) -> None, asserting the literal
    extra: dict = field(default_factory=dict)

    @property
    def outcome(self) -> str:
        if self.apiserver == "refused":
            return "refused by apiserver"
        return {"refused": "refused by runtime"}.get(self.runtime, "literal")


def mr(api_group: str, kind: str, name: str, ns: str, for_provider: dict, **spec) -> dict:
    return {
        "apiVersion": f"{api_group}/{VERSION}",
        "kind": kind,
        "metadata": {"name": name, "namespace": ns},
        "spec": {"forProvider": for_provider, **spec},
    }


def provider_config(api_group: str, name: str, ns: str, spec: dict) -> dict:
    return {
        "apiVersion": f"{api_group}/{VERSION}",
        "kind": "ProviderConfig",
        "metadata": {"name": name, "namespace": ns},
        "spec": spec,
    }


GOOD_PC = {"kind": "ProviderConfig", "name": "good"}


def name_cases(ns: str, victim: str, out: Path) -> list[Case]:
    cases: list[Case] = []
    n = iter(range(10_000))

    def file_mr(**spec) -> dict:
        i = next(n)
        path = str(out / f"n{i}.txt")
        return mr(LOCAL, "File", f"n{i}", ns, {"filename": path, "content": "x"}, **spec)

    def sensitive(ref: dict) -> dict:
        i = next(n)
        fp = {"filename": str(out / f"n{i}.txt"), "contentSecretRef": ref}
        return mr(SENSITIVE, "File", f"n{i}", ns, fp, providerConfigRef=GOOD_PC)

    def pet(**fp) -> dict:
        return mr(RANDOM, "Pet", f"n{next(n)}", ns, {"length": 2, **fp})

    def pc_case(form: str, ref: dict, fld: str) -> Case:
        i = next(n)
        pc = provider_config(
            LOCAL, f"pc{i}", ns, {"credentials": {"source": "Secret", "secretRef": ref}}
        )
        user = file_mr(providerConfigRef={"kind": "ProviderConfig", "name": f"pc{i}"})
        return Case("ProviderConfig credentials Secret", form, [pc, user], fld, "name")

    for form, value in object_name_forms(victim).items():
        cases += [
            Case(
                "SecretRef of a sensitive input",
                f"name {form}",
                [sensitive({"name": value, "key": "content"})],
                "contentSecretRef.name",
                "name",
            ),
            pc_case(f"name {form}", {"name": value, "key": "token"}, "secretRef.name"),
            Case(
                "providerConfigRef",
                f"name {form}",
                [file_mr(providerConfigRef={"kind": "ProviderConfig", "name": value})],
                "providerConfigRef.name",
                "name",
            ),
            Case(
                "resource reference",
                f"name {form}",
                [pet(prefixRef={"name": value})],
                "prefixRef.name",
                "name",
            ),
            Case(
                "connection Secret",
                f"name {form}",
                [file_mr(providerConfigRef=GOOD_PC, writeConnectionSecretToRef={"name": value})],
                "writeConnectionSecretToRef.name",
                "name",
            ),
        ]
    for form, value in KEY_FORMS.items():
        cases += [
            Case(
                "SecretRef of a sensitive input",
                f"key {form}",
                [sensitive({"name": "tenant", "key": value})],
                "contentSecretRef.key",
                "name",
            ),
            pc_case(f"key {form}", {"name": "creds", "key": value}, "secretRef.key"),
        ]
    for form, labels in LABEL_FORMS.items():
        cases.append(
            Case(
                "selector",
                f"matchLabels {form}",
                [pet(prefixSelector={"matchLabels": labels})],
                "prefixSelector.matchLabels",
                "name",
            )
        )
    # Another namespace, spelled out: no namespaced kind may reach one.
    foreign = "namespace of another tenant"
    cases += [
        Case(
            "SecretRef of a sensitive input",
            foreign,
            [sensitive({"name": "victim", "key": "value", "namespace": victim})],
            "contentSecretRef.namespace",
            "name",
        ),
        pc_case(
            foreign, {"name": "victim", "key": "token", "namespace": victim}, "secretRef.namespace"
        ),
        Case(
            "resource reference",
            foreign,
            [pet(prefixRef={"name": "victim", "namespace": victim})],
            "prefixRef.namespace",
            "name",
        ),
        Case(
            "selector",
            foreign,
            [pet(prefixSelector={"matchLabels": {"app": "victim"}, "namespace": victim})],
            "prefixSelector.namespace",
            "name",
        ),
        Case(
            "connection Secret",
            foreign,
            [
                file_mr(
                    providerConfigRef=GOOD_PC,
                    writeConnectionSecretToRef={"name": "conn", "namespace": victim},
                )
            ],
            "writeConnectionSecretToRef.namespace",
            "name",
        ),
    ]
    return cases


# --- hostile values ----------------------------------------------------------------------


def value_texts(marker: Path) -> dict[str, str]:
    return {
        "interpolation ${file()}": f'${{file("{marker}")}}',
        "directive %{if}": "%{ if true }evaluated%{ endif }",
        "literal $${x}": "$${x}",
        "literal $${": "$${",
        "literal %%{": "%%{",
        "policy variable ${aws:username}": "${aws:username}",
    }


def value_cases(ns: str, out: Path, marker: Path, pem_secret: str, id_kind: str) -> list[Case]:
    texts = value_texts(marker)
    cases: list[Case] = []
    for i, (form, text) in enumerate(texts.items()):
        path = out / f"top{i}.txt"

        def top(obj, path=path, text=text):
            assert path.read_text() == text
            assert obj["status"]["atProvider"]["content"] == text

        cases.append(
            Case(
                "top-level string",
                form,
                [
                    mr(
                        LOCAL,
                        "File",
                        f"top{i}",
                        ns,
                        {"filename": str(path), "content": text},
                        providerConfigRef=GOOD_PC,
                    )
                ],
                "",
                "value",
                check=top,
            )
        )
        secret_path = out / f"secret{i}.txt"

        def from_secret(obj, path=secret_path, text=text):
            assert path.read_text() == text

        cases.append(
            Case(
                "string from a Secret",
                form,
                [
                    mr(
                        SENSITIVE,
                        "File",
                        f"secret{i}",
                        ns,
                        {
                            "filename": str(secret_path),
                            "contentSecretRef": {"name": "values", "key": f"t{i}"},
                        },
                        providerConfigRef=GOOD_PC,
                    )
                ],
                "",
                "value",
                check=from_secret,
            )
        )
    ordered = list(texts.values())
    subject_fields = [
        "commonName",
        "organization",
        "organizationalUnit",
        "locality",
        "province",
        "postalCode",
    ]
    subject = dict(zip(subject_fields, ordered, strict=True))
    request = mr(
        TLS_CERT,
        "Request",
        "nested",
        ns,
        {
            "privateKeyPemSecretRef": {"name": pem_secret, "key": "pem"},
            "subject": [subject],
            "dnsNames": ordered,
        },
    )

    def nested(obj, name):
        at = obj["status"]["atProvider"]
        assert at["subject"][0][name] == subject[name]

    def dns_item(obj, index):
        assert obj["status"]["atProvider"]["dnsNames"][index] == ordered[index]

    for index, (name, form) in enumerate(zip(subject_fields, texts, strict=True)):
        cases.append(
            Case(
                "nested string", form, [request], "", "value", check=lambda o, n=name: nested(o, n)
            )
        )
        cases.append(
            Case("list item", form, [request], "", "value", check=lambda o, i=index: dns_item(o, i))
        )
    shuffle = mr(RANDOM, "Shuffle", "items", ns, {"input": ordered, "resultCount": len(ordered)})
    keyed = mr(RANDOM, id_kind, "keys", ns, {"byteLength": 2, "keepers": {t: t for t in ordered}})
    dynamic = mr(RANDOM, "Pet", "dynamic", ns, {"length": 1, "keepers": {t: t for t in ordered}})
    for form, text in texts.items():

        def listed(obj, text=text):
            at = obj["status"]["atProvider"]
            assert text in at["input"] and text in at["result"]

        def map_key(obj, text=text):
            assert obj["status"]["atProvider"]["keepers"][text] == text

        cases.append(Case("list item", form, [shuffle], "", "value", check=listed))
        cases.append(Case("map key", form, [keyed], "", "value", check=map_key))
        cases.append(Case("dynamic value", form, [dynamic], "", "value", check=map_key))
    # The provider block: tls's proxy URL.  A URL-shaped literal is accepted (an evaluated
    # ${file()} or ${aws:username} would fail the run); a '%{' is not a valid URL escape, and
    # the provider's own error then quotes the literal it was given.
    for i, (form, text) in enumerate(texts.items()):
        url = f"http://proxy.invalid/{text}"
        pc = provider_config(TLS, f"proxy{i}", ns, {"configuration": {"proxy": [{"url": url}]}})
        user = mr(
            TLS_CERT,
            "Request",
            f"proxy{i}",
            ns,
            {
                "privateKeyPemSecretRef": {"name": pem_secret, "key": "pem"},
                "subject": [{"commonName": "x"}],
            },
            providerConfigRef={"kind": "ProviderConfig", "name": f"proxy{i}"},
        )
        cases.append(
            Case("provider configuration", form, [pc, user], "", "value", extra={"url": url})
        )
    return cases


# --- the API, directly -------------------------------------------------------------------


class Api:
    """Raw REST calls with the admin token: dry-run creates report the apiserver's own
    message, and many small calls cost no kubectl process each."""

    def __init__(self, apiserver, plurals: dict[tuple[str, str], str]):
        self.apiserver = apiserver
        self.plurals = plurals
        self.context = ssl.create_default_context(cafile=str(apiserver.ca_file))

    def path(self, obj: dict) -> str:
        group, version = obj["apiVersion"].split("/")
        plural = self.plurals[(group, obj["kind"])]
        return f"/apis/{group}/{version}/namespaces/{obj['metadata']['namespace']}/{plural}"

    def dry_run(self, obj: dict) -> tuple[int, str]:
        query = "?dryRun=All&fieldValidation=Strict"
        request = urllib.request.Request(
            self.apiserver.url + self.path(obj) + query,
            data=json.dumps(obj).encode(),
            method="POST",
            headers={
                "Authorization": f"Bearer {self.apiserver.token}",
                "Content-Type": "application/json",
            },
        )
        try:
            with urllib.request.urlopen(request, context=self.context, timeout=30) as response:
                return response.status, ""
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read()).get("message", "")


def strip_name_rules(schema: Any) -> None:
    """An old or edited CRD: no rule on names, and a ``namespace`` next to every name."""
    if isinstance(schema, list):
        for item in schema:
            strip_name_rules(item)
        return
    if not isinstance(schema, dict):
        return
    props = schema.get("properties")
    if isinstance(props, dict):
        if "pattern" in (props.get("name") or {}) or "matchLabels" in props:
            props.setdefault("namespace", {"type": "string"})
        labels = props.get("matchLabels")
        if isinstance(labels, dict):
            for key in ("x-kubernetes-validations", "maxProperties"):
                labels.pop(key, None)
            for key in ("pattern", "maxLength", "minLength"):
                labels.get("additionalProperties", {}).pop(key, None)
        for prop in props.values():
            if isinstance(prop, dict) and prop.get("type") == "string":
                for key in ("pattern", "maxLength", "minLength"):
                    prop.pop(key, None)
    for value in schema.values():
        strip_name_rules(value)


def edited_provider(apiserver, generated: Path, folder: Path, change) -> Path:
    """A copy of a generated provider in the EDITED groups; returns its kinds.json."""
    folder.mkdir(parents=True)
    text = harness.kinds_file(generated).read_text()
    for old, new in EDITED.items():
        text = text.replace(f'"{old}"', f'"{new}"').replace(f'.{old}"', f'.{new}"')
    info = json.loads(text)
    change(info)
    kinds = folder / "kinds.json"
    kinds.write_text(json.dumps(info))
    crds = []
    for path in sorted((generated / "install" / "crds").glob("*.yaml")):
        crd = yaml.safe_load(path.read_text())
        group = edited(crd["spec"]["group"])
        crd["spec"]["group"] = group
        crd["metadata"]["name"] = f"{crd['spec']['names']['plural']}.{group}"
        strip_name_rules(crd["spec"]["versions"])
        crds.append(crd)
    (folder / "crds.yaml").write_text(yaml.safe_dump_all(crds))
    apiserver.kubectl("apply", "--server-side", "-f", str(folder / "crds.yaml"))
    apiserver.kubectl(
        "wait", "--for=condition=Established", "--timeout=60s", "-f", str(folder / "crds.yaml")
    )
    return kinds


def to_edited(obj: dict) -> dict:
    copy = json.loads(json.dumps(obj))
    group, version = copy["apiVersion"].split("/")
    copy["apiVersion"] = f"{edited(group)}/{version}"
    return copy


@pytest.fixture(scope="module")
def tls_provider(testbed, apiserver, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("tls")
    schema = harness.provider_schema(testbed, folder / "schema", ["tls"])
    out = harness.generate(schema, folder / "gen", "tls", testbed.providers["tls"])
    harness.install_crds(apiserver, out)
    return out


def plural_map(*kinds_files: Path) -> dict[tuple[str, str], str]:
    plurals: dict[tuple[str, str], str] = {}
    for path in kinds_files:
        info = json.loads(path.read_text())
        for kind in info["kinds"]:
            plurals[(kind["group"], kind["kind"])] = kind["plural"]
        for config in ("ProviderConfig", "ClusterProviderConfig"):
            plurals[(info["config_group"], config)] = config.lower() + "s"
    return plurals


def everything_in(apiserver, ns: str, plurals: dict) -> str:
    """Every object of the namespace as text, Secret data decoded (state Secrets unzipped)."""
    texts = []
    for (group, _), plural in sorted(plurals.items()):
        proc = apiserver.kubectl("get", f"{plural}.{group}", "-n", ns, "-o", "json", check=False)
        texts.append(proc.stdout)
    listed = json.loads(apiserver.kubectl("get", "secrets", "-n", ns, "-o", "json").stdout)
    for secret in listed["items"]:
        for key, value in (secret.get("data") or {}).items():
            raw = base64.b64decode(value)
            if key == state.STATE_KEY:
                raw = state.decode_state(raw)
            texts.append(raw.decode(errors="replace"))
    texts.append(harness.events_text(apiserver, ns))
    return "\n".join(texts)


def test_hostile_names_and_values(
    apiserver, testbed, local_provider, random_provider, tls_provider, tmp_path
):
    tenant = apiserver.create_namespace("tenant")
    victim = apiserver.create_namespace("victim")
    out = tmp_path / "out"
    out.mkdir()
    victim_value = "victim-value-" + secrets.token_hex(8)
    marker_content = "marker-content-" + secrets.token_hex(8)
    marker = tmp_path / "marker.txt"
    marker.write_text(marker_content)
    token = "tenant-token-" + secrets.token_hex(8)
    pem = subprocess.run(
        ["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout

    random_info = json.loads(harness.kinds_file(random_provider).read_text())
    id_kind = next(k["kind"] for k in random_info["kinds"] if k["terraform_type"] == "random_id")

    def local_change(info):
        # As tests/runtime/test_e2e_credentials.py does: local has no credentials of its own.
        info["credentials"] = [{"key": "token", "env": "JETGEN_E2E_TOKEN"}]

    def random_change(info):
        # No test-bed provider has a dynamic attribute; the runtime treats Pet's keepers as
        # one (Terraform's JSON reading is the same for a map and a dynamic value).
        pet = next(k for k in info["kinds"] if k["terraform_type"] == "random_pet")
        pet["fields"]["keepers"] = {"tf_name": "keepers", "type": "dynamic", "optional": True}

    local_kinds = edited_provider(
        apiserver, local_provider, tmp_path / "local-edited", local_change
    )
    random_kinds = edited_provider(
        apiserver, random_provider, tmp_path / "random-edited", random_change
    )
    tls_kinds = harness.kinds_file(tls_provider)
    plurals = plural_map(
        harness.kinds_file(local_provider),
        harness.kinds_file(random_provider),
        local_kinds,
        random_kinds,
        tls_kinds,
    )
    api = Api(apiserver, plurals)

    def secret(name: str, ns: str, data: dict[str, str]) -> dict:
        return {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": name, "namespace": ns},
            "stringData": data,
        }

    victims = [
        secret(
            "victim",
            victim,
            {"value": victim_value, "token": victim_value, "content": victim_value},
        ),
        secret("conn", victim, {"value": victim_value}),
    ]
    apiserver.apply(victims)
    victim_id = mr(edited(RANDOM), id_kind, "victim", victim, {"byteLength": 2})
    victim_id["metadata"]["labels"] = {"app": "victim"}
    apiserver.apply(victim_id)
    # Its value, as if it were Ready: a reference that crossed over would copy it.
    apiserver.kubectl(
        "patch",
        f"{plurals[(edited(RANDOM), id_kind)]}.{edited(RANDOM)}",
        "victim",
        "-n",
        victim,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps({"status": {"atProvider": {"hex": victim_value}}}),
    )
    before = {
        s["metadata"]["name"]: get_secret(apiserver, s["metadata"]["name"], victim) for s in victims
    }

    apiserver.apply(
        [
            secret("creds", tenant, {"token": token}),
            secret("tenant", tenant, {"content": "tenant-content"}),
            secret("pem", tenant, {"pem": pem}),
            secret(
                "values", tenant, {f"t{i}": t for i, t in enumerate(value_texts(marker).values())}
            ),
            to_edited(
                provider_config(
                    LOCAL,
                    "good",
                    tenant,
                    {"credentials": {"source": "Secret", "secretRef": {"name": "creds"}}},
                )
            ),
        ]
    )
    cases = name_cases(tenant, victim, out) + value_cases(tenant, out, marker, "pem", id_kind)

    # 1. The generated CRDs: the apiserver's verdict on each case.
    for case in cases:
        verdicts = [api.dry_run(obj) for obj in case.objects]
        refused = [(code, msg) for code, msg in verdicts if code >= 400]
        case.apiserver = "refused" if refused else "accepted"
        case.apiserver_message = refused[0][1] if refused else ""
        if case.kind == "value":
            assert not refused, (case.group, case.form, refused)
        elif refused:
            assert refused[0][0] in (400, 422), refused
            assert case.field in refused[0][1], (case.group, case.form, refused[0][1])

    # 2. The pattern-less CRDs: everything reaches the controller, which must refuse the
    #    names and take the values literally.
    objects: dict[tuple, dict] = {}
    for case in cases:
        for obj in case.objects:
            target = to_edited(obj)  # tls keeps its generated CRDs: it has no name cases
            key = (target["apiVersion"], target["kind"], target["metadata"]["name"])
            objects[key] = target
    work = tmp_path / "work"
    common = dict(
        apiserver=apiserver, testbed=testbed, workdir_root=work, poll=60, namespace=tenant
    )
    debug = ["--log-level", "DEBUG"]
    controllers = [
        Controller(kinds=local_kinds, log=tmp_path / "local.log", extra_args=debug, **common),
        Controller(kinds=random_kinds, log=tmp_path / "random.log", extra_args=debug, **common),
        Controller(kinds=tls_kinds, log=tmp_path / "tls.log", extra_args=debug, **common),
    ]
    for ctl in controllers:
        ctl.start()
    try:
        apiserver.apply(list(objects.values()))

        def watched(case: Case) -> dict:
            obj = case.objects[-1]
            target = to_edited(obj)
            group = target["apiVersion"].split("/")[0]
            return harness.get(
                apiserver,
                f"{plurals[(group, target['kind'])]}.{group}",
                target["metadata"]["name"],
                tenant,
            )

        def settled() -> bool:
            pending = 0
            for case in cases:
                if case.runtime:
                    continue
                obj = watched(case)
                synced = harness.condition(obj, "Synced")
                if case.kind == "name" and synced.get("status") == "False":
                    case.runtime, case.runtime_message = "refused", synced.get("message", "")
                elif case.kind == "value" and harness.is_ready(obj):
                    case.check and case.check(obj)
                    case.runtime = "literal"
                elif case.group == "provider configuration" and synced.get("status") == "False":
                    message = synced.get("message", "").replace('\\"', '"')
                    if "Invalid URL" in message or "invalid URL" in message:
                        assert case.extra["url"] in message, message
                        case.runtime, case.runtime_message = "provider-refused-literal", message
                    else:
                        pending += 1
                else:
                    pending += 1
            return pending == 0

        wait_for("every case settled", settled, timeout=300, every=2)
        texts = everything_in(apiserver, tenant, plurals)
    finally:
        for ctl in controllers:
            ctl.stop()
    logs = "\n".join(ctl.logs() for ctl in controllers)

    # Every name was refused by the runtime, naming its field, before any Terraform run.
    for case in cases:
        if case.kind == "name":
            assert case.field in case.runtime_message, (case.group, case.form, case.runtime_message)
            assert "is not" in case.runtime_message or "another namespace" in case.runtime_message
    # Nothing read from or written to the victim namespace.
    for name, old in before.items():
        assert get_secret(apiserver, name, victim) == old, name
    for where, text in (("tenant namespace", texts), ("controller logs", logs)):
        assert victim_value not in text, where
        assert marker_content not in text, where
    for path in out.glob("*"):
        assert marker_content not in path.read_text() and victim_value not in path.read_text()
    for state_file in work.glob("*/terraform.tfstate"):
        assert marker_content not in state_file.read_text()
    assert token not in logs

    summary = write_summary(cases, tmp_path / "hostile-summary.txt")
    print(summary)
    totals = Counter(case.outcome for case in cases)
    names = [c for c in cases if c.kind == "name"]
    values = [c for c in cases if c.kind == "value"]
    assert sum(totals.values()) == len(cases) == len(names) + len(values)
    assert totals["refused by apiserver"] + totals["refused by runtime"] == len(names)
    assert totals["literal"] == len(values)
    assert all(c.runtime == "refused" for c in names)  # also behind a pattern-less CRD
    assert len(names) >= 6 * 5 and len(values) >= 6 * 3


def get_secret(apiserver, name: str, ns: str) -> tuple[str, dict]:
    obj = harness.get(apiserver, "secret", name, ns)
    assert obj is not None
    return obj["metadata"]["resourceVersion"], obj.get("data")


def write_summary(cases: list[Case], path: Path) -> str:
    rows = Counter((c.group, c.kind, c.outcome) for c in cases)
    runtime = Counter((c.group, c.runtime) for c in cases)
    lines = ["class | kind | outcome | cases"]
    lines += [f"{g} | {k} | {o} | {n}" for (g, k, o), n in sorted(rows.items())]
    lines.append("")
    lines.append("behind pattern-less CRDs (runtime only): class | runtime outcome | cases")
    lines += [f"{g} | {o} | {n}" for (g, o), n in sorted(runtime.items())]
    totals = Counter(c.outcome for c in cases)
    lines.append("")
    lines.append(
        f"tried {len(cases)}: refused by apiserver {totals['refused by apiserver']},"
        f" refused by runtime {totals['refused by runtime']}, literal {totals['literal']}"
        f" (of which the provider refused the literal value: "
        f"{sum(c.runtime == 'provider-refused-literal' for c in cases)})"
    )
    lines.append("")
    lines.append("case | apiserver | runtime")
    lines += [f"{c.group}: {c.form} | {c.apiserver} | {c.runtime}" for c in cases]
    text = "\n".join(lines) + "\n"
    path.write_text(text)
    return text
