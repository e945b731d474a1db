"""Text from mail made storable: PostgreSQL refuses NUL, and no driver encodes an unpaired surrogate.

Mail puts both into our strings: a NUL in a Subject or From, and undecodable bytes kept as
surrogate escapes. One such value used to fail its whole batch (and on PostgreSQL block the
queue behind it), so every statement's text parameters are cleaned on their way to the
driver, whichever code wrote them (ORM or Core). Each offending character becomes U+FFFD;
the raw bytes stay untouched in the archive.
"""

from __future__ import annotations

import json
import re
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

REPLACEMENT = "\ufffd"
_REFUSED = re.compile("[\x00\ud800-\udfff]")


def storable(value: str) -> str:
    """The text with each NUL and unpaired surrogate replaced; the same object when there is none."""
    if value.isascii():
        return value.replace("\x00", REPLACEMENT) if "\x00" in value else value
    return _REFUSED.sub(REPLACEMENT, value)


def storable_json(value: Any) -> str:
    """The JSON columns' serializer: the same cleaning for every string inside."""
    return json.dumps(_deep(value), ensure_ascii=False)


def _deep(value: Any) -> Any:
    if isinstance(value, str):
        return storable(value)
    if isinstance(value, dict):
        return {storable(str(k)): _deep(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_deep(v) for v in value]
    return value


def clean_parameters(parameters: Any) -> Any:
    """Statement parameters as the DB-API takes them (a dict, a sequence, or many of either).
    Many rows often share their texts (one letter to thousands): each text is cleaned once."""
    if isinstance(parameters, list):
        seen: dict[int, str] = {}  # by identity: every text here lives as long as `parameters`
        return [_clean_row(p, seen) for p in parameters]
    return _clean_row(parameters, {})


def _clean_row(parameters: Any, seen: dict[int, str]) -> Any:
    if isinstance(parameters, dict):
        return {k: _cleaned(v, seen) if isinstance(v, str) else v for k, v in parameters.items()}
    if isinstance(parameters, tuple):
        return tuple(_cleaned(v, seen) if isinstance(v, str) else v for v in parameters)
    if isinstance(parameters, list):
        return clean_parameters(parameters)
    return parameters


def _cleaned(value: str, seen: dict[int, str]) -> str:
    found = seen.get(id(value))
    if found is None:
        found = seen[id(value)] = storable(value)
    return found


def install(engine: Engine) -> None:
    """Clean every statement's parameters on `engine` before the driver sees them."""

    @event.listens_for(engine, "before_cursor_execute", retval=True)
    def _clean(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> Any:
        return statement, clean_parameters(parameters)
