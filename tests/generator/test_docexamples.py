"""Examples from a provider's Markdown docs: HCL blocks -> example manifests."""

from __future__ import annotations

from pathlib import Path

from jetgen.generator import cli, docexamples, examples, model, schema
from jetgen.runtime.config import ProviderConfiguration, Reference, ResourceConfig

STRING = {"type": "string", "optional": True}
NUMBER = {"type": "number", "optional": True}

SCHEMA = {
    "format_version": "1.0",
    "provider_schemas": {
        "registry.terraform.io/acme/demo": {
            "provider": {"version": 0, "block": {}},
            "resource_schemas": {
                "demo_cluster": {
                    "version": 0,
                    "block": {
                        "attributes": {
                            "id": {"type": "string", "computed": True},
                            "label": {"type": "string", "required": True},
                            "region": {"type": "string", "required": True},
                            "tags": {"type": ["set", "string"], "optional": True},
                            "size": NUMBER,
                            "ha": {"type": "bool", "optional": True},
                            "labels": {"type": ["map", "string"], "optional": True},
                            "script": STRING,
                            "password": {**STRING, "sensitive": True},
                        },
                        "block_types": {
                            "pool": {
                                "nesting_mode": "list",
                                "min_items": 1,
                                "block": {
                                    "attributes": {
                                        "node_type": {"type": "string", "required": True},
                                        "count": NUMBER,
                                        "firewall_id": NUMBER,
                                    },
                                    "block_types": {
                                        "autoscaler": {
                                            "nesting_mode": "list",
                                            "max_items": 1,
                                            "block": {
                                                "attributes": {
                                                    "min_nodes": {
                                                        "type": "number",
                                                        "required": True,
                                                    },
                                                    "max_nodes": NUMBER,
                                                }
                                            },
                                        }
                                    },
                                },
                            }
                        },
                    },
                },
                "demo_node_pool": {
                    "version": 0,
                    "block": {
                        "attributes": {
                            "id": {"type": "string", "computed": True},
                            "cluster_id": {"type": "number", "required": True},
                            "node_type": {"type": "string", "required": True},
                            "note": STRING,
                        }
                    },
                },
                "demo_firewall": {
                    "version": 0,
                    "block": {
                        "attributes": {
                            "id": {"type": "string", "computed": True},
                            "label": {"type": "string", "required": True},
                            "cluster_id": NUMBER,
                        }
                    },
                },
            },
        }
    },
}

CLUSTER_PAGE = """# demo_cluster

## Example Usage

```terraform
resource "demo_cluster" "my-cluster" {
  label  = "my-cluster"
  region = "us-east"
  tags   = ["prod", "blue"]
  size   = "3"
  ha     = true
  labels = { team = "web", "cost-center" = "42" }
  password = "hunter2"
  provider = demo.west
  lifecycle {
    ignore_changes = [tags]
  }

  pool {
    node_type = "g6-standard-2"
    count     = 3
    autoscaler {
      min_nodes = 3
      max_nodes = 10
    }
  }

  pool {
    node_type   = var.pool_type
    firewall_id = demo_firewall.fw.id
  }

  script = <<EOF
#!/bin/sh
echo "hello"
EOF
}
```

A later example of the same resource is not used:

```hcl
resource "demo_cluster" "other" {
  label  = "other"
  region = "eu-west"
}
```
"""

POOL_PAGE = """# demo_node_pool

```hcl
resource "demo_node_pool" "pool" {
  cluster_id = demo_cluster.my-cluster.id
  node_type  = "g6-standard-4"
  note       = "pool of ${demo_cluster.my-cluster.label}"
}
```
"""

FIREWALL_PAGE = """# demo_firewall

```hcl
resource "demo_firewall" "fw" {
  label      = "fw-${random_id.x.hex}"
  cluster_id = "${demo_cluster.my-cluster.id}"
}
```

```hcl
resource "demo_firewall" "broken" {
  label = = "two equals"
}
```
"""


