"""Runtime: the generic kopf controller that reconciles generated kinds with Terraform."""
