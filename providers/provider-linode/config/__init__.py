"""Hooks for provider-linode: references between kinds, connection Secrets, and what
differs between linode/linode 3.x (the release this package is generated for) and the
2.37.0 preview.

``jetgen.yaml`` holds kinds, external names and immutable fields of the resource types
both releases have. What is here is easier to read as code: which arguments point at
another kind (so an MR can name the other MR instead of copying a numeric Linode ID),
the keys of the connection Secrets, and the types only one release has.
``configure(config)`` runs when generating; the controller only imports this module.
"""

import copy

from jetgen.runtime.config import (
    ConnectionDetail,
    ExternalName,
    ProviderConfiguration,
    Reference,
    ResourceConfig,
)

# (kind, short group) of a referenced MR; no short group is the provider's base group,
# home of the kinds whose Terraform type has one word after "linode_" (Instance,
# Firewall, Domain, ...).
INSTANCE = ("Instance", None)
FIREWALL = ("Firewall", None)
SUBNET = ("Subnet", "vpc")
VPC = ("VPC", None)
DISK = ("Disk", "instance")
VOLUME = ("Volume", None)
STACKSCRIPT = ("StackScript", None)

# (resource type, argument path) -> the kind it names. Only arguments that always name
# one kind are listed; NOT_REFERENCED says why the others are plain values. Paths run
# through single nested blocks (`devices.sda.disk_id`) and through the items of lists and
# sets (`interface.subnet_id`, `linode_grant.id`): each item gets its own Ref/Selector.
REFERENCES: dict[tuple[str, str], tuple[str, str | None]] = {
    ("linode_domain_record", "domain_id"): ("Domain", None),
    ("linode_firewall_device", "firewall_id"): FIREWALL,
    ("linode_image", "linode_id"): INSTANCE,
    ("linode_image", "disk_id"): DISK,
    ("linode_instance", "firewall_id"): FIREWALL,
    ("linode_instance", "stackscript_id"): STACKSCRIPT,
    ("linode_instance", "placement_group.id"): ("PlacementGroup", "placement"),
    ("linode_instance", "interface.subnet_id"): SUBNET,
    ("linode_instance", "config.interface.subnet_id"): SUBNET,
    ("linode_instance", "disk.stackscript_id"): STACKSCRIPT,
    ("linode_instance_config", "linode_id"): INSTANCE,
    ("linode_instance_config", "device.disk_id"): DISK,
    ("linode_instance_config", "device.volume_id"): VOLUME,
    ("linode_instance_config", "interface.subnet_id"): SUBNET,
    ("linode_instance_disk", "linode_id"): INSTANCE,
    ("linode_instance_disk", "stackscript_id"): STACKSCRIPT,
    ("linode_instance_ip", "linode_id"): INSTANCE,
    ("linode_instance_shared_ips", "linode_id"): INSTANCE,
    ("linode_ipv6_range", "linode_id"): INSTANCE,
    ("linode_lke_node_pool", "cluster_id"): ("Cluster", "lke"),
    ("linode_networking_ip", "linode_id"): INSTANCE,
    ("linode_nodebalancer", "firewall_id"): FIREWALL,
    ("linode_nodebalancer_config", "nodebalancer_id"): ("NodeBalancer", None),
    ("linode_nodebalancer_node", "nodebalancer_id"): ("NodeBalancer", None),
    ("linode_nodebalancer_node", "config_id"): ("Config", "nodebalancer"),
    ("linode_placement_group_assignment", "linode_id"): INSTANCE,
    ("linode_placement_group_assignment", "placement_group_id"): ("PlacementGroup", "placement"),
    ("linode_reserved_ip_assignment", "linode_id"): INSTANCE,
    ("linode_volume", "linode_id"): INSTANCE,
    ("linode_volume", "source_volume_id"): VOLUME,
    ("linode_vpc_subnet", "vpc_id"): VPC,
    # A restricted user's grants: each item names one object of one kind.
    ("linode_user", "domain_grant.id"): ("Domain", None),
    ("linode_user", "firewall_grant.id"): FIREWALL,
    ("linode_user", "image_grant.id"): ("Image", None),
    ("linode_user", "linode_grant.id"): INSTANCE,
    ("linode_user", "nodebalancer_grant.id"): ("NodeBalancer", None),
    ("linode_user", "stackscript_grant.id"): STACKSCRIPT,
    ("linode_user", "volume_grant.id"): VOLUME,
    ("linode_user", "vpc_grant.id"): VPC,
}

