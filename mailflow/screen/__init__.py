"""Screening before classification: automatic replies, bounces and machine reports are recognised and never answered."""

from mailflow.screen.autoreply import auto_reply_reason, bounce_reason
from mailflow.screen.reports import machine_report_reason

__all__ = ["auto_reply_reason", "bounce_reason", "machine_report_reason"]
