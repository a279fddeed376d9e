"""The one Jinja environment over ``jetgen.templates``: every text file the generator
renders (reference pages, package modules, Dockerfile, scaffold files) goes through
:func:`render`, with ``StrictUndefined`` so a missing value fails loudly."""

from __future__ import annotations

from typing import Any

import jinja2

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("jetgen.templates", ""),
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
    autoescape=False,  # Markdown, Python, Dockerfiles: never HTML
)


def render(template: str, **values: Any) -> str:
    """Render ``template`` (a path inside ``templates/``, e.g. ``scaffold/Makefile.j2``)."""
    return _ENV.get_template(template).render(**values)
