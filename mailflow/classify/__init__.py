"""Classification by the rules in rules/*.yaml, which the secretariat edits without code."""

from mailflow.classify.conditions import Facts
from mailflow.classify.engine import Classification, RuleResult, classify, evaluate
from mailflow.classify.rules import Rule, RuleSet, load_rules

__all__ = [
    "Classification",
    "Facts",
    "Rule",
    "RuleResult",
    "RuleSet",
    "classify",
    "evaluate",
    "load_rules",
]
