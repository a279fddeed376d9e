"""A client of the Terraform plugin protocol: start a provider binary, speak gRPC to it.

A pure protocol client: it knows provider binaries, schemas, cty values and plans, and
nothing of managed resources, reconciling or the CLI driver (it never imports them; the
poll that uses it is ``jetgen.runtime.poll``).  See docs/plugin-protocol.md.
"""
