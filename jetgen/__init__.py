"""jetgen: turn any Terraform provider into a Kubernetes provider."""

__version__ = "0.1.0"