def write_docs(root: Path) -> Path:
    docs = root / "docs" / "resources"
    docs.mkdir(parents=True)
    (docs / "cluster.md").write_text(CLUSTER_PAGE)
    (docs / "node_pool.md").write_text(POOL_PAGE)
    (docs / "demo_firewall.html.markdown").write_text(FIREWALL_PAGE)
    (docs / "notes.txt").write_text('```hcl\nresource "demo_cluster" "x" {}\n```\n')
    return docs


def generated(tmp_path, references=True):
    config = ProviderConfiguration(name="demo")
    if references:
        ref = Reference(field="cluster_id", kind="Cluster")
        config.resources["demo_node_pool"] = ResourceConfig(references=[ref])
    info = model.build(schema.parse(SCHEMA, "schema.json"), config)
    docs = docexamples.read(write_docs(tmp_path))
    return docs, examples.all_examples(info, docs, "demo")


def for_provider(example: examples.Example) -> dict:
    return example.manifest["spec"]["forProvider"]


def test_values_nested_blocks_lists_maps_and_heredocs(tmp_path):
    docs, out = generated(tmp_path)
    cluster = out["demo_cluster"]
    assert cluster.doc is not None and cluster.doc.label == "my-cluster"
    assert for_provider(cluster) == {
        "ha": True,
        "label": "my-cluster",
        "labels": {"cost-center": "42", "team": "web"},
        "passwordSecretRef": {"name": "example-cluster-secret", "key": "password"},
        "pool": [
            {
                "autoscaler": {"maxNodes": 10, "minNodes": 3},
                "count": 3,
                "nodeType": "g6-standard-2",
            },
            # var.pool_type is unknowable: the placeholder; the firewall ID is not a
            # reference here (none configured), so a placeholder too.
            {"firewallId": 1, "nodeType": "example"},
        ],
        "region": "us-east",
        "script": '#!/bin/sh\necho "hello"',
        "size": 3,
        "tags": ["prod", "blue"],
    }
    # Meta-arguments (provider, lifecycle) are Terraform's, not the resource's.
    assert cluster.unknown == []


def test_references_become_refs_to_the_target_example(tmp_path):
    _, out = generated(tmp_path)
    pool = out["demo_node_pool"]
    assert pool.resolved == 1
    assert for_provider(pool) == {
        "clusterIdRef": {"name": "example-cluster"},
        "nodeType": "g6-standard-4",
        "note": "example",  # an interpolation is no literal
    }
    assert pool.proposals == []


def test_unconfigured_references_are_proposed_not_configured(tmp_path):
    _, out = generated(tmp_path, references=False)
    pool = out["demo_node_pool"]
    assert pool.resolved == 0
    assert for_provider(pool)["clusterId"] == 1
    (proposal,) = pool.proposals
    assert (proposal.path, proposal.target_type, proposal.target_kind) == (
        "cluster_id",
        "demo_cluster",
        "Cluster",
    )
    assert proposal.where.endswith("node_pool.md:4")  # the block's first line
    assert "references: [{field: cluster_id, kind: Cluster, group: demo.m.jetgen.dev}]" in (
        proposal.text()
    )
    # "${x.y.id}" is the same reference; a block field's reference is proposed with its path.
    (fw,) = out["demo_firewall"].proposals
    assert fw.path == "cluster_id"
    (in_block,) = out["demo_cluster"].proposals
    assert (in_block.path, in_block.target_type) == ("pool.firewall_id", "demo_firewall")


def test_a_broken_block_is_reported_with_its_file_and_skipped(tmp_path):
    docs, out = generated(tmp_path)
    (warning,) = docs.warnings
    assert "demo_firewall.html.markdown:11: HCL example does not parse" in warning
    assert [r.label for r in docs.resources if r.type_name == "demo_firewall"] == ["fw"]
    fw = out["demo_firewall"]
    assert for_provider(fw)["label"] == "example"  # "fw-${...}": interpolation
    assert docs.pages == 3  # notes.txt is not a page


