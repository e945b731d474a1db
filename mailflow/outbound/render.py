"""Templates -> subject, text and HTML; the only module that imports jinja2.

Each message kind is written once, in `templates/<locale>/<kind>.j2`, as a `subject` block and
a `body` block of plain text: paragraphs separated by blank lines, "- " for list items, and
"名称：值" (or "name: value") lines for a two-column table, and "| a | b |" lines for a table
whose first row is the heading. The text part is that body in the
text layout; the HTML part is the same body cut into those blocks, each drawn, escaped, by
`_block.html.j2` and set in the HTML layout. So the secretariat edits one text per kind, and the
two parts can never say different things. Templates run in a sandbox, undefined names are
errors, and a subject is always one line.

Every value a template prints is data, much of it written by strangers (display names,
subjects, file names): it becomes one plain line of at most `MAX_VALUE` characters, and it
cannot add structure. The body is first rendered with a placeholder for each value and cut into
blocks, and only then are the values put in; so a subject holding blank lines, "- " items or
"| a | b |" rows stays text inside the template's own paragraph, in both parts. Most blocks are
then the same in every letter of a kind, so each distinct block is drawn once and kept.
"""

from __future__ import annotations

from collections.abc import Mapping

import re
import traceback
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import FileSystemLoader, StrictUndefined, TemplateError, TemplateSyntaxError, pass_context
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup, escape

LAYOUT_TEXT = "_layout.txt.j2"
LAYOUT_HTML = "_layout.html.j2"
BLOCK_HTML = "_block.html.j2"
SAMPLE_DATE = "2026-11-24"
_BLANK_LINES = re.compile(r"\n[ \t]*(?:\n[ \t]*){2,}")
_PARAGRAPHS = re.compile(r"\n\s*\n")
_PAIR = re.compile(r"^\s*([^：:]{1,30}?)\s*[：:]\s*(.+)$")
MAX_VALUE = 200  # characters of one printed value; a subject or a file name is cut with "…"
_VALUES = "mailflow_values"  # the context entry that collects a render's printed values
_SLOT = re.compile("\ue000(\\d+)\ue001")  # a value's place in the body, in private-use characters
# Characters that would let a value break its line or reorder what a reader sees (bidi overrides).
_INVISIBLE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


@dataclass(frozen=True)
class Block:
    kind: str  # "p" | "ul" | "table" (name: value) | "grid" (| a | b |, the first row the heading)
    lines: tuple[str, ...]
    pairs: tuple[tuple[str, str], ...] = ()
    rows: tuple[tuple[str, ...], ...] = ()


_BLOCK_FIELDS = frozenset(Block.__dataclass_fields__)


class _Sandbox(SandboxedEnvironment):
    """The sandbox, with the fields of our own `Block`s read directly: they are plain data, and
    the layouts read them for every paragraph of every letter."""

    def getattr(self, obj: Any, attribute: str) -> Any:
        if type(obj) is Block and attribute in _BLOCK_FIELDS:
            return getattr(obj, attribute)
        return super().getattr(obj, attribute)


@dataclass(frozen=True)
class TemplateProblem:
    template: str  # templates/zh-CN/ack_submission.j2
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.template} line {self.line}" if self.line else self.template
        return f"{where}: {self.message}"


@dataclass
class Renderer:
    """Renders the kinds of one locale; `chamber` holds what the layouts print (name, address, …)."""

    folder: Path  # templates/
    locale: str
    chamber: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        loader = FileSystemLoader(str(self.folder / self.locale))
        options: dict[str, Any] = {
            "loader": loader,
            "undefined": StrictUndefined,
            "trim_blocks": True,
            "lstrip_blocks": True,
            "keep_trailing_newline": False,
            "auto_reload": False,  # a changed template is read at the next start, not checked on every letter
        }
        self._text = _Sandbox(autoescape=False, finalize=_placeholder, **options)
        self._html = _Sandbox(autoescape=True, **options)
        self._drawn: dict[Block, Markup] = {}  # each distinct block in HTML, drawn once

    def kinds(self) -> list[str]:
        return sorted(p.stem for p in (self.folder / self.locale).glob("*.j2") if not p.name.startswith("_"))

    def render(self, kind: str, context: dict[str, Any], *, sent_on: str) -> Rendered:
        """`sent_on`: the date the layouts print under the signature, in the chamber's zone."""
        template = self._text.get_template(f"{kind}.j2")
        values: list[str] = []
        ctx = template.new_context({**context, "chamber": self.chamber, _VALUES: values})
        try:
            subject = one_line("".join(template.blocks["subject"](ctx)))
            # Loops in a template leave runs of blank lines; one blank line separates blocks.
            body = _BLANK_LINES.sub("\n\n", "".join(template.blocks["body"](ctx))).strip("\n")
        except TemplateError:
            # Blocks called one by one skip Jinja's own error handling, which puts the
            # template's file and line (not the compiled code's) into the traceback.
            self._text.handle_exception()
        subject = _fill(subject, values)
        page = {"subject": subject, "chamber": self.chamber, "sent_on": sent_on}
        text = self._text.get_template(LAYOUT_TEXT).render(body=_fill(body, values), **page)
        drawn = [_fill_html(self._draw(block), values) for block in blocks(body)]
        html = self._html.get_template(LAYOUT_HTML).render(blocks=drawn, **page)
        return Rendered(subject, text.strip("\n") + "\n", html)

    def _draw(self, block: Block) -> Markup:
        drawn = self._drawn.get(block)
        if drawn is None:
            if len(self._drawn) >= 4096:  # the data's own paragraphs differ in every letter
                self._drawn.clear()
            drawn = Markup(self._html.get_template(BLOCK_HTML).render(block=block).strip("\n"))
            self._drawn[block] = drawn
        return drawn


