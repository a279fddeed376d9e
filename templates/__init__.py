"""Jinja templates and static files used by the generator."""
