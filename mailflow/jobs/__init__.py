"""The schedule: one table of jobs, each a workflow function of (store, slot) that queues through dedupe keys.

Later workflows (reminders, deadlines, the dues campaign, the evaluation) add their rows here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mailflow.jobs.scheduler import Job, JobContext, Scheduler
from mailflow.workflows.digest import Digest

if TYPE_CHECKING:
    from mailflow.config import Settings
    from mailflow.outbound.render import Renderer

__all__ = ["Job", "JobContext", "Scheduler", "job_table"]


def job_table(settings: Settings, renderer: Renderer) -> list[Job]:
    chamber = settings.chamber
    digest = Digest(
        renderer,
        settings.digest,
        secretariat=chamber.secretariat,
        zone=chamber.zone,
        message_id_domain=chamber.message_id_domain,
    )
    at = settings.digest.at
    return [
        # One digest a day, even on the day `digest.at` is moved later.
        Job("digest", lambda s: s.every().day.at(at), digest.run, once_a_day=True),
    ]
