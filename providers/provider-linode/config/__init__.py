"""Hooks for provider-linode: references between kinds and the LKE kubeconfig.

``jetgen.yaml`` holds kinds, external names and immutable fields. What is here is easier
to read as code: which arguments point at another kind (so an MR can name the other MR
instead of copying a numeric Linode ID), and the connection Secret of an LKE cluster.
``configure(config)`` runs when generating and again in the running controller.
"""

from jetgen.runtime.config import ConnectionDetail, ProviderConfiguration, Reference

# (resource type, argument path) -> (kind, short group) of the MR it names; no short group
# is the provider's base group, home of the kinds whose Terraform type has one word after
# "linode_" (Instance, Firewall, Domain, ...). Only
# arguments that always name one kind are listed: `firewall_device.entity_id` (a Linode or
# a NodeBalancer, by `entity_type`) and `database_access_controls.database_id` (four
# database kinds) are left as plain IDs. Arguments inside lists (instance interfaces,
# user grants, IP assignments) get no reference yet: the runtime resolves references in
# list items, but which of these name exactly one kind is still to be decided.
INSTANCE = ("Instance", None)
REFERENCES: dict[tuple[str, str], tuple[str, str | None]] = {
    ("linode_domain_record", "domain_id"): ("Domain", None),
    ("linode_firewall_device", "firewall_id"): ("Firewall", None),
    ("linode_image", "linode_id"): INSTANCE,
    ("linode_image", "disk_id"): ("Disk", "instance"),
    ("linode_instance", "firewall_id"): ("Firewall", None),
    ("linode_instance", "stackscript_id"): ("StackScript", None),
    ("linode_instance", "placement_group.id"): ("PlacementGroup", "placement"),
    ("linode_instance_config", "linode_id"): INSTANCE,
    ("linode_instance_disk", "linode_id"): INSTANCE,
    ("linode_instance_disk", "stackscript_id"): ("StackScript", None),
    ("linode_instance_ip", "linode_id"): INSTANCE,
    ("linode_instance_shared_ips", "linode_id"): INSTANCE,
    ("linode_ipv6_range", "linode_id"): INSTANCE,
    ("linode_lke_node_pool", "cluster_id"): ("Cluster", "lke"),
    ("linode_networking_ip", "linode_id"): INSTANCE,
    ("linode_nodebalancer", "firewall_id"): ("Firewall", None),
    ("linode_nodebalancer_config", "nodebalancer_id"): ("NodeBalancer", None),
    ("linode_nodebalancer_node", "nodebalancer_id"): ("NodeBalancer", None),
    ("linode_nodebalancer_node", "config_id"): ("Config", "nodebalancer"),
    ("linode_placement_group_assignment", "linode_id"): INSTANCE,
    ("linode_placement_group_assignment", "placement_group_id"): ("PlacementGroup", "placement"),
    ("linode_reserved_ip_assignment", "linode_id"): INSTANCE,
    ("linode_volume", "linode_id"): INSTANCE,
    ("linode_volume", "source_volume_id"): ("Volume", None),
    ("linode_vpc_subnet", "vpc_id"): ("VPC", None),
}

# Arguments named *_id, outside lists, that get no reference, and why. jetgen's test
# tests/providers/test_packages.py checks that every such argument of the schema is in
# REFERENCES or here, so a new provider version cannot add one unnoticed.
NOT_REFERENCED: dict[tuple[str, str], str] = {
    ("linode_database_access_controls", "database_id"): "one of four database kinds",
    ("linode_firewall_device", "entity_id"): "a Linode or a NodeBalancer, by entity_type",
    ("linode_instance", "backup_id"): "a backup, which is not a kind",
    ("linode_database_mysql", "engine_id"): "an engine/version name",
    ("linode_database_mysql_v2", "engine_id"): "an engine/version name",
    ("linode_database_postgresql", "engine_id"): "an engine/version name",
    ("linode_database_postgresql_v2", "engine_id"): "an engine/version name",
}

# An instance config maps disks and volumes into the slots sda..sdh (one object each).
for _slot in ("sda", "sdb", "sdc", "sdd", "sde", "sdf", "sdg", "sdh"):
    REFERENCES[("linode_instance_config", f"devices.{_slot}.disk_id")] = ("Disk", "instance")
    REFERENCES[("linode_instance_config", f"devices.{_slot}.volume_id")] = ("Volume", None)


def configure(config: ProviderConfiguration) -> None:
    base = f"{config.name}.m.{config.group_suffix}"  # the namespaced (v2) group shape
    for (type_name, path), (kind, short) in REFERENCES.items():
        if not config.selects(type_name):
            continue
        # The group is always given: Config, IP and IPAssignment exist in two groups each.
        group = f"{short}.{base}" if short else base
        config.resource(type_name).references.append(Reference(field=path, kind=kind, group=group))

    # The provider reports the kubeconfig base64-encoded; the Secret key `kubeconfig`
    # holds the YAML itself, so `kubectl --kubeconfig` can use it as it is.
    config.resource("linode_lke_cluster").connection_details.append(
        ConnectionDetail(key="kubeconfig", attribute="kubeconfig", transform="base64decode")
    )
