"""Where the generator tests find their input schemas (read in place, never copied)."""

from pathlib import Path

SHARED_SCHEMAS = Path("/work/shared/schemas")
EVERY_SHAPE = Path(__file__).resolve().parents[1] / "data" / "every-shape.json"
LINODE = SHARED_SCHEMAS / "linode-2.37.0.json"
AWS = SHARED_SCHEMAS / "aws-4.15.1.json"