# Only in linode/linode 3.x.
REFERENCES_SINCE_3: dict[tuple[str, str], tuple[str, str | None]] = {
    ("linode_database_mysql_v2", "private_network.subnet_id"): SUBNET,
    ("linode_database_mysql_v2", "private_network.vpc_id"): VPC,
    ("linode_database_postgresql_v2", "private_network.subnet_id"): SUBNET,
    ("linode_database_postgresql_v2", "private_network.vpc_id"): VPC,
    ("linode_lke_cluster", "pool.firewall_id"): FIREWALL,
    ("linode_lke_node_pool", "firewall_id"): FIREWALL,
    ("linode_nodebalancer", "vpcs.subnet_id"): SUBNET,
    ("linode_firewall_settings", "default_firewall_ids.linode"): FIREWALL,
    ("linode_firewall_settings", "default_firewall_ids.nodebalancer"): FIREWALL,
    ("linode_firewall_settings", "default_firewall_ids.public_interface"): FIREWALL,
    ("linode_firewall_settings", "default_firewall_ids.vpc_interface"): FIREWALL,
    ("linode_interface", "linode_id"): INSTANCE,
    ("linode_interface", "firewall_id"): FIREWALL,
    ("linode_interface", "vpc.subnet_id"): SUBNET,
    ("linode_lke_cluster", "subnet_id"): SUBNET,
    ("linode_lke_cluster", "vpc_id"): VPC,
    ("linode_nodebalancer_node", "subnet_id"): SUBNET,
    ("linode_producer_image_share_group", "images.id"): ("Image", None),
    ("linode_producer_image_share_group_member", "sharegroup_id"): ("ShareGroup", "image"),
}

# Arguments named *_id that get no reference, and why. tests/providers/test_packages.py
# checks that every *_id argument of the schema (in lists too) is in REFERENCES or here,
# so a new provider version cannot add one unnoticed.
NOT_REFERENCED: dict[tuple[str, str], str] = {
    ("linode_database_access_controls", "database_id"): "one of four database kinds",
    ("linode_firewall_device", "entity_id"): "a Linode or a NodeBalancer, by entity_type",
    ("linode_lock", "entity_id"): "any lockable object, by entity_type",
    ("linode_instance", "backup_id"): "a backup, which is not a kind",
    ("linode_database_mysql", "engine_id"): "an engine/version name",
    ("linode_database_mysql_v2", "engine_id"): "an engine/version name",
    ("linode_database_postgresql", "engine_id"): "an engine/version name",
    ("linode_database_postgresql_v2", "engine_id"): "an engine/version name",
}
# Why some ID lists stay plain: `networking_ip_assignment.assignments` is a list-typed
# attribute (not a nested block), so it has no items a Ref could sit in; the firewall's
# `linodes` / `nodebalancers` are lists of bare numbers; `iam_user.entity_access.id` and
# `user.longview_grant.id` name objects of several (or no) kinds.


