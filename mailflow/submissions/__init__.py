"""Ch. 4's checks on a submission: its policy, the event's date, the unit head's review. Pure functions."""

from mailflow.submissions.dates import Found, days_late, event_date
from mailflow.submissions.policy import SubmissionPolicy, read_policy
from mailflow.submissions.review import confirms, is_revision, own_text, shown_review

__all__ = [
    "Found",
    "SubmissionPolicy",
    "confirms",
    "days_late",
    "event_date",
    "is_revision",
    "own_text",
    "read_policy",
    "shown_review",
]
