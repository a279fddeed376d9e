"""Where the generator tests find their input schemas (read in place, never copied)."""

import os
from pathlib import Path

from tests.testbed.pins import shared_dir

# $JETGEN_SHARED_SCHEMAS, else schemas/ of the shared folder found next to the repository.
SHARED_SCHEMAS = Path(os.environ.get("JETGEN_SHARED_SCHEMAS") or shared_dir() / "schemas")
EVERY_SHAPE = Path(__file__).resolve().parents[1] / "data" / "every-shape.json"
LINODE = SHARED_SCHEMAS / "linode-2.37.0.json"
AWS = SHARED_SCHEMAS / "aws-4.15.1.json"
