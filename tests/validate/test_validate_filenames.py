"""sanitize_filename: a name safe on any filesystem and in a reply, keeping Chinese and the extension."""

from __future__ import annotations

import pytest

from mailflow.validate import sanitize_filename


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("展会现场照片.jpg", "展会现场照片.jpg"),
        ("../../etc/passwd", "passwd"),
        ("C:\\x\\CON.txt", "_CON.txt"),
        ("nul", "_nul"),
        ("com1.tar.gz", "_com1.tar.gz"),
        ("CONTRACT.pdf", "CONTRACT.pdf"),  # only the exact reserved stems are reserved
        ("..\\..\\secret\\.bashrc", "bashrc"),
        ("...hidden.doc", "hidden.doc"),
        ("report.pdf. . ", "report.pdf"),
        ("a\x00b\x07c.jpg", "abc.jpg"),
        ("报告\r\n总结.pdf", "报告 总结.pdf"),
        ("会议\t\t纪要\u3000 终稿.docx", "会议 纪要 终稿.docx"),
        ("photo\u202egpj.exe", "photogpj.exe"),  # right-to-left override, used to disguise .exe
        ('what<>:"|?*.txt', "what_______.txt"),
        ("bad\udcffname.jpg", "badname.jpg"),  # a lone surrogate from undecodable bytes
        ("Cafe\u0301.jpg", "Café.jpg"),  # macOS decomposed form, composed
    ],
)
def test_given_a_raw_name_then_it_is_sanitised(raw: str, expected: str) -> None:
    assert sanitize_filename(raw, "attachment-1") == expected


@pytest.mark.parametrize("raw", ["", "   ", "...", "../", "\x00\x01", "C:\\dir\\"])
def test_given_nothing_usable_then_the_fallback_is_returned(raw: str) -> None:
    assert sanitize_filename(raw, "attachment-3.jpg") == "attachment-3.jpg"


def test_given_a_400_character_chinese_name_then_it_is_capped_at_150_bytes_keeping_the_extension() -> None:
    name = "商会活动" * 100 + ".jpg"
    safe = sanitize_filename(name, "x")
    assert safe.endswith(".jpg")
    assert len(safe.encode("utf-8")) <= 150
    assert safe == "商会活动" * 12 + ".jpg"  # 48 characters of 3 bytes each fit in 146 bytes


def test_given_a_long_name_without_an_extension_then_it_is_cut_on_a_character_boundary() -> None:
    safe = sanitize_filename("照" * 60 + "a", "x")  # 181 bytes
    assert safe == "照" * 50


def test_given_a_name_already_within_150_bytes_then_it_is_untouched() -> None:
    name = "a" * 146 + ".pdf"
    assert sanitize_filename(name, "x") == name