@pass_context  # a context-free finalize would be applied to constants at compile time, outside any render
def _placeholder(context: Context, value: Any) -> Any:
    """A printed value's placeholder in a letter's body; outside one (the layouts) the value itself."""
    values = context.parent.get(_VALUES)
    if values is None:
        return value
    values.append(plain_line(value))
    return f"\ue000{len(values) - 1}\ue001"


def plain_line(value: Any) -> str:
    """Data as one plain line: no line breaks, control or bidi characters; cut at MAX_VALUE."""
    text = str(value)
    # isprintable() is False for every line break, control, bidi and non-ASCII space: the common case is quick.
    if text.isprintable() and len(text) <= MAX_VALUE and "  " not in text and text.strip(" ") == text:
        return text
    text = " ".join(_INVISIBLE.sub(" ", text).split())
    return text if len(text) <= MAX_VALUE else text[: MAX_VALUE - 1] + "…"


def _fill(marked: str, values: list[str]) -> str:
    if "\ue000" not in marked:
        return marked
    return _SLOT.sub(lambda m: values[int(m.group(1))], marked)


def _fill_html(drawn: Markup, values: list[str]) -> Markup:
    if "\ue000" not in drawn:
        return drawn
    return Markup(_SLOT.sub(lambda m: str(escape(values[int(m.group(1))])), drawn))


def local_date(when: datetime, zone: ZoneInfo, locale: str) -> str:
    """A date as the letters print it, in the chamber's zone: 2026年11月24日 or 2026-11-24."""
    local = when.astimezone(zone)
    return local.strftime("%Y-%m-%d") if locale.startswith("en") else f"{local.year}年{local.month}月{local.day}日"


def local_time(when: datetime, zone: ZoneInfo, locale: str) -> str:
    """A date and time as the letters print them: 2026年11月24日 09:30 or 2026-11-24 09:30."""
    return f"{local_date(when, zone, locale)} {when.astimezone(zone):%H:%M}"


def one_line(value: str) -> str:
    """A header value from data: CR, LF and every other run of white space become one space."""
    return " ".join(value.split())


def blocks(body: str) -> list[Block]:
    """Cut a body into paragraphs, lists and key-value tables (see the module's docstring)."""
    return [block for chunk in _PARAGRAPHS.split(body.strip()) if (block := _block(chunk)) is not None]


@lru_cache(maxsize=1024)  # most paragraphs of a kind are the same in every letter
def _block(chunk: str) -> Block | None:
    lines = tuple(line.rstrip() for line in chunk.splitlines() if line.strip())
    if not lines:
        return None
    if all(line.lstrip().startswith("|") for line in lines):
        rows = tuple(tuple(cell.strip() for cell in line.strip().strip("|").split("|")) for line in lines)
        return Block("grid", lines, rows=rows)
    if all(line.lstrip().startswith(("- ", "· ")) for line in lines):
        return Block("ul", tuple(line.lstrip()[2:].strip() for line in lines))
    if len(lines) > 1 and all(_PAIR.match(line) for line in lines):
        pairs = tuple((m.group(1), m.group(2)) for m in (_PAIR.match(line) for line in lines) if m)
        return Block("table", lines, pairs)
    return Block("p", lines)


def check_templates(
    folder: Path, locales: list[str], chamber: dict[str, Any], samples: Mapping[str, Mapping[str, Any]]
) -> list[TemplateProblem]:
    """Render every kind of every locale with sample data; one problem per template that fails."""
    problems: list[TemplateProblem] = []
    for locale in locales:
        base = folder / locale
        if not base.is_dir():
            problems.append(TemplateProblem(str(base), None, "template folder not found"))
            continue
        renderer = Renderer(folder, locale, chamber)
        for layout in (LAYOUT_TEXT, LAYOUT_HTML, BLOCK_HTML):
            if not (base / layout).exists():
                problems.append(TemplateProblem(str(base / layout), None, "layout missing"))
        for kind in renderer.kinds():
            if kind not in samples:
                problems.append(TemplateProblem(str(base / f"{kind}.j2"), None, "no sample data: unknown kind"))
                continue
            try:
                renderer.render(kind, dict(samples[kind]), sent_on=SAMPLE_DATE)
            except TemplateSyntaxError as exc:
                problems.append(
                    TemplateProblem(str(base / (exc.name or f"{kind}.j2")), exc.lineno, exc.message or str(exc))
                )
            except (TemplateError, KeyError, TypeError, ValueError) as exc:
                name, line = _template_frame(exc, base / f"{kind}.j2")
                problems.append(TemplateProblem(name, line, _describe(exc)))
        for kind in sorted(set(samples) - set(renderer.kinds())):
            problems.append(TemplateProblem(str(base / f"{kind}.j2"), None, "template missing"))
    return list(dict.fromkeys(problems))  # a shared template's mistake shows in every kind: once is enough


def _template_frame(exc: BaseException, default: Path) -> tuple[str, int | None]:
    """Jinja puts the template's own file and line into the traceback; find the innermost."""
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if frame.filename.endswith(".j2"):
            return frame.filename, frame.lineno
    return str(default), None


def _describe(exc: BaseException) -> str:
    if isinstance(exc, KeyError):  # a missing block
        return f"block {exc.args[0]!r} missing (each kind needs a subject and a body block)"
    return str(exc) or type(exc).__name__