def device_slots(version: str) -> list[str]:
    """The disk slots of an instance config: sda..sdh in 2.x, sda..sdbl (64) in 3.x."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    single = [f"sd{c}" for c in letters]
    if version.startswith("2."):
        return single[:8]
    double = [f"sd{a}{b}" for a in "ab" for b in letters]
    return (single + double)[:64]


for _slot in device_slots("3.x"):
    for _arg, _target in (("disk_id", DISK), ("volume_id", VOLUME)):
        REFERENCES_SINCE_3[("linode_instance_config", f"devices.{_slot}.{_arg}")] = _target
        # An Instance's inline `config` blocks have the same 64 slots; 128 more Ref/Selector
        # pairs would take the Instance CRD from 262 KB to 490 KB. The `Config` kind
        # (linode_instance_config) is the place to reference disks and volumes.
        NOT_REFERENCED[("linode_instance", f"config.devices.{_slot}.{_arg}")] = (
            "inline config of an Instance: reference disks from a Config MR instead"
        )
for _slot in device_slots("2.x"):
    for _arg, _target in (("disk_id", DISK), ("volume_id", VOLUME)):
        REFERENCES[("linode_instance_config", f"devices.{_slot}.{_arg}")] = _target
        REFERENCES_SINCE_3.pop(("linode_instance_config", f"devices.{_slot}.{_arg}"))


def _secret_keys(**keys: str) -> list[ConnectionDetail]:
    return [ConnectionDetail(key=key, attribute=attribute) for key, attribute in keys.items()]


# Connection Secrets: what a workload needs to use the object, under conventional keys.
# (Every sensitive attribute is in the Secret as `attribute.<name>` anyway.)
DATABASE_KEYS = _secret_keys(
    username="root_username", password="root_password", host="host_primary", port="port"
)
CONNECTION_DETAILS: dict[str, list[ConnectionDetail]] = {
    # The provider reports the kubeconfig base64-encoded; the key `kubeconfig` holds the
    # YAML itself, so `kubectl --kubeconfig` can use it as it is.
    "linode_lke_cluster": [
        ConnectionDetail(key="kubeconfig", attribute="kubeconfig", transform="base64decode")
    ],
    "linode_database_mysql_v2": [*DATABASE_KEYS, ConnectionDetail("ca.crt", "ca_cert")],
    "linode_database_postgresql_v2": [*DATABASE_KEYS, ConnectionDetail("ca.crt", "ca_cert")],
    "linode_object_storage_key": _secret_keys(access_key="access_key", secret_key="secret_key"),
    "linode_token": _secret_keys(token="token"),
}
CONNECTION_DETAILS_SINCE_3: dict[str, list[ConnectionDetail]] = {
    "linode_consumer_image_share_group_token": _secret_keys(token="token"),
}
CONNECTION_DETAILS_UNTIL_3: dict[str, list[ConnectionDetail]] = {
    # The 2.x MySQL kind has no `port` attribute (MySQL's is 3306).
    "linode_database_mysql": [*DATABASE_KEYS[:3], ConnectionDetail("ca.crt", "ca_cert")],
    "linode_database_postgresql": [*DATABASE_KEYS, ConnectionDetail("ca.crt", "ca_cert")],
}


def _resource(kind: str, group: str | None = None, **settings) -> ResourceConfig:
    return ResourceConfig(kind=kind, group=group, **settings)


# Kinds only one release has (jetgen.yaml names only the types both have).
RESOURCES_SINCE_3: dict[str, ResourceConfig] = {
    # Imported as "<Linode ID>,<interface ID>".
    "linode_interface": _resource(
        "Interface",
        external_name=ExternalName(import_id="{linode_id},{external_name}"),
        immutable=["linode_id"],
    ),
    "linode_lock": _resource("Lock", immutable=["entity_id", "entity_type", "lock_type"]),
    # Imported as "<ID>,<service type>".
    "linode_monitor_alert_definition": _resource(
        "AlertDefinition",
        "monitor",
        external_name=ExternalName(import_id="{external_name},{service_type}"),
        immutable=["service_type"],
    ),
    "linode_firewall_settings": _resource("Settings", "firewall"),
    "linode_iam_user": _resource("User", "iam", immutable=["username"]),
    # Image sharing: a producer's share group, its members, a consumer's token.
    "linode_producer_image_share_group": _resource("ShareGroup", "image"),
    "linode_producer_image_share_group_member": _resource(
        "ShareGroupMember", "image", immutable=["sharegroup_id"]
    ),
    "linode_consumer_image_share_group_token": _resource(
        "ShareGroupToken", "image", immutable=["valid_for_sharegroup_uuid"]
    ),
}
RESOURCES_UNTIL_3: dict[str, ResourceConfig] = {
    "linode_database_mysql": _resource("MySQL", "database"),
    "linode_database_postgresql": _resource("PostgreSQL", "database"),
}


def configure(config: ProviderConfiguration) -> None:
    v2 = config.version.startswith("2.")
    resources = RESOURCES_UNTIL_3 if v2 else RESOURCES_SINCE_3
    for type_name, settings in resources.items():
        if config.selects(type_name) and type_name not in config.resources:
            config.resources[type_name] = copy.deepcopy(settings)

    references = dict(REFERENCES)
    if not v2:
        references.update(REFERENCES_SINCE_3)
    base = f"{config.name}.m.{config.group_suffix}"  # the namespaced (v2) group shape
    for (type_name, path), (kind, short) in references.items():
        if not config.selects(type_name):
            continue
        # The group is always given: Config, IP and IPAssignment exist in two groups each.
        group = f"{short}.{base}" if short else base
        config.resource(type_name).references.append(Reference(field=path, kind=kind, group=group))

    details = dict(CONNECTION_DETAILS)
    details.update(CONNECTION_DETAILS_UNTIL_3 if v2 else CONNECTION_DETAILS_SINCE_3)
    for type_name, keys in details.items():
        if config.selects(type_name):
            config.resource(type_name).connection_details.extend(keys)
