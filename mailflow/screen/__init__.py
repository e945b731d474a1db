"""Screening before classification: automatic replies and bounces are recognised and never answered."""

from mailflow.screen.autoreply import auto_reply_reason, bounce_reason

__all__ = ["auto_reply_reason", "bounce_reason"]
