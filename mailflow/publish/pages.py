"""The publication templates (mailflow/publish/templates): HTML pages, every value autoescaped.

A submission's title and text come from mail; they are only ever values in these templates, so a
`<script>` in a liaison's mail is printed as text, never run. Kept apart from the letters'
renderer (outbound.render): pages have no locales, no subjects and no samples.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

FOLDER = Path(str(resources.files("mailflow.publish") / "templates"))

_env = Environment(
    loader=FileSystemLoader(FOLDER),
    autoescape=select_autoescape(default=True, default_for_string=True),
    undefined=StrictUndefined,
    keep_trailing_newline=True,
    trim_blocks=True,
    lstrip_blocks=True,
)


def page(name: str, **values: Any) -> bytes:
    """The template `name` rendered with `values`, as UTF-8."""
    return _env.get_template(name).render(**values).encode("utf-8")


def asset(name: str) -> bytes:
    """A file shipped beside the templates (the style sheets), as it is."""
    return (FOLDER / name).read_bytes()
