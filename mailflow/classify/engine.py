"""Run the rules in order over one message and say which rule decided, and why the others did not."""

from __future__ import annotations

from dataclasses import dataclass

from mailflow.classify.conditions import Facts
from mailflow.classify.rules import Rule


@dataclass(frozen=True)
class RuleResult:
    rule: Rule
    matched: bool
    reasons: tuple[str, ...]  # each condition's explanation; on a miss, the failing one first


@dataclass(frozen=True)
class Classification:
    intent: str
    category: str | None
    rule: str | None  # the rule that set the intent
    results: tuple[RuleResult, ...]  # every rule looked at, in order (for `rules test`)


def evaluate(rule: Rule, facts: Facts) -> RuleResult:
    """All conditions of a rule must hold; stop at the first that does not."""
    reasons: list[str] = []
    for condition in rule.conditions:
        hit = condition.check(facts)
        if not hit.matched:
            return RuleResult(rule, False, (f"{condition.name}: {hit.why}", *reasons))
        reasons.append(f"{condition.name}: {hit.why}")
    return RuleResult(rule, True, tuple(reasons))


def classify(rules: tuple[Rule, ...], facts: Facts) -> Classification:
    """A matching rule sets what it names (intent, category); `stop` ends the run.

    A later matching rule overrides what an earlier non-stopping rule set; no match at all
    leaves the intent `unknown`, which the pipeline holds for the secretariat.
    """
    intent, category, decided_by = "unknown", None, None
    results = []
    for rule in rules:
        result = evaluate(rule, facts)
        results.append(result)
        if not result.matched:
            continue
        if rule.intent is not None:
            intent, decided_by = rule.intent, rule.name
        if rule.category is not None:
            category = rule.category
        if rule.stop:
            break
    return Classification(intent, category, decided_by, tuple(results))
