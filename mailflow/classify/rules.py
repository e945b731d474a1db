"""rules/*.yaml -> an ordered tuple of Rules and the attachment and submission policies; errors name
file and key.

A rules file holds a `rules:` list and, in at most one file each, an `attachments:` section and a
`submissions:` section (Ch. 4's checks, mailflow.submissions.policy).
Rules run in `order` (then file name, then position in the file); see the README.
"""

from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Collection
from pathlib import Path
from typing import Any

import yaml

from mailflow.classify.conditions import Condition, build
from mailflow.errors import ConfigError
from mailflow.submissions.policy import SubmissionPolicy, read_policy
from mailflow.validate import AttachmentPolicy

RULE_KEYS = {"name", "description", "order", "enabled", "intent", "category", "stop", "when"}
POLICY_KEYS = {
    "min_photo": "min_photo_width/min_photo_height",
    "max_attachment_mb": "max_attachment_bytes",
    "max_total_mb": "max_total_bytes",
    "allowed": "allowed_extensions",
    "max_pixels": "max_pixels",
    "certificate": "certificate_types",
}


@dataclass(frozen=True)
class Rule:
    name: str
    intent: str | None
    category: str | None
    order: int
    stop: bool
    conditions: tuple[Condition, ...]
    source: str  # "rules/20-intents.yaml#3"
    description: str = ""


@dataclass(frozen=True)
class RuleSet:
    rules: tuple[Rule, ...]
    policy: AttachmentPolicy
    files: tuple[Path, ...] = ()
    submissions: SubmissionPolicy = SubmissionPolicy()


def load_rules(folder: Path, intents: Collection[str] | None = None) -> RuleSet:
    """Load and check every rules file; raise ConfigError listing all problems at once.

    `intents` are those the workflows handle (the registry's); a rule naming another is an error.
    """
    if not folder.is_dir():
        raise ConfigError(str(folder), ["rules folder not found"])
    files = tuple(sorted(folder.glob("*.yaml")) + sorted(folder.glob("*.yml")))
    problems: list[str] = []
    rules: list[tuple[int, str, int, Rule]] = []
    policy: AttachmentPolicy | None = None
    policy_file: Path | None = None
    submissions: SubmissionPolicy | None = None
    submissions_file: Path | None = None
    for path in files:
        data = _read(path, problems)
        if data is None:
            continue
        unknown = set(data) - {"rules", "attachments", "submissions"}
        if unknown:
            problems.append(f"{path.name}: unknown section(s) {', '.join(sorted(unknown))}")
        if "attachments" in data:
            if policy_file is not None:
                problems.append(f"{path.name}: attachments: already set in {policy_file.name}")
            else:
                policy, policy_file = _policy(path.name, data["attachments"], problems), path
        if "submissions" in data:
            if submissions_file is not None:
                problems.append(f"{path.name}: submissions: already set in {submissions_file.name}")
            else:
                submissions, submissions_file = read_policy(path.name, data["submissions"], problems), path
        items = data.get("rules") or []
        if not isinstance(items, list):
            problems.append(f"{path.name}: rules: must be a list")
            continue
        for index, item in enumerate(items):
            rule = _rule(f"{path.name}: rules[{index}]", item, f"{path.name}#{index + 1}", problems, intents)
            if rule is not None:
                rules.append((rule.order, path.name, index, rule))
    names = [r.name for *_, r in rules]
    for name in sorted({n for n in names if names.count(n) > 1}):
        problems.append(f"rule name {name!r} is used more than once")
    if problems:
        raise ConfigError(str(folder), problems)
    ordered = tuple(r for *_, r in sorted(rules, key=lambda t: t[:3]))
    return RuleSet(ordered, policy or AttachmentPolicy(), files, submissions or SubmissionPolicy())


