"""probe_image: header-first sizing, EXIF orientation, bombs refused undecoded, corrupt data caught."""

from __future__ import annotations

import io
import resource
import tracemalloc
import warnings

from PIL import Image, ImageFile

from mailflow.validate import probe_image

from builders import make_bomb_png, make_jpeg

MAX_PIXELS = 50_000_000


def make_png(*, width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.linear_gradient("L").resize((width, height)).save(out, "PNG")
    return out.getvalue()


def test_given_a_sound_jpeg_then_format_and_size_are_reported() -> None:
    info = probe_image(make_jpeg(width=800, height=600), MAX_PIXELS)
    assert (info.format, info.width, info.height, info.corrupt, info.bomb) == ("JPEG", 800, 600, False, False)
    assert info.ok


def test_given_exif_orientation_6_then_width_and_height_are_as_displayed() -> None:
    info = probe_image(make_jpeg(width=1000, height=500, exif_orientation=6), MAX_PIXELS)
    assert (info.width, info.height) == (500, 1000)


def test_given_exif_orientations_that_do_not_turn_a_quarter_then_size_is_as_stored() -> None:
    for orientation in (1, 2, 3, 4):
        info = probe_image(make_jpeg(width=1000, height=500, exif_orientation=orientation), MAX_PIXELS)
        assert (info.width, info.height) == (1000, 500), orientation
    for orientation in (5, 7, 8):
        info = probe_image(make_jpeg(width=1000, height=500, exif_orientation=orientation), MAX_PIXELS)
        assert (info.width, info.height) == (500, 1000), orientation


def test_given_a_truncated_jpeg_then_it_is_corrupt() -> None:
    for progressive in (False, True):
        data = make_jpeg(width=800, height=600, progressive=progressive)
        info = probe_image(data[: len(data) // 2], MAX_PIXELS)
        assert info.corrupt and not info.bomb, progressive
        assert (info.width, info.height) == (800, 600)  # the header was still readable


def test_given_a_truncated_png_then_it_is_corrupt() -> None:
    data = make_png(width=800, height=600)
    assert probe_image(data[: len(data) // 2], MAX_PIXELS).corrupt
    assert probe_image(data[:-20], MAX_PIXELS).corrupt


def test_given_random_bytes_then_it_is_corrupt_with_no_format() -> None:
    info = probe_image(bytes(range(256)) * 40, MAX_PIXELS)
    assert info.corrupt and info.format is None and (info.width, info.height) == (0, 0)


def test_given_a_30000_square_png_then_it_is_a_bomb_refused_without_decoding() -> None:
    data = make_bomb_png(width=30000, height=30000)
    assert len(data) < 10_000
    rss_before_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    try:
        info = probe_image(data, MAX_PIXELS)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    rss_growth_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before_kb
    assert info.bomb and not info.corrupt
    assert (info.format, info.width, info.height) == ("PNG", 30000, 30000)  # sized past PIL's own limit
    assert peak < 50 * 1024 * 1024
    assert rss_growth_kb < 100 * 1024  # decoding would take 112 MB at 1 bit per pixel, 900 MB as L


def test_given_an_image_over_max_pixels_but_under_pils_limit_then_our_limit_refuses_it() -> None:
    info = probe_image(make_bomb_png(width=2000, height=2000), max_pixels=1_000_000)
    assert info.bomb and (info.width, info.height) == (2000, 2000)


def test_given_an_image_past_pils_warning_limit_then_it_is_a_bomb_even_when_max_pixels_allows_it() -> None:
    # 100 Mpx is above PIL's warning threshold (~89 Mpx) but below its error threshold.
    info = probe_image(make_bomb_png(width=10000, height=10000), max_pixels=200_000_000)
    assert info.bomb and (info.width, info.height) == (10000, 10000)


def test_probing_leaves_pil_and_warning_state_as_it_found_it() -> None:
    filters_before = list(warnings.filters)
    limit_before = Image.MAX_IMAGE_PIXELS
    probe_image(make_bomb_png(width=10000, height=10000), max_pixels=200_000_000)
    probe_image(make_jpeg(width=80, height=60)[:300], MAX_PIXELS)
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
    assert warnings.filters == filters_before
    assert Image.MAX_IMAGE_PIXELS == limit_before


def test_given_a_format_pil_could_open_but_we_do_not_probe_then_it_is_refused_as_unreadable() -> None:
    out = io.BytesIO()
    Image.new("RGB", (800, 600)).save(out, "PPM")
    info = probe_image(out.getvalue(), MAX_PIXELS)
    assert info.corrupt and info.format is None


def test_given_a_cut_jpeg_whose_exif_thumbnail_is_whole_then_it_is_still_corrupt() -> None:
    """The EXIF thumbnail carries its own complete scan and End Of Image; only the main scan counts."""
    thumb = io.BytesIO()
    Image.new("RGB", (160, 120), (200, 30, 30)).save(thumb, "JPEG")
    big = Image.effect_noise((1024, 768), 30).convert("RGB")
    buf = io.BytesIO()
    big.save(buf, "JPEG", exif=b"Exif\x00\x00" + thumb.getvalue())  # an APP1 segment holding a whole JPEG
    data = buf.getvalue()
    assert not probe_image(data, MAX_PIXELS).corrupt
    assert probe_image(data[: len(data) * 2 // 3], MAX_PIXELS).corrupt
