"""validate_attachments: sizes, allowed types, real content against declared, and the photo minimum."""

from __future__ import annotations

import io
import struct
import zipfile

import pytest
from PIL import Image

import builders
from builders import make_bomb_png
from mailflow.parse.model import Attachment
from mailflow.validate import AttachmentCheck, AttachmentPolicy, detect_type, validate_attachments

MiB = 1024 * 1024
POLICY = AttachmentPolicy()


# --- builders ----------------------------------------------------------------------------------------


def make_image(*, fmt: str, width: int, height: int, exif_orientation: int | None = None) -> bytes:
    """A noisy picture, so that even small ones weigh what a photo weighs rather than a few hundred bytes."""
    return builders.make_image(fmt=fmt, width=width, height=height, exif_orientation=exif_orientation, noise=True)


def make_logo_png(*, width: int = 120, height: int = 40) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), "navy").save(out, "PNG")
    return out.getvalue()


def make_zip(*, members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, body in members.items():
            archive.writestr(name, body)
    return out.getvalue()


def make_attachment(
    *,
    filename: str,
    data: bytes,
    content_type: str = "application/octet-stream",
    inline: bool = False,
    content_id: str | None = None,
) -> Attachment:
    return Attachment(filename, content_type, data, inline=inline, content_id=content_id)


OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
OLE2_DOC = OLE2_MAGIC + b"\x00" * 504 + "WordDocument".encode("utf-16-le") + b"\x00" * 64
DOCX = make_zip(members={"[Content_Types].xml": b"<Types/>", "word/document.xml": b"<w:document/>"})
PDF = b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n"


def check_one(attachment: Attachment, policy: AttachmentPolicy = POLICY) -> AttachmentCheck:
    checks, message_reasons = validate_attachments([attachment], policy)
    assert message_reasons == ()
    return checks[0]


def codes(check: AttachmentCheck) -> list[str]:
    return [reason.code for reason in check.reasons]


# --- photos ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("width", "height"), [(800, 600), (600, 800), (4032, 3024)])
def test_given_a_photo_at_least_800_by_600_in_either_orientation_then_it_passes(width: int, height: int) -> None:
    data = make_image(fmt="JPEG", width=width, height=height)
    check = check_one(make_attachment(filename="IMG_0001.jpg", data=data))
    assert check.ok and check.is_photo
    assert (check.width, check.height, check.detected_type) == (width, height, "jpeg")


def test_given_a_640_by_480_photo_then_it_is_too_small_in_both_languages() -> None:
    data = make_image(fmt="JPEG", width=640, height=480)
    check = check_one(make_attachment(filename="IMG_0012.jpg", data=data))
    assert codes(check) == ["photo_too_small"]
    assert check.reasons[0].zh == "照片 IMG_0012.jpg 为 640×480，低于 800×600 的要求"
    assert check.reasons[0].en == "photo IMG_0012.jpg is 640×480, below the required 800×600"


@pytest.mark.parametrize(("width", "height"), [(799, 600), (800, 599), (599, 800), (1200, 500)])
def test_given_a_photo_short_on_one_side_then_it_is_too_small(width: int, height: int) -> None:
    data = make_image(fmt="PNG", width=width, height=height)
    check = check_one(make_attachment(filename="p.png", data=data))
    assert codes(check) == ["photo_too_small"]


def test_given_exif_orientation_6_then_the_reply_quotes_the_size_the_sender_sees() -> None:
    # Stored 640×480 and turned a quarter: the sender's viewer shows 480×640. Under the either-orientation
    # rule, rotation cannot change the verdict, only the numbers quoted back.
    data = make_image(fmt="JPEG", width=640, height=480, exif_orientation=6)
    check = check_one(make_attachment(filename="竖拍.jpg", data=data))
    assert (check.width, check.height) == (480, 640)
    assert check.reasons[0].zh == "照片 竖拍.jpg 为 480×640，低于 800×600 的要求"


def test_given_exif_orientation_6_on_a_stored_1000_by_600_then_it_passes_as_600_by_1000() -> None:
    data = make_image(fmt="JPEG", width=1000, height=600, exif_orientation=6)
    check = check_one(make_attachment(filename="portrait.jpg", data=data))
    assert check.ok and (check.width, check.height) == (600, 1000)


def test_given_a_small_inline_signature_logo_then_it_is_not_a_photo() -> None:
    for inline, content_id in ((True, None), (False, "logo@chamber"), (True, "logo@chamber")):
        data = make_logo_png()
        check = check_one(make_attachment(filename="logo.png", data=data, inline=inline, content_id=content_id))
        assert check.ok and not check.is_photo and check.inline
        assert (check.width, check.height) == (120, 40)


def test_given_a_small_image_attached_not_inline_then_it_is_held_to_the_photo_rule() -> None:
    check = check_one(make_attachment(filename="logo.png", data=make_logo_png()))
    assert check.is_photo and codes(check) == ["photo_too_small"]


def test_given_a_640_by_480_photo_pasted_inline_then_it_is_still_a_photo() -> None:
    data = make_image(fmt="JPEG", width=640, height=480)
    assert len(data) > POLICY.decorative_max_bytes
    check = check_one(make_attachment(filename="image001.jpg", data=data, inline=True, content_id="ii_1"))
    assert check.is_photo and codes(check) == ["photo_too_small"]


# --- damaged and hostile images ------------------------------------------------------------------------


def test_given_a_truncated_jpeg_then_it_is_a_corrupt_image() -> None:
    data = make_image(fmt="JPEG", width=800, height=600)
    check = check_one(make_attachment(filename="现场.jpg", data=data[: len(data) // 2]))
    assert codes(check) == ["corrupt_image"]
    assert check.reasons[0].zh == "图片 现场.jpg 已损坏，无法读取"


def test_given_random_bytes_named_jpg_then_it_is_a_corrupt_image() -> None:
    check = check_one(make_attachment(filename="photo.jpg", data=bytes(range(256)) * 100))
    assert check.detected_type is None
    assert codes(check) == ["corrupt_image"]


def test_given_a_png_named_jpg_then_it_is_a_type_mismatch() -> None:
    data = make_image(fmt="PNG", width=800, height=600)
    check = check_one(make_attachment(filename="IMG_0001.jpg", data=data))
    assert codes(check) == ["type_mismatch"]
    assert check.reasons[0].zh == "附件 IMG_0001.jpg 声明为 JPG，实际为 PNG"
    assert (check.width, check.height) == (800, 600)  # still sized, so a small one is reported too


def test_given_a_30000_square_png_then_it_is_an_image_bomb() -> None:
    check = check_one(make_attachment(filename="big.png", data=make_bomb_png(width=30000, height=30000)))
    assert codes(check) == ["image_bomb"]
    assert check.reasons[0].zh == "图片 big.png 像素尺寸 30000×30000 过大，已拒收"


def test_given_a_bomb_disguised_as_an_inline_logo_then_it_is_still_refused() -> None:
    bomb = make_attachment(filename="logo.png", data=make_bomb_png(width=30000, height=30000), inline=True)
    assert codes(check_one(bomb)) == ["image_bomb"]


def test_given_a_40_mb_attachment_then_it_is_refused_without_decoding() -> None:
    # A JPEG header over 40 MB of junk: had it been decoded it would also be corrupt.
    data = make_image(fmt="JPEG", width=800, height=600)[:2000] + b"\x00" * (40 * MiB)
    checks, message_reasons = validate_attachments([make_attachment(filename="huge.jpg", data=data)], POLICY)
    assert codes(checks[0]) == ["attachment_too_large"]
    assert checks[0].width is None and checks[0].height is None
    assert checks[0].reasons[0].zh == "附件 huge.jpg 大小 40.1 MB，超过单个附件 20 MB 的上限"
    assert [reason.code for reason in message_reasons] == ["attachments_too_large"]


# --- types ---------------------------------------------------------------------------------------------


def test_given_an_exe_then_the_type_is_not_allowed() -> None:
    exe = b"MZ" + b"\x00" * 58 + struct.pack("<I", 64) + b"PE\x00\x00" + b"\x00" * 100
    check = check_one(make_attachment(filename="setup.exe", data=exe))
    assert codes(check) == ["type_not_allowed"]
    assert check.detected_type == "exe"
    assert check.reasons[0].params["ext"] == "exe"
    assert "jpg" in check.reasons[0].zh


@pytest.mark.parametrize("filename", ["photos.zip", "photo.jpg.exe", "script.JS", "page.html"])
def test_given_an_extension_outside_the_list_then_it_is_not_allowed(filename: str) -> None:
    assert codes(check_one(make_attachment(filename=filename, data=b"hello"))) == ["type_not_allowed"]


def test_given_an_upper_case_extension_then_it_is_allowed() -> None:
    data = make_image(fmt="JPEG", width=800, height=600)
    check = check_one(make_attachment(filename="IMG_0001.JPG", data=data))
    assert check.ok


def test_given_no_extension_then_the_detected_type_decides() -> None:
    assert check_one(make_attachment(filename="scan", data=PDF)).ok
    exe = b"MZ" + b"\x00" * 58 + struct.pack("<I", 64) + b"PE\x00\x00"
    assert codes(check_one(make_attachment(filename="scan", data=exe))) == ["type_not_allowed"]


def test_given_no_extension_and_a_declared_content_type_then_content_must_match_it() -> None:
    png = make_image(fmt="PNG", width=800, height=600)
    check = check_one(make_attachment(filename="image", data=png, content_type="image/jpeg"))
    assert codes(check) == ["type_mismatch"]
    assert check.reasons[0].en == "attachment image is declared as image/jpeg but is really PNG"


@pytest.mark.parametrize(
    ("filename", "data"),
    [
        ("通知.pdf", PDF),
        ("申请表.docx", DOCX),
        ("申请表.doc", DOCX),  # Word opens either whatever the extension
        ("申请表.docx", OLE2_DOC),
        ("报名表.xls", "姓名,单位\n张三,某某公司\n".encode("gb18030")),  # an OA export: CSV text as .xls
        ("说明.txt", "商会通知:请于周五前提交材料。".encode("gb18030")),
        ("说明.txt", "商会通知".encode("utf-16")),
        ("转发.eml", b"From: a@example.com\r\nSubject: hi\r\nDate: Mon, 1 Jan 2024\r\n\r\nbody"),
    ],
)
def test_given_content_of_the_declared_family_then_it_passes(filename: str, data: bytes) -> None:
    assert check_one(make_attachment(filename=filename, data=data)).ok


@pytest.mark.parametrize(
    ("filename", "data", "detected"),
    [
        ("通知.pdf", DOCX, "DOCX"),
        ("申请表.docx", PDF, "PDF"),
        ("申请表.docx", make_zip(members={"a.txt": b"x"}), "ZIP"),
        ("照片.jpg", PDF, "PDF"),
    ],
)
def test_given_content_of_another_family_then_it_is_a_type_mismatch(filename: str, data: bytes, detected: str) -> None:
    check = check_one(make_attachment(filename=filename, data=data))
    assert codes(check) == ["type_mismatch"]
    assert check.reasons[0].params["detected"] == detected


def test_given_unrecognisable_bytes_named_pdf_then_the_content_is_unrecognised() -> None:
    check = check_one(make_attachment(filename="通知.pdf", data=bytes(range(256)) * 4))
    assert codes(check) == ["unrecognised_content"]
    assert check.reasons[0].zh == "附件 通知.pdf 的内容不是有效的 PDF 文件，可能已损坏"


# --- the message as a whole ------------------------------------------------------------------------------


def test_given_attachments_totalling_over_40_mb_then_the_message_is_refused_as_a_whole() -> None:
    pdf = PDF + b"\x00" * (15 * MiB)
    attachments = [make_attachment(filename=f"part{n}.pdf", data=pdf) for n in (1, 2, 3)]
    checks, message_reasons = validate_attachments(attachments, POLICY)
    assert all(check.ok for check in checks)
    assert [reason.code for reason in message_reasons] == ["attachments_too_large"]
    assert message_reasons[0].zh == "附件合计 45.1 MB，超过每封邮件 40 MB 的上限"


def test_given_an_unusable_filename_then_a_fallback_named_by_position_and_content_is_used() -> None:
    attachments = [
        make_attachment(filename="x.pdf", data=PDF),
        make_attachment(filename="../", data=make_image(fmt="JPEG", width=800, height=600)),
    ]
    checks, _ = validate_attachments(attachments, POLICY)
    assert checks[1].safe_name == "attachment-2.jpg" and checks[1].filename == "../"
    assert checks[1].ok


def test_given_no_attachments_then_nothing_is_reported() -> None:
    assert validate_attachments([], POLICY) == ((), ())


def test_given_a_stricter_policy_then_its_numbers_are_used_and_quoted() -> None:
    policy = AttachmentPolicy(min_photo_width=1920, min_photo_height=1080)
    data = make_image(fmt="JPEG", width=1280, height=960)
    check = check_one(make_attachment(filename="a.jpg", data=data), policy)
    assert check.reasons[0].en == "photo a.jpg is 1280×960, below the required 1920×1080"


def test_detect_type_tells_office_generations_apart() -> None:
    assert detect_type(DOCX) == "docx"
    assert detect_type(OLE2_DOC) == "doc"
    assert detect_type(OLE2_MAGIC + b"\x00" * 600) == "ole2"  # e.g. a password-protected docx
    assert detect_type(make_zip(members={"xl/workbook.xml": b"<x/>"})) == "xlsx"
    assert detect_type(b"{\\rtf1\\ansi hello}") == "rtf"
    assert detect_type(b"BMW annual report") == "txt"  # "BM" alone does not make a bitmap
