"""Outgoing mail: templates rendered into subject, text and HTML (and, next, the outbox and its transports)."""

from mailflow.outbound.render import Rendered, Renderer, TemplateProblem, check_templates

__all__ = ["Rendered", "Renderer", "TemplateProblem", "check_templates"]
