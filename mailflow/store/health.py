"""The daemon's word on the store, in a small file beside the data: `status` reads it without the database.

While the database is locked or gone, `mailflow status` must still answer, and say why the
daemon waits; so the daemon writes what it knows here at each change, and never depends on it.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mailflow.store.blobs import alive

HEALTH_FILE = "health.json"


def write_health(data_dir: Path, store_fault: str | None) -> None:
    """Best effort: a read-only or full data folder is often the very fault being reported."""
    path = data_dir / HEALTH_FILE
    record = {"pid": os.getpid(), "store_fault": store_fault, "at": datetime.now(UTC).isoformat()}
    tmp = path.with_name(f".{HEALTH_FILE}.{os.getpid()}.tmp")
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(record, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)


def read_health(data_dir: Path) -> dict[str, Any] | None:
    """What a running daemon last wrote; None when there is no such file or its daemon is gone."""
    try:
        record = json.loads((data_dir / HEALTH_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or not alive(int(record.get("pid") or 0)):
        return None
    return record
