"""The journal's PDF: its HTML typeset by WeasyPrint with a CJK font fontconfig finds, embedded.

WeasyPrint over fpdf2, measured on the same 40 articles with a photo each (82 A4 pages):
- time: 0.82 s each; output 2.9 MB (WeasyPrint) and 2.6 MB (fpdf2): no difference that matters;
- line breaking: over 28 column widths, fpdf2's character wrap began 19 lines with a closing
  mark (，。）) — a fault no Chinese printer lets pass; WeasyPrint (Pango, UAX #14) began none;
- table of contents: WeasyPrint's `target-counter()` prints the real page of each article; fpdf2
  needs the number of TOC pages guessed in advance and its own drawing code;
- one source: WeasyPrint prints the same HTML the issue is published as, so the PDF and the
  HTML cannot drift; fpdf2 would be a second layout in Python (indents as U+3000 spaces);
- determinism: WeasyPrint's bytes were identical across runs with no creation date; fpdf2 writes
  /CreationDate and a random /ID unless told not to;
- fonts: both embed a subset (WeasyPrint: Noto-Serif-CJK-SC and the Sans for headings, FontFile3).
bench/publish.py, the real build (2 cores): 200 articles with a photo each, 207 pages, 4.6 s (bare
WeasyPrint on the same articles 2.3 s: the contents' page numbers and the margin boxes cost the rest);
2,000 articles, 2,059 pages, 56 s.

The font comes from Debian's fonts-noto-cjk (fonts-wqy-microhei as a fallback), found through
fontconfig, which WeasyPrint also uses: without one, a PDF would print boxes for every character,
so the build stops first with a message that says which package to install.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import unquote

from mailflow.errors import PublishError

# In the order the style sheets ask for them; one of them must be installed.
CJK_FAMILIES = (
    "Noto Serif CJK SC",
    "Source Han Serif SC",
    "Noto Sans CJK SC",
    "Source Han Sans SC",
    "WenQuanYi Micro Hei",
)


@dataclass(frozen=True)
class Fonts:
    families: tuple[str, ...]  # installed, of CJK_FAMILIES
    files: tuple[str, ...]  # their files: a font upgrade makes the PDF again

    @property
    def key(self) -> str:
        return hashlib.sha256("\n".join(self.families + self.files).encode()).hexdigest()[:16]


def cjk_fonts() -> Fonts:
    """The CJK families fontconfig knows, of those the journal's style sheet names; PublishError if none."""
    if shutil.which("fc-list") is None or shutil.which("fc-match") is None:
        raise PublishError(_missing("fontconfig (fc-list) is not installed"))
    listed = subprocess.run(["fc-list", ":lang=zh", "family"], capture_output=True, text=True, check=False).stdout
    installed = {name.strip() for line in listed.splitlines() for name in line.split(",")}
    families = tuple(f for f in CJK_FAMILIES if f in installed)
    if not families:
        raise PublishError(_missing("fontconfig knows none of " + ", ".join(CJK_FAMILIES)))
    files = tuple(
        subprocess.run(["fc-match", "-f", "%{file}", f], capture_output=True, text=True, check=False).stdout
        for f in families
    )
    return Fonts(families, files)


def _missing(why: str) -> str:
    return (
        "没有找到中文字体，会刊PDF无法排版。请安装 fonts-noto-cjk（apt-get install fonts-noto-cjk）。"
        f" / No CJK font for the journal's PDF ({why}); install Debian's fonts-noto-cjk."
    )


@cache
def engine() -> ModuleType:
    """WeasyPrint, imported when a PDF is to be made: it loads Pango, which a machine that only
    answers mail need not have, and every other command must run without it."""
    from PIL import ImageFile

    truncated = ImageFile.LOAD_TRUNCATED_IMAGES  # WeasyPrint sets it for the whole process at import
    try:
        import weasyprint
    except (ImportError, OSError) as exc:
        raise PublishError(
            "会刊PDF需要 WeasyPrint 及其依赖的 Pango 库：请安装 libpango-1.0-0 与 libpangoft2-1.0-0"
            f"（apt-get install libpango-1.0-0 libpangoft2-1.0-0）。 / The journal's PDF needs WeasyPrint and Pango: {exc}"
        ) from None
    finally:
        # Pillow's process-wide flag is ours (mailflow.validate.images keeps it off: a truncated
        # attachment is refused, not half read); the journal's photos are whole files we wrote.
        ImageFile.LOAD_TRUNCATED_IMAGES = truncated
    return weasyprint


def version_key() -> str:
    return f"weasyprint {engine().__version__}"


ISSUE = "https://issue.invalid/"  # the base the HTML's relative links resolve against while it is typeset


@cache
def _fetcher_class() -> Any:
    from weasyprint.urls import URLFetcher, URLFetcherResponse

    class IssueFiles(URLFetcher):  # type: ignore[misc]
        """Serves ISSUE/<path> from the issue's folder, and nothing else: no network, no other file.

        A fixed base rather than the folder's file:// URL, because WeasyPrint names each image in the
        PDF after its URL: the same issue built in another folder must give the same bytes.
        """

        def __init__(self, folder: Path) -> None:
            super().__init__()
            self.folder = folder.resolve()

        def fetch(self, url: str, headers: object = None) -> URLFetcherResponse:
            if not url.startswith(ISSUE):
                raise ValueError(f"not one of the issue's files: {url}")
            path = (self.folder / unquote(url[len(ISSUE) :].split("?")[0])).resolve()
            if self.folder not in path.parents:
                raise ValueError(f"not one of the issue's files: {url}")
            return URLFetcherResponse(url, path.read_bytes(), {"Content-Type": "image/jpeg"}, 200)

    return IssueFiles


def typeset(html: bytes, folder: Path) -> tuple[bytes, int]:
    """(PDF bytes, pages) of `html`, whose images are relative to `folder`."""
    weasyprint = engine()
    fetcher = _fetcher_class()(folder)
    source = weasyprint.HTML(string=html.decode("utf-8"), base_url=ISSUE, url_fetcher=fetcher)
    document = source.render()
    pdf: bytes = document.write_pdf()
    return pdf, len(document.pages)