def test_a_kind_whose_only_block_is_broken_falls_back_to_the_placeholder(tmp_path):
    docs_dir = write_docs(tmp_path)
    (docs_dir / "node_pool.md").write_text(
        '```terraform\nresource "demo_node_pool" "p" {\n  cluster_id = [\n}\n```\n'
        '```hcl\nresource "demo_cluster" "c" {\n  label = "c"\n  region = "x"\n'
        "  retired_argument = 1\n}\n```\n"
    )
    info = model.build(schema.parse(SCHEMA, "schema.json"), ProviderConfiguration(name="demo"))
    docs = docexamples.read(docs_dir)
    assert any(w.startswith(f"{docs_dir / 'node_pool.md'}:2: HCL") for w in docs.warnings)
    out = examples.all_examples(info, docs, "demo")
    pool = next(k for k in info.kinds if k.terraform_type == "demo_node_pool")
    assert out["demo_node_pool"].doc is None
    assert out["demo_node_pool"].manifest == examples.example(pool)
    # The cluster's own page wins over another page's block of the same type.
    assert out["demo_cluster"].doc.label == "my-cluster"
    other = docexamples.Docs(resources=[r for r in docs.resources if r.label == "c"])
    (cluster,) = [e for t, e in examples.all_examples(info, other, "demo").items() if e.doc]
    assert cluster.unknown == ["retired_argument"]  # docs of another version: left out
    assert for_provider(cluster) == {"label": "c", "pool": [{"nodeType": "example"}], "region": "x"}


def test_kinds_without_docs_keep_the_placeholder_example(tmp_path):
    info = model.build(schema.parse(SCHEMA, "schema.json"), ProviderConfiguration(name="demo"))
    out = examples.all_examples(info, docexamples.Docs(), "demo")
    cluster = out["demo_cluster"]
    assert cluster.doc is None
    assert cluster.manifest == examples.example(_kind(info))
    assert for_provider(cluster) == {
        "label": "example",
        "pool": [{"nodeType": "example"}],
        "region": "example",
    }


def _kind(info):
    return next(k for k in info.kinds if k.terraform_type == "demo_cluster")


def test_decode_tells_literals_from_expressions():
    E = docexamples.Expression
    assert docexamples.decode('"a\\"b\\n"') == 'a"b\n'
    assert docexamples.decode('"$${not} %%{this}"') == "${not} %{this}"
    assert docexamples.decode("${var.x}") == E("var.x")
    assert docexamples.decode('"${demo_cluster.c.id}"') == E("demo_cluster.c.id")
    assert docexamples.decode('"a${b}c"') == E("a${b}c")
    assert docexamples.decode('${file("x")}') == E('file("x")')
    assert docexamples.decode([1, True, None]) == [1, True, None]


def test_docs_setting_resolves_against_the_repository(tmp_path, monkeypatch):
    docs = write_docs(tmp_path / "repo")
    where = tmp_path / "repo" / "jetgen.yaml"
    assert cli._docs_dir("docs/resources", tmp_path / "repo", where) == docs
    monkeypatch.setenv("DEMO_DOCS", str(docs))
    assert cli._docs_dir("${DEMO_DOCS}", tmp_path, where) == docs
    monkeypatch.delenv("DEMO_DOCS")
    for setting, message in (("${DEMO_DOCS}", "$DEMO_DOCS is not set"), ("nope", "not a dir")):
        try:
            cli._docs_dir(setting, tmp_path, where)
        except Exception as exc:
            assert str(exc).startswith(f"{where}: docs: ") and message in str(exc)
        else:
            raise AssertionError(f"{setting}: no error")


def test_generate_uses_the_docs_and_lists_proposals(tmp_path, capsys):
    import json

    schema_file = tmp_path / "schema.json"
    schema_file.write_text(json.dumps(SCHEMA))
    docs = write_docs(tmp_path)
    out = tmp_path / "out"
    code = cli.main(
        ["generate", "--schema", str(schema_file), "--output", str(out), "--docs", str(docs)]
        + ["--no-models"]
    )
    assert code == 0
    printed = capsys.readouterr()
    assert "examples from" in printed.out and "3 of 3 kinds" in printed.out
    assert printed.err.count("jetgen: proposed reference:") == 3
    assert "does not parse" in printed.err
    assert "region: us-east" in (out / "examples" / "demo" / "cluster.yaml").read_text()
