"""``jetgen new NAME``: create a provider repository ``provider-NAME/``.

The repository holds what the provider author owns: ``jetgen.yaml`` (built as data and
dumped, under a comment explaining the knobs), the ``config`` hooks package, README,
packaging, CI workflow and a Makefile.  ``jetgen generate`` fills in the rest, including
the Dockerfile and the install manifests.  The directory is assembled in a temporary
sibling and renamed into place.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from jetgen.generator import naming, templating, yamltext
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
# credentials: keys of the ProviderConfig's Secret -> environment variables (or arguments)
"""


class ScaffoldError(RuntimeError):
    """The repository cannot be created (bad name, target exists)."""


def config_data(name: str, source: str, version: str, group_suffix: str) -> dict[str, Any]:
    return {
        "name": name,
        "source": source,
        "version": version,
        "groupSuffix": group_suffix,
        "scope": "Namespaced",
        "hooksModule": "config",
        "credentials": [{"key": "token", "env": f"{name.upper().replace('-', '_')}_TOKEN"}],
        "include": ["*"],
        "skip": [],
        "resources": {},
    }


def ci_workflow(package: str) -> dict[str, Any]:
    """A GitHub Actions workflow: generated files must be up to date, and importable."""
    return {
        "name": "ci",
        "on": {"push": {}, "pull_request": {}},
        "jobs": {
            "generate": {
                "runs-on": "ubuntu-latest",
                "steps": [
                    {"uses": "actions/checkout@v4"},
                    {"uses": "actions/setup-python@v5", "with": {"python-version": "3.11"}},
                    {"run": "pip install 'jetgen[generator]' && pip install -e ."},
                    {"run": "jetgen generate"},
                    {"name": "generated files are committed", "run": "git diff --exit-code"},
                    {"run": f"python -c 'import {package}.models'"},
                ],
            }
        },
    }


def create(target: Path, *, name: str, source: str, version: str, group_suffix: str) -> Path:
    if not re.fullmatch(r"[a-z][a-z0-9-]*", name):
        raise ScaffoldError(f"provider name {name!r}: use lowercase letters, digits and '-'")
    if target.exists():
        raise ScaffoldError(f"{target}: already exists")
    package = naming.package_name(name)
    values = {
        "name": name,
        "source": source,
        "version": version,
        "group_suffix": group_suffix,
        "package": package,
    }
    files = {
        CONFIG_FILE: CONFIG_HELP.format(name=name)
        + yamltext.dumps(config_data(name, source, version, group_suffix)),
        "config/__init__.py": _render("configure.py.j2", values),
        "README.md": _render("README.md.j2", values),
        "pyproject.toml": _render("pyproject.toml.j2", values),
        "Makefile": _render("Makefile.j2", values),
        ".gitignore": _render("gitignore.j2", values),
        ".github/workflows/ci.yml": yamltext.dumps(ci_workflow(package)),
    }
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        for rel, text in files.items():
            path = staging / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        os.rename(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def _render(template: str, values: dict[str, str]) -> str:
    return templating.render(f"scaffold/{template}", **values)
