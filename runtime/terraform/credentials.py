"""How credentials, and the few variables a run inherits, reach a Terraform process.

Credentials never touch the disk: a provider argument that is a credential is written into
``main.tf.json`` as a sensitive variable, and its value travels in a ``TF_VAR_*``
environment variable of the run (see :func:`credential_env_name`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

# Variables that carry credentials into the provider block; values travel in TF_VAR_*
# environment variables so they are never written into main.tf.json on disk.
CREDENTIAL_VAR_PREFIX = "jetgen_credential_"

# The only variables of the controller's environment a Terraform run inherits: how to find
# programs, locale and time zone, temporary files, CA bundles, proxies.  None is an identity.
PASSED_THROUGH = (
    "PATH",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "TZ",
    "TMPDIR",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
)
HOME_DIR = ".home"  # under the workdir root: HOME of the shared provider processes


def credential_env_name(argument: str) -> str:
    """The environment variable that carries provider argument ``argument``'s value."""
    return f"TF_VAR_{CREDENTIAL_VAR_PREFIX}{argument}"


def run_environment(
    extra: Mapping[str, str], *, home: Path, cli_config: str | None
) -> dict[str, str]:
    """The whole environment of a Terraform or provider process: the few variables
    of :data:`PASSED_THROUGH`, the run's settings, then ``extra`` (credentials from the
    ProviderConfig, or the controller's environment if it chose ``InjectedIdentity``).
    Nothing else of the controller's own environment -- its service account, cloud
    identity, ``KUBERNETES_*``, its home -- reaches a tenant's run."""
    env = {name: os.environ[name] for name in PASSED_THROUGH if name in os.environ}
    env.update(
        {
            "TF_IN_AUTOMATION": "1",
            "TF_INPUT": "0",
            "CHECKPOINT_DISABLE": "1",  # no version check calls home
            # A private, empty home: no ~/.aws, ~/.config/gcloud, ~/.kube of ours.
            "HOME": str(home),
        }
    )
    if cli_config:
        env["TF_CLI_CONFIG_FILE"] = cli_config
    env.update(extra)
    # Never let a workdir fall back to downloading providers.
    env.pop("TF_PLUGIN_CACHE_DIR", None)
    return env
