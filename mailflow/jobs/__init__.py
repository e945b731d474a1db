"""The schedule: jobs that workflows declare (see workflows.contract), run once per slot."""

from __future__ import annotations

from mailflow.jobs.scheduler import Job, JobContext, Scheduler

__all__ = ["Job", "JobContext", "Scheduler"]
