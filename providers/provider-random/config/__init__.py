"""Hooks for provider-random: connection Secret keys that read better than the defaults.

Every sensitive attribute already reaches the connection Secret as ``attribute.<name>``;
the keys added here are what a consumer of the Secret (a Deployment's ``env``, another
tool) would look for. ``configure(config)`` runs when generating and in the controller.
"""

from jetgen.runtime.config import ConnectionDetail, ProviderConfiguration


def configure(config: ProviderConfiguration) -> None:
    # The generated password itself, as the key `password`.
    config.resource("random_password").connection_details += [
        ConnectionDetail(key="password", attribute="result"),
        ConnectionDetail(key="bcrypt_hash", attribute="bcrypt_hash"),
    ]
    # random_bytes reports its bytes base64-encoded; the key `bytes` holds them raw.
    config.resource("random_bytes").connection_details.append(
        ConnectionDetail(key="bytes", attribute="base64", transform="base64decode")
    )
