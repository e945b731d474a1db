"""Intent -> workflow handler, one table built in one place that refuses duplicates.

A handler records what the intent means in the same transaction as the message's state.
Issues after the foundation grow these into full workflows (acknowledgements, meetings,
dues); until then, intents without a workflow are recorded on the message and processed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from mailflow.workflows import bounces, registration, submission

if TYPE_CHECKING:
    from mailflow.steps import Context, Outcome

Handler = Callable[["Context"], None]
Finisher = Callable[["Context", "Outcome"], None]


def record_only(ctx: Context) -> None:
    """The intent is stored on the message itself; nothing else to record yet."""


def _table(entries: Iterable[tuple[str, Handler]]) -> dict[str, Handler]:
    table: dict[str, Handler] = {}
    for intent, handler in entries:
        if intent in table:
            raise ValueError(f"two handlers for intent {intent!r}")
        table[intent] = handler
    return table


HANDLERS: dict[str, Handler] = _table(
    [
        ("submission", submission.handle),
        ("registration", registration.handle),
        ("liaison_change", registration.handle),
        ("rsvp", record_only),
        ("dues_receipt", record_only),
        ("request_response", record_only),
        ("command", record_only),
    ]
)

# Intents a sender we do not know may use: anyone may ask to register.
OPEN_TO_UNKNOWN_SENDERS = frozenset({"registration"})

# What runs for every message once its outcome is known, in the transaction that records it.
# The application adds the replies (workflows.replies), which need the templates.
FINISHERS: tuple[Finisher, ...] = (bounces.record,)
