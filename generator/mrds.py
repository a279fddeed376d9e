"""ManagedResourceDefinitions: how a Crossplane v2 package ships each managed kind.

An MRD (``apiextensions.crossplane.io/v1alpha1``, Crossplane >= 2.0) is the kind's CRD
spec plus ``connectionDetails`` (the keys its connection Secret may hold, documented) and
``state``. Crossplane creates the CRD only once the MRD is ``Active``, which an activation
policy decides; the package declares the ``safe-start`` capability, so every MRD starts
``Inactive`` and a cluster serves only the kinds it uses. ProviderConfig kinds stay plain
CRDs (Crossplane never turns those into MRDs).

Built as data from the same CRD documents the plain install uses and the same
:class:`Kind` the runtime reads, so the keys listed are the keys the runtime writes.
"""

from __future__ import annotations

from typing import Any

from jetgen.runtime.kinds import Field, Kind

API_VERSION = "apiextensions.crossplane.io/v1alpha1"
KIND = "ManagedResourceDefinition"
INACTIVE = "Inactive"

# What a configured connection detail's transform does to the attribute's value.
_TRANSFORMS = {None: "as it is", "base64decode": "base64-decoded"}


def managed_resource_definition(crd: dict[str, Any], kind: Kind) -> dict[str, Any]:
    """The MRD of one managed kind, from its CRD (same name, same spec)."""
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {"name": crd["metadata"]["name"]},
        "spec": {
            **crd["spec"],
            "connectionDetails": connection_details(kind),
            "state": INACTIVE,
        },
    }


def mrd_file(crd: dict[str, Any]) -> str:
    """``mrds/<group>_<plural>.yaml``: an MRD's path inside ``package/``."""
    spec = crd["spec"]
    return f"mrds/{spec['group']}_{spec['names']['plural']}.yaml"


def connection_details(kind: Kind) -> list[dict[str, str]]:
    """Every key the runtime may write to this kind's connection Secret: one
    ``attribute.<terraform path>`` per sensitive attribute of the state
    (runtime/fields.py), then the configured details (``jetgen.yaml`` or hooks)."""
    details = [
        {"name": name, "description": description}
        for name, description in _sensitive(kind.fields, "attribute")
    ]
    for detail in kind.connection_details:
        how = _TRANSFORMS.get(detail.transform) or f"through the transform {detail.transform}"
        details.append(
            {
                "name": detail.key,
                "description": f"The Terraform attribute {detail.attribute}, {how}.",
            }
        )
    return details


def _sensitive(fields: dict[str, Field], path: str) -> list[tuple[str, str]]:
    """(key, description) of every sensitive, not write-only attribute below ``path``;
    list and set items are numbered (``<index>``), map values keyed (``<key>``)."""
    found = []
    for field in fields.values():
        if field.write_only:
            continue
        here = f"{path}.{field.tf_name}"
        if field.sensitive:
            text = field.description.strip() or f"The sensitive attribute {field.tf_name}."
            found.append((here, text))
            continue
        found += _below(field, here)
    return found


def _below(field: Field, path: str) -> list[tuple[str, str]]:
    if field.type == "object":
        return _sensitive(field.fields or {}, f"{path}.0" if field.single else path)
    if field.type in ("list", "set") and field.item is not None:
        return _below(field.item, f"{path}.<index>")
    if field.type == "map" and field.item is not None:
        return _below(field.item, f"{path}.<key>")
    if field.type == "tuple":
        return [d for i, item in enumerate(field.items or []) for d in _below(item, f"{path}.{i}")]
    return []
