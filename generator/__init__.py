"""Generator: provider schema -> intermediate model -> CRDs, models, examples, docs."""
