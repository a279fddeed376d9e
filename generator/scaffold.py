"""``jetgen new NAME``: create a provider repository ``provider-NAME/``.

The repository holds what the provider author owns: ``jetgen.yaml`` (built as data and
dumped, under a comment explaining the knobs), the ``config`` hooks package, README,
packaging, CI workflow and a Makefile.  ``jetgen generate`` fills in the rest, including
the Dockerfile and the install manifests.  The directory is assembled in a temporary
sibling and renamed into place.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from jetgen.generator import naming, templating, yamltext
from jetgen.generator.origin import Origin
from jetgen.runtime.config import CONFIG_FILE

CONFIG_HELP = """\
# jetgen configuration of provider-{name}; see docs/configuration.md of jetgen.
#
# resources:                      per Terraform resource type, all optional
#   {name}_example_thing:
#     kind: Thing                 # default: from the type name (group "example")
#     group: example
#     externalName: {{strategy: argument, argument: name}}
#     references: [{{field: cluster_id, kind: Cluster}}]
#     connectionDetails: [{{key: kubeconfig, attribute: kubeconfig, transform: base64decode}}]
#     lateInitIgnore: [tags]
#     initProviderOnly: [password]
# include / skip: glob lists of resource types that become kinds
# credentials: keys of the ProviderConfig's Secret -> environment variables (or arguments);
#   proposed from the schema's provider block: mark required keys `optional: false`
# package: {{source: <repository URL>, license: Apache-2.0, maintainer: "Team <a@b.c>"}}
#   annotations of the Crossplane package (package/crossplane.yaml)
"""


class ScaffoldError(RuntimeError):
    """The repository cannot be created (bad name, target exists)."""


# Provider arguments whose names say they hold a secret, even when the schema does not
# mark them sensitive (Cloudflare api_token, DigitalOcean spaces_secret_key, ...); a name
# ending in one of NOT_SECRET is where a secret is, not the secret (client_secret_file_path).
SECRET_WORDS = {"token", "key", "secret", "password", "passphrase", "credentials"}
NOT_SECRET = {"path", "file", "url", "endpoint", "id", "ids", "dir"}
# "Can also be configured using the `AWS_CA_BUNDLE` environment variable", "can also be
# specified with the `EQUINIX_API_CLIENTID` shell environment variable", "sourced from ..."
ENV_MENTION = re.compile(r"`\$?([A-Z][A-Z0-9_]*[A-Z0-9])`[^.`]{0,40}?environment variable")


def propose_credentials(schema_text: str | None, source: str, where: str) -> list[dict[str, Any]]:
    """Credentials for jetgen.yaml from the provider block of a schema.

    Every string argument that is sensitive or named like a secret becomes a key of the
    ProviderConfig's Secret; it reaches the provider through the environment variable the
    argument's description documents, else as the argument itself. All are optional: the
    author removes what the provider does not need and marks the rest required."""
    if schema_text is None:
        return []
    attributes = _provider_attributes(schema_text, source, where)
    proposed = []
    for arg, spec in sorted(attributes.items()):
        if spec.get("type") != "string" or not (spec.get("sensitive") or _secret_name(arg)):
            continue
        env = documented_env(spec.get("description") or "")
        target = {"env": env} if env else {"argument": arg}
        proposed.append({"key": arg, **target, "optional": True})
    return proposed


def _secret_name(argument: str) -> bool:
    words = argument.lower().split("_")
    return bool(SECRET_WORDS & set(words)) and words[-1] not in NOT_SECRET


def documented_env(description: str) -> str | None:
    """The environment variable a description says the argument can be set with."""
    found = ENV_MENTION.search(description)
    return found.group(1) if found else None


def _provider_attributes(schema_text: str, source: str, where: str) -> dict[str, Any]:
    try:
        schemas = json.loads(schema_text).get("provider_schemas") or {}
    except (ValueError, AttributeError):
        raise ScaffoldError(f"{where}: not a `providers schema -json` output") from None
    if not isinstance(schemas, dict) or not schemas:
        raise ScaffoldError(f"{where}: provider_schemas: missing or empty")
    matching = [k for k in schemas if k == source or k.endswith("/" + source)]
    key = matching[0] if matching else next(iter(schemas)) if len(schemas) == 1 else None
    if key is None:
        raise ScaffoldError(f"{where}: provider_schemas: no {source} among {sorted(schemas)}")
    block = (schemas[key].get("provider") or {}).get("block") or {}
    attributes = block.get("attributes") or {}
    return attributes if isinstance(attributes, dict) else {}


def config_data(
    name: str,
    source: str,
    version: str,
    group_suffix: str,
    credentials: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    return {
        "name": name,
        "source": source,
        "version": version,
        "groupSuffix": group_suffix,
        "scope": "Namespaced",
        "hooksModule": "config",
        "credentials": credentials or [],
        "include": ["*"],
        "skip": [],
        "resources": {},
    }


# The CI installs jetgen from this repository variable when jetgen was not installed
# from a URL the CI can reach (a local checkout).
JETGEN_VARIABLE = "JETGEN_REQUIREMENT"


def ci_jetgen(jetgen: Origin) -> str:
    """The pip requirement the CI installs jetgen with: its git URL, else the variable."""
    url = jetgen.url or ""
    if url.startswith(("git+https://", "git+ssh://", "https://")):
        return jetgen.requirement("generator")
    return "${{ vars." + JETGEN_VARIABLE + " }}"


def ci_workflow(package: str, jetgen: Origin | None = None) -> dict[str, Any]:
    """A GitHub Actions workflow: generated files must be up to date, and importable.

    jetgen comes from where it came from here (no index has it); tofu obtains the schema,
    which is not committed (the provider's data)."""
    requirement = ci_jetgen(jetgen or Origin(url=None))
    return {
        "name": "ci",
        "on": {"push": {}, "pull_request": {}},
        "jobs": {
            "generate": {
                "runs-on": "ubuntu-latest",
                "steps": [
                    {"uses": "actions/checkout@v4"},
                    {"uses": "actions/setup-python@v5", "with": {"python-version": "3.11"}},
                    {
                        "uses": "opentofu/setup-opentofu@v1",
                        # The wrapper would add lines to `providers schema -json` output.
                        "with": {"tofu_wrapper": False},
                    },
                    {
                        "run": 'pip install "$JETGEN" && pip install -e .',
                        "env": {"JETGEN": requirement},
                    },
                    {"run": "make test"},
                    {"name": "generated files are committed", "run": "git diff --exit-code"},
                ],
            }
        },
    }


def check_name(name: str, target: Path) -> None:
    if not re.fullmatch(r"[a-z][a-z0-9-]*", name):
        raise ScaffoldError(f"provider name {name!r}: use lowercase letters, digits and '-'")
    if target.exists():
        raise ScaffoldError(f"{target}: already exists")


def create(
    target: Path,
    *,
    name: str,
    source: str,
    version: str,
    group_suffix: str,
    credentials: list[dict[str, Any]] | None = None,
    schema: str | None = None,
    jetgen: Origin | None = None,
) -> Path:
    """Write the repository; ``schema`` (the provider's schema JSON) becomes schema.json."""
    check_name(name, target)
    package = naming.package_name(name)
    values = {
        "name": name,
        "source": source,
        "version": version,
        "group_suffix": group_suffix,
        "package": package,
        "jetgen_requirement": (jetgen or Origin(url=None)).requirement("generator"),
        "ci_variable": ""
        if "vars." not in ci_jetgen(jetgen or Origin(url=None))
        else JETGEN_VARIABLE,
    }
    files = {
        CONFIG_FILE: CONFIG_HELP.format(name=name)
        + yamltext.dumps(config_data(name, source, version, group_suffix, credentials)),
        "config/__init__.py": _render("configure.py.j2", values),
        "README.md": _render("README.md.j2", values),
        "pyproject.toml": _render("pyproject.toml.j2", values),
        "Makefile": _render("Makefile.j2", values),
        ".gitignore": _render("gitignore.j2", values),
        ".github/workflows/ci.yml": yamltext.dumps(ci_workflow(package, jetgen)),
    }
    if schema is not None:
        files["schema.json"] = schema
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        for rel, text in files.items():
            path = staging / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(staging, 0o777 & ~umask)  # mkdtemp's 0700 is for the staging only
        os.rename(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def _render(template: str, values: dict[str, str]) -> str:
    return templating.render(f"scaffold/{template}", **values)