def _read(path: Path, problems: list[str]) -> dict[str, Any] | None:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(f"{path.name}: cannot read: {exc}")
        return None
    except yaml.YAMLError as exc:
        problems.append(f"{path.name}: not valid YAML: {exc}")
        return None
    if data is None:
        return {}
    if not isinstance(data, dict):
        problems.append(f"{path.name}: the top level must be a mapping with a `rules:` list")
        return None
    return data


def _rule(where: str, item: Any, source: str, problems: list[str], intents: Collection[str] | None) -> Rule | None:
    if not isinstance(item, dict):
        problems.append(f"{where}: must be a mapping")
        return None
    before = len(problems)
    for key in sorted(set(item) - RULE_KEYS):
        problems.append(f"{where}.{key}: unknown key (known: {', '.join(sorted(RULE_KEYS))})")
    name = item.get("name")
    if not isinstance(name, str) or not name.strip():
        problems.append(f"{where}.name: required, a non-empty string")
    else:
        where = f"{where} ({name})"
    intent = item.get("intent")
    if intent is not None and not isinstance(intent, str):
        problems.append(f"{where}.intent: must be a name")
    elif intent is not None and intents is not None and intent not in intents:
        known = ", ".join(sorted(intents))
        problems.append(f"{where}.intent: {intent!r} is handled by no workflow (known: {known})")
    category = item.get("category")
    if intent is None and category is None:
        problems.append(f"{where}: set an intent, a category, or both")
    order = item.get("order", 100)
    if not isinstance(order, int) or isinstance(order, bool):
        problems.append(f"{where}.order: must be a whole number")
    for flag in ("enabled", "stop"):
        if flag in item and not isinstance(item[flag], bool):
            problems.append(f"{where}.{flag}: must be true or false")
    when = item.get("when")
    conditions: list[Condition] = []
    if not isinstance(when, dict) or not when:
        problems.append(f"{where}.when: required, a mapping of conditions")
    else:
        for key, value in when.items():
            try:
                conditions.append(build(str(key), value))
            except ValueError as exc:
                problems.append(f"{where}.when.{key}: {exc}")
    if len(problems) > before or item.get("enabled", True) is False:
        return None
    return Rule(
        name=str(name),
        intent=intent,
        category=str(category) if category is not None else None,
        order=int(order),
        stop=bool(item.get("stop", True)),
        conditions=tuple(conditions),
        source=source,
        description=str(item.get("description", "")),
    )


def _policy(where: str, data: Any, problems: list[str]) -> AttachmentPolicy | None:
    if not isinstance(data, dict):
        problems.append(f"{where}: attachments: must be a mapping")
        return None
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        path = f"{where}: attachments.{key}"
        if key not in POLICY_KEYS:
            problems.append(f"{path}: unknown key (known: {', '.join(POLICY_KEYS)})")
        elif key == "min_photo":
            if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, int) and v > 0 for v in value)):
                problems.append(f"{path}: must be [width, height], e.g. [800, 600]")
            else:
                kwargs["min_photo_width"], kwargs["min_photo_height"] = value
        elif key in ("max_attachment_mb", "max_total_mb"):
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
                problems.append(f"{path}: must be a positive number of megabytes")
            else:
                kwargs[POLICY_KEYS[key]] = int(value * 1024 * 1024)
        elif key == "allowed":
            if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
                problems.append(f"{path}: must be a list of file extensions")
            else:
                kwargs["allowed_extensions"] = tuple(v.lower().lstrip(".") for v in value)
        elif key == "certificate":
            if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
                problems.append(f"{path}: must be a list of file types, e.g. [pdf, jpg, png]")
            else:
                aliases = {"jpg": "jpeg", "tif": "tiff"}
                kwargs["certificate_types"] = tuple(
                    aliases.get(v.lower().lstrip("."), v.lower().lstrip(".")) for v in value
                )
        elif key == "max_pixels":
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                problems.append(f"{path}: must be a positive whole number")
            else:
                kwargs["max_pixels"] = value
    return AttachmentPolicy(**kwargs)
