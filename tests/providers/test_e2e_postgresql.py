"""provider-postgresql's committed package against the test bed's PostgreSQL.

The controller is the committed package (``python -m postgresql_provider``) with the real
cyrilgdn/postgresql binary from the test bed's mirror; every check reads PostgreSQL
itself with psql (the ``postgres`` fixture's client), not the MR's status.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from tests.generator.crds import dry_run_examples
from tests.providers import reference
from tests.runtime import harness

pytestmark = pytest.mark.e2e

GROUP = "postgresql.m.jetgen.dev"
VERSION = "v1alpha1"
POLL = 4  # seconds: "within one poll interval" is measured against this


def controller(testbed, api, tmp_path: Path, namespace: str) -> harness.Controller:
    ctl = harness.Controller(
        kinds=reference.POSTGRESQL / "postgresql_provider" / "kinds.json",
        apiserver=api,
        testbed=testbed,
        workdir_root=tmp_path / "work",
        log=tmp_path / "controller.log",
        poll=POLL,
        namespace=namespace,
        env={"PYTHONPATH": str(reference.POSTGRESQL)},
    )
    ctl.args[1:5] = ["-m", "postgresql_provider"]
    return ctl


def credentials(name: str, namespace: str, postgres, password: str | None = None) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "stringData": {
            "host": postgres.host,
            "port": str(postgres.port),
            "username": postgres.user,
            "password": password or postgres.password,
        },
    }


def provider_config(name: str, secret: str, namespace: str) -> dict:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "ClusterProviderConfig",
        "metadata": {"name": name},
        "spec": {
            "credentials": {
                "source": "Secret",
                "secretRef": {"name": secret, "namespace": namespace},
            },
            # The test bed's server speaks no TLS; connection_timeout keeps a refused
            # login from waiting long.
            "configuration": {"sslmode": "disable", "connectTimeout": 5},
        },
    }


def mr(kind: str, name: str, namespace: str, config: str, for_provider: dict, **spec) -> dict:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": kind,
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "forProvider": for_provider,
            "providerConfigRef": {"kind": "ClusterProviderConfig", "name": config},
            **spec,
        },
    }


class Objects:
    """MRs of one namespace: get, wait for Ready, read conditions."""

    def __init__(self, api, namespace: str):
        self.api, self.namespace = api, namespace

    def get(self, plural: str, name: str) -> dict | None:
        """``plural`` of the base group, or ``plural.group``."""
        resource = plural if "." in plural else f"{plural}.{GROUP}"
        return harness.get(self.api, resource, name, self.namespace)

    def ready(self, plural: str, name: str, timeout: float = 90) -> dict:
        def check():
            obj = self.get(plural, name)
            return obj if harness.is_ready(obj) else None

        return harness.wait_for(f"{plural}/{name} Ready", check, timeout)

    def synced(self, plural: str, name: str) -> dict:
        return harness.condition(self.get(plural, name), "Synced")

    def delete(self, plural: str, name: str) -> None:
        resource = plural if "." in plural else f"{plural}.{GROUP}"
        self.api.kubectl("delete", resource, name, "-n", self.namespace, "--wait=false")


def psql_as(postgres, user: str, password: str, database: str, sql: str) -> str:
    """Run SQL as another role (the connection Secret's login), not as the superuser."""
    cmd = [str(postgres.psql_binary), "-X", "-At", "-v", "ON_ERROR_STOP=1"]
    cmd += ["-h", postgres.host, "-p", str(postgres.port), "-U", user, "-d", database]
    env = {**os.environ, "PGPASSWORD": password, "PGCONNECT_TIMEOUT": "10"}
    done = subprocess.run([*cmd, "-c", sql], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_roles_databases_schemas_grants_on_real_postgresql(
    testbed, reference_apiserver, postgres, tmp_path
):
    api = reference_apiserver
    harness.install_crds(api, reference.POSTGRESQL)
    ns = api.create_namespace("pg")
    suffix = secrets.token_hex(3)
    role, db, schema = f"app_{suffix}", f"appdb_{suffix}", "app"
    config = f"pg-{ns}"
    app_password = secrets.token_urlsafe(18)
    wrong_password = secrets.token_urlsafe(18)
    api.apply(credentials("pg-admin", ns, postgres))
    api.apply(provider_config(config, "pg-admin", ns))
    api.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "app-password", "namespace": ns},
            "stringData": {"password": app_password},
        }
    )
    secret_ref = {"name": "app-password", "key": "password"}
    api.apply(
        [
            mr(
                "Role",
                "app",
                ns,
                config,
                {"name": role, "login": True, "passwordSecretRef": secret_ref},
                writeConnectionSecretToRef={"name": "app-login"},
            ),
            mr("Database", "appdb", ns, config, {"name": db, "ownerRef": {"name": "app"}}),
            mr(
                "Schema",
                "app",
                ns,
                config,
                {"name": schema, "databaseRef": {"name": "appdb"}, "ownerRef": {"name": "app"}},
            ),
            mr(
                "Grant",
                "app-usage",
                ns,
                config,
                {
                    "roleRef": {"name": "app"},
                    "databaseRef": {"name": "appdb"},
                    "schemaRef": {"name": "app"},
                    "objectType": "schema",
                    "privileges": ["USAGE", "CREATE"],
                },
            ),
        ]
    )
    objects = Objects(api, ns)
    started = time.monotonic()
    with controller(testbed, api, tmp_path, ns) as ctl:
        for plural, name in (
            ("roles", "app"),
            ("databases", "appdb"),
            ("schemas", "app"),
            ("grants", "app-usage"),
        ):
            objects.ready(plural, name, 120)
        to_ready = time.monotonic() - started

        # Created, as PostgreSQL sees it.
        assert postgres.psql(f"SELECT rolcanlogin FROM pg_roles WHERE rolname = '{role}'") == "t"
        owner = postgres.psql(
            f"SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = '{db}'"
        )
        assert owner == role
        assert postgres.psql(
            f"SELECT has_schema_privilege('{role}', '{schema}', 'CREATE')", database=db
        ) == ("t")

        # The role's login in its connection Secret, and it works.
        login = harness.wait_for(
            "the Role's connection Secret", lambda: harness.secret_data(api, "app-login", ns)
        )
        assert login["username"].decode() == role
        assert login["password"].decode() == app_password
        assert psql_as(postgres, role, app_password, db, "SELECT current_user") == role
        role_mr = objects.get("roles", "app")
        assert role_mr["metadata"]["annotations"]["crossplane.io/external-name"] == role
        assert app_password not in json.dumps(role_mr)

        # Dropped by hand -> recreated within one poll interval (plus the create itself).
        postgres.psql(f"DROP SCHEMA {schema} CASCADE", database=db)
        dropped = time.monotonic()
        harness.wait_for(
            "the schema recreated",
            lambda: (
                postgres.psql(
                    f"SELECT count(*) FROM pg_namespace WHERE nspname = '{schema}'", database=db
                )
                == "1"
            ),
            timeout=3 * POLL + 20,
            every=0.2,
        )
        recreated = time.monotonic() - dropped
        assert recreated < POLL + 15, f"recreated after {recreated:.1f} s (poll {POLL} s)"

        # A wrong admin password: Synced=False saying so, never showing it; fixed -> back.
        api.apply(credentials("pg-admin", ns, postgres, password=wrong_password))
        harness.wait_for(
            "the refused login reported",
            lambda: (
                "password authentication failed" in objects.synced("roles", "app")["message"]
                and objects.synced("roles", "app")["status"] == "False"
            ),
            timeout=6 * POLL + 30,
        )
        refused = objects.synced("roles", "app")["message"]
        api.apply(credentials("pg-admin", ns, postgres))
        harness.wait_for(
            "Synced again with the right password",
            lambda: objects.synced("roles", "app").get("status") == "True",
            timeout=6 * POLL + 30,
        )

        # An existing database adopted observe-only: reported, never changed, not dropped.
        legacy = f"legacy_{suffix}"
        postgres.psql(f"CREATE DATABASE {legacy} CONNECTION LIMIT 7")
        adopted = mr(
            "Database",
            "legacy",
            ns,
            config,
            {"name": legacy, "connectionLimit": 50},
            managementPolicies=["Observe"],
        )
        adopted["metadata"]["annotations"] = {"crossplane.io/external-name": legacy}
        api.apply(adopted)
        observed = objects.ready("databases", "legacy", 60)
        assert observed["status"]["atProvider"]["connectionLimit"] == 7
        time.sleep(2 * POLL)  # a few more polls: still nothing changes
        limit = f"SELECT datconnlimit FROM pg_database WHERE datname = '{legacy}'"
        assert postgres.psql(limit) == "7"
        objects.delete("databases", "legacy")
        harness.wait_for("the observe-only MR gone", lambda: not objects.get("databases", "legacy"))
        assert postgres.psql(limit) == "7"

        # A schema that still holds a table cannot be dropped: the MR says why and stays.
        postgres.psql(f"CREATE TABLE {schema}.orders (id int)", database=db)
        objects.delete("schemas", "app")
        harness.wait_for(
            "the dependent table reported",
            lambda: "depend" in objects.synced("schemas", "app").get("message", ""),
            timeout=60,
        )
        blocked = objects.synced("schemas", "app")
        assert blocked["status"] == "False"
        assert objects.get("schemas", "app") is not None
        postgres.psql(f"DROP TABLE {schema}.orders", database=db)
        harness.wait_for(
            "the Schema MR deleted once the table is gone",
            lambda: objects.get("schemas", "app") is None,
            timeout=90,
        )

        # Everything deleted -> nothing left in PostgreSQL.
        for plural, name in (("grants", "app-usage"), ("databases", "appdb"), ("roles", "app")):
            objects.delete(plural, name)
        for plural, name in (("grants", "app-usage"), ("databases", "appdb"), ("roles", "app")):
            gone = lambda p=plural, n=name: not objects.get(p, n)  # noqa: E731
            harness.wait_for(f"{plural}/{name} gone", gone, 90)
        assert postgres.psql(f"SELECT count(*) FROM pg_roles WHERE rolname = '{role}'") == "0"
        assert postgres.psql(f"SELECT count(*) FROM pg_database WHERE datname = '{db}'") == "0"
        events = harness.events_text(api, ns)
        logs = ctl.logs()
    for secret in (app_password, wrong_password, postgres.password):
        assert secret not in logs
        assert secret not in events
        assert secret not in refused
    print(
        f"provider-postgresql: 4 MRs Ready {to_ready:.1f} s after the controller started;"
        f" schema dropped by hand recreated after {recreated:.1f} s (poll {POLL} s);"
        f" wrong password: {refused!r}; dependent table: {blocked['message']!r}"
    )


