"""Templates: one text per kind gives subject, text and HTML; sandboxed, strict, escaped, one-line subjects."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from builders import REPO

from mailflow.outbound import Renderer, check_templates
from mailflow.outbound.render import blocks
from mailflow.workflows.registry import standard_samples

SAMPLES = standard_samples()

CHAMBER = {
    "name": "成都市机械制造业商会",
    "signature": "成都市机械制造业商会秘书处",
    "address": "成都市武侯区人民南路四段1号",
    "phone": "028-12345678",
    "footer": "",
}
TEMPLATES = REPO / "templates"


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
def test_every_shipped_kind_renders_in_both_locales(locale: str) -> None:
    assert check_templates(TEMPLATES, [locale], CHAMBER, SAMPLES) == []
    assert Renderer(TEMPLATES, locale, CHAMBER).kinds() == sorted(SAMPLES)


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
def test_blocks_are_separated_by_one_blank_line_whatever_the_loops_leave(locale: str) -> None:
    renderer = Renderer(TEMPLATES, locale, CHAMBER)
    for kind in renderer.kinds():
        text = renderer.render(kind, SAMPLES[kind], sent_on="2026-11-24").text
        assert "\n\n\n" not in text, kind


def test_a_submission_acknowledgement_reads_as_a_chinese_office_writes() -> None:
    out = Renderer(TEMPLATES, "zh-CN", CHAMBER).render(
        "ack_submission", SAMPLES["ack_submission"], sent_on="2026年11月24日"
    )
    assert out.subject == "【已收到】BS-2026-0042 我公司参加2026中国国际机床展览会"
    assert out.text.startswith("王芳：\n\n您好！贵单位报送的信息已收到并登记，登记编号为 BS-2026-0042。")
    assert "- 展会现场照片.jpg（1600×1200 像素）\n- 新闻稿.docx\n" in out.text
    assert "成都市机械制造业商会秘书处\n2026年11月24日\n地址：成都市武侯区人民南路四段1号" in out.text
    # The HTML part says the same things, set as paragraphs, a table and a list.
    assert "<th" in out.html and ">报送单位</th>" in out.html and "<td" in out.html
    assert "<li>展会现场照片.jpg（1600×1200 像素）</li>" in out.html


def test_data_is_escaped_in_html_and_cannot_break_a_subject() -> None:
    hostile = {**SAMPLES["ack_submission"], "title": "新闻\r\nBcc: everyone@example.org <script>alert(1)</script>"}
    out = Renderer(TEMPLATES, "zh-CN", CHAMBER).render("ack_submission", hostile, sent_on="2026-11-24")
    assert "\r" not in out.subject and "\n" not in out.subject
    assert out.subject.endswith("新闻 Bcc: everyone@example.org <script>alert(1)</script>")
    assert "<script>" not in out.html and "&lt;script&gt;alert(1)&lt;/script&gt;" in out.html


def test_body_markup_becomes_paragraphs_lists_and_tables() -> None:
    parsed = blocks("甲：\n\n第一段第一行\n第一段第二行\n\n- 一\n- 二\n\n单位：宏达\n编号：BS-1")
    assert [(b.kind, b.lines) for b in parsed[:3]] == [
        ("p", ("甲：",)),
        ("p", ("第一段第一行", "第一段第二行")),
        ("ul", ("一", "二")),
    ]
    assert parsed[3].kind == "table" and parsed[3].pairs == (("单位", "宏达"), ("编号", "BS-1"))
    (grid,) = blocks("| 编号 | 事项 |\n| DJ-2026-0007 | 李明 |")
    assert grid.kind == "grid" and grid.rows == (("编号", "事项"), ("DJ-2026-0007", "李明"))


@pytest.fixture
def editable(tmp_path: Path) -> Path:
    folder = tmp_path / "templates"
    shutil.copytree(TEMPLATES, folder)
    return folder


def test_an_undefined_name_is_reported_with_template_and_line(editable: Path) -> None:
    path = editable / "zh-CN" / "rejection.j2"
    path.write_text(path.read_text(encoding="utf-8").replace("{{ name }}：", "{{ nmae }}："), encoding="utf-8")
    (problem,) = check_templates(editable, ["zh-CN"], CHAMBER, SAMPLES)
    assert problem.template.endswith("zh-CN/rejection.j2") and problem.line == 3
    assert "'nmae' is undefined" in problem.message


def test_an_error_in_the_block_template_names_it_and_its_line(editable: Path) -> None:
    """GIVEN a mistake in _block.html.j2 (which draws every paragraph of every letter), WHEN the
    templates are checked, THEN each problem names that file and line, not the kind rendered."""
    path = editable / "zh-CN" / "_block.html.j2"
    path.write_text(path.read_text(encoding="utf-8").replace("block.lines", "block.lnies"), encoding="utf-8")
    (problem,) = check_templates(editable, ["zh-CN"], CHAMBER, SAMPLES)  # once, not once per kind
    assert problem.template.endswith("zh-CN/_block.html.j2") and problem.line == 15
    assert "has no attribute 'lnies'" in problem.message
    (editable / "en" / "_block.html.j2").unlink()
    assert any(p.message == "layout missing" for p in check_templates(editable, ["en"], CHAMBER, SAMPLES))


def test_a_syntax_error_is_reported_with_template_and_line(editable: Path) -> None:
    path = editable / "en" / "unknown_sender.j2"
    path.write_text(path.read_text(encoding="utf-8").replace("{{ email }}", "{{ email }"), encoding="utf-8")
    (problem,) = check_templates(editable, ["en"], CHAMBER, SAMPLES)
    assert problem.template.endswith("en/unknown_sender.j2") and problem.line == 5


def test_the_sandbox_refuses_reaching_into_python(editable: Path) -> None:
    path = editable / "zh-CN" / "unknown_sender.j2"
    text = path.read_text(encoding="utf-8").replace("您好！", "{{ email.__class__.__mro__[1].__subclasses__() }}")
    path.write_text(text, encoding="utf-8")
    (problem,) = check_templates(editable, ["zh-CN"], CHAMBER, SAMPLES)
    assert problem.template.endswith("zh-CN/unknown_sender.j2") and "unsafe" in problem.message


def test_mailflow_check_names_the_broken_template_and_exits_2(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "mailflow", "init"], cwd=tmp_path, check=True, capture_output=True)
    path = tmp_path / "templates" / "zh-CN" / "ack_registration.j2"
    path.write_text(path.read_text(encoding="utf-8").replace("{{ reference }}", "{{ referense }}"), encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "mailflow", "check"], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert result.returncode == 2
    assert "zh-CN/ack_registration.j2 line 1: 'referense' is undefined" in result.stderr


PHISHING = "王芳\n\n紧急通知：会费账户已变更\n\n- 户名：某某贸易公司\n- 账号：6222 0000 1111\n\n| 项目 | 金额 |\n| 会费 | 5000 |\n\n联系人：张三\n电话：13800000000"


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
def test_a_senders_text_is_one_plain_line_in_both_parts_of_every_kind(locale: str) -> None:
    """GIVEN values holding paragraphs, list items, table rows and name-value lines WHEN any kind
    renders THEN each value stays one line of the template's own block: no list, table or paragraph."""
    renderer = Renderer(TEMPLATES, locale, CHAMBER)
    for kind in renderer.kinds():
        hostile = {key: (PHISHING if isinstance(value, str) else value) for key, value in SAMPLES[kind].items()}
        out = renderer.render(kind, hostile, sent_on="2026-11-24")
        plain = renderer.render(kind, SAMPLES[kind], sent_on="2026-11-24")
        assert not any(
            line.startswith(("- 户名", "- 账号", "| 项目", "| 会费", "紧急通知", "联系人", "电话：138"))
            for line in out.text.splitlines()
        ), kind
        assert out.text.count("\n") == plain.text.count("\n"), kind  # no value added a line
        assert out.html.count("<li>") == plain.html.count("<li>"), kind
        assert out.html.count("<tr>") == plain.html.count("<tr>"), kind
        assert out.html.count("<p>") == plain.html.count("<p>"), kind
        assert "\n" not in out.subject


def test_values_are_cut_to_a_sane_length_and_lose_invisible_characters() -> None:
    renderer = Renderer(TEMPLATES, "zh-CN", CHAMBER)
    values = {**SAMPLES["ack_submission"], "title": "很长" * 500, "liaison_name": "王芳\u202egpj.exe\u2028\x00"}
    out = renderer.render("ack_submission", values, sent_on="2026-11-24")
    title_line = next(line for line in out.text.splitlines() if line.startswith("信息标题"))
    assert len(title_line) < 220 and title_line.endswith("…")
    assert out.text.startswith("王芳 gpj.exe：")
    assert "\u202e" not in out.html and "\u202e" not in out.text and "\x00" not in out.text


def test_markup_in_a_value_is_text_in_the_html_part() -> None:
    values = {**SAMPLES["ack_submission"], "title": '<a href="http://evil.example">缴费</a>'}
    out = Renderer(TEMPLATES, "zh-CN", CHAMBER).render("ack_submission", values, sent_on="2026-11-24")
    assert "<a href" not in out.html and "&lt;a href=&#34;http://evil.example&#34;&gt;" in out.html
