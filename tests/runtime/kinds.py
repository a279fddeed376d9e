"""Kinds built by hand for the runtime's unit tests (no generated provider): ``thing``
with any fields, and ``kind``, a Thing with a top-level ``clusterId`` and a nested
``settings.ownerId``."""

from __future__ import annotations

from jetgen.runtime.kinds import Field, Kind


def thing(fields: dict[str, Field], **kw) -> Kind:
    """The runtime unit tests' namespaced ``Thing`` (x.example.org, Terraform's
    ``x_thing``) with these fields; ``kw``: more of Kind's settings."""
    return Kind(
        kind="Thing",
        group="x.example.org",
        version="v1alpha1",
        plural="things",
        scope="Namespaced",
        terraform_type="x_thing",
        fields=fields,
        **kw,
    )


def kind(**kw):
    fields = {
        "clusterId": Field(tf_name="cluster_id", type="string", optional=True),
        "settings": Field(
            tf_name="settings",
            type="object",
            single=True,
            fields={"ownerId": Field(tf_name="owner_id", type="string", optional=True)},
        ),
    }
    return thing(fields, **kw)
