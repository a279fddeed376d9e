"""The generator's model of the every-shape schema, for a given provider configuration."""

from __future__ import annotations

import json

from jetgen.generator import model
from jetgen.generator import schema as schema_mod
from jetgen.runtime.config import ProviderConfiguration

from tests.generator.paths import EVERY_SHAPE

PROVIDER = "registry.terraform.io/example/shapes"


def info_for(config: ProviderConfiguration):
    parsed = schema_mod.parse(json.loads(EVERY_SHAPE.read_text()), str(EVERY_SHAPE), PROVIDER)
    return model.build(parsed, config, "jetgen.yaml")
