"""Hooks for provider-postgresql: which arguments name another kind.

``jetgen.yaml`` holds kinds, external names, credentials and the role's connection
Secret. What is here is easier to read as code: the arguments that name a role, a
database or a schema, so an MR can name the other MR (``ownerRef: {name: app}``) and is
reconciled after it exists. ``configure(config)`` runs when generating and again in the
running controller.
"""

from jetgen.runtime.config import ProviderConfiguration, Reference

# A role's and a database's external name is its name; a schema's is "<db>.<name>", so a
# reference to a schema takes its `name` from the status.
ROLE = ("Role", "external_name")
DATABASE = ("Database", "external_name")
SCHEMA = ("Schema", "status.atProvider.name")

# (resource type, argument path) -> (kind, where the value comes from). Left plain: a
# security label's `object_name` (a role, a table, ... by `object_type`; jetgen generate
# proposes Role from the docs' example), and `objects`/`columns` of grants (tables, which
# are not kinds). A grant's `role` may be "public", which no Role MR stands for: leave
# `roleRef` out and set `role: public`.
REFERENCES: dict[tuple[str, str], tuple[str, str]] = {
    ("postgresql_database", "owner"): ROLE,
    ("postgresql_schema", "owner"): ROLE,
    ("postgresql_schema", "database"): DATABASE,
    ("postgresql_schema", "policy.role"): ROLE,
    ("postgresql_extension", "database"): DATABASE,
    ("postgresql_extension", "schema"): SCHEMA,
    ("postgresql_grant", "role"): ROLE,
    ("postgresql_grant", "database"): DATABASE,
    ("postgresql_grant", "schema"): SCHEMA,
    ("postgresql_grant_role", "role"): ROLE,
    ("postgresql_grant_role", "grant_role"): ROLE,
    ("postgresql_default_privileges", "role"): ROLE,
    ("postgresql_default_privileges", "owner"): ROLE,
    ("postgresql_default_privileges", "database"): DATABASE,
    ("postgresql_default_privileges", "schema"): SCHEMA,
    ("postgresql_function", "database"): DATABASE,
    ("postgresql_function", "schema"): SCHEMA,
    ("postgresql_publication", "database"): DATABASE,
    ("postgresql_publication", "owner"): ROLE,
    ("postgresql_user_mapping", "user_name"): ROLE,
    ("postgresql_user_mapping", "server_name"): ("Server", "status.atProvider.serverName"),
}


def configure(config: ProviderConfiguration) -> None:
    group = f"{config.name}.m.{config.group_suffix}"  # all three live in the base group
    for (type_name, path), (kind, value_from) in REFERENCES.items():
        if config.selects(type_name):
            reference = Reference(field=path, kind=kind, group=group, value_from=value_from)
            config.resource(type_name).references.append(reference)
