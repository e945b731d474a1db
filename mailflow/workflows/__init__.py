"""The regulation's workflows, each one `Workflow` value (workflows/contract.py) listed in the
registry (workflows/registry.py), and the finishers that run for every message once its
outcome is known, in the transaction that records it."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from mailflow.workflows import bounces

if TYPE_CHECKING:
    from mailflow.context import Context
    from mailflow.workflows.contract import Handled

Finisher = Callable[["Context", "Handled"], None]

# The application adds the replies (workflows.replies), which need the templates.
FINISHERS: tuple[Finisher, ...] = (bounces.record,)
