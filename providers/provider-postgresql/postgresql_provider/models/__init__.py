"""Pydantic models of every kind, one module per API group."""
