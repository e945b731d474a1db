"""The publication tests' fixtures (`published`, `cli`, defined in adopted.py beside the builders they use),
and `typesetting`: the journal's PDF needs Pango and a CJK font from Debian's packages."""

from __future__ import annotations

import os

import pytest
from adopted import cli, published

from mailflow.errors import PublishError
from mailflow.publish import pdf

__all__ = ["cli", "published", "typesetting"]


@pytest.fixture
def typesetting() -> None:
    """Skip where the machine cannot typeset (no Pango, no CJK font), saying what to install; in CI
    (.ci/setup-services installs both) fail instead."""
    try:
        pdf.version_key()
        pdf.cjk_fonts()
    except PublishError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must typeset the journal: {exc}")
        pytest.skip(str(exc))