# The docs' examples that make sense on one server together. The others need what a
# test bed has not got (a publication's tables, a second server to subscribe to, a
# foreign-data wrapper, a security-label provider, replication slots' WAL settings) or
# reference themselves (GrantRole grants the example role to itself).
SMOKE = [
    "postgresql/role.yaml",
    "postgresql/database.yaml",
    "postgresql/schema.yaml",
    "postgresql/extension.yaml",
    "postgresql/function.yaml",
    "postgresql/grant.yaml",
    "grant/default_privileges.yaml",
]


def test_examples_from_the_docs_become_ready(testbed, reference_apiserver, postgres, tmp_path):
    api = reference_apiserver
    harness.install_crds(api, reference.POSTGRESQL)
    ns = api.create_namespace("pg-examples")
    # Every example (all 15 kinds) is valid for its CRD.
    done = dry_run_examples(api, reference.POSTGRESQL, ns)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("created (server dry run)") == 15, done.stdout
    # The examples use the ClusterProviderConfig "default" and the Secrets they name.
    api.apply(credentials("pg-admin", ns, postgres))
    api.apply(provider_config("default", "pg-admin", ns))
    api.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "example-role-secret", "namespace": ns},
            "stringData": {"password": secrets.token_urlsafe(12)},
        }
    )
    documents = [yaml.safe_load((reference.POSTGRESQL / "examples" / p).read_text()) for p in SMOKE]
    api.apply([{**d, "metadata": {**d["metadata"], "namespace": ns}} for d in documents])
    objects = Objects(api, ns)
    with controller(testbed, api, tmp_path, ns):
        database = objects.ready("databases", "example-database", 120)
        db = database["spec"]["forProvider"]["name"]
        # The docs' grant is on tables table1 and table2 of my_schema in the database:
        # an application's tables, which are no kind; made here as the application would.
        postgres.psql(
            "CREATE SCHEMA IF NOT EXISTS my_schema;"
            " CREATE TABLE my_schema.table1 (id int); CREATE TABLE my_schema.table2 (id int)",
            database=db,
        )
        plurals = resources_of(reference.POSTGRESQL)
        ready = []
        for document in documents:
            group = document["apiVersion"].split("/")[0]
            objects.ready(plurals[group, document["kind"]], document["metadata"]["name"], 120)
            ready.append(document["kind"])
    assert postgres.psql("SELECT count(*) FROM pg_extension WHERE extname = 'pg_trgm'") == "1"
    assert postgres.psql("SELECT count(*) FROM pg_proc WHERE proname = 'increment'") == "1"
    assert (
        postgres.psql("SELECT has_table_privilege('my_role', 'my_schema.table1', 'SELECT')", db)
        == "t"
    )
    print(f"provider-postgresql: {len(ready)} docs examples Ready: {', '.join(ready)}")


def resources_of(provider: Path) -> dict[tuple[str, str], str]:
    """(group, kind) -> ``plural.group`` of every committed CRD."""
    out = {}
    for path in (provider / "install" / "crds").glob("*.yaml"):
        spec = yaml.safe_load(path.read_text())["spec"]
        out[spec["group"], spec["names"]["kind"]] = f"{spec['names']['plural']}.{spec['group']}"
    return out
