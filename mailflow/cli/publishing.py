"""`mailflow journal build MONTH` and `mailflow site build`: the adopted submissions, published (Ch. 4).

Both read the store in a constant number of statements, write into --out only the files whose
bytes changed and remove the files of their last build that are no longer part of it; each
prints what it wrote, left alone and removed. Exit 0 built, 1 nothing to publish or a failure
(no CJK font for the PDF), 2 bad usage.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from mailflow.config import Settings
from mailflow.errors import PublishError
from mailflow.publish import (
    JOURNAL,
    SITE,
    Article,
    Masthead,
    Output,
    Period,
    Photos,
    adopted,
    build_journal,
    build_site,
    month_bounds,
)

from mailflow.cli.base import ConfigOpt, _open_store, _settings, app, err, out

journal_app = typer.Typer(no_args_is_help=True, help="The chamber's journal (会刊): a monthly issue, PDF and HTML.")
site_app = typer.Typer(no_args_is_help=True, help="The chamber's website: the adopted submissions, static.")
app.add_typer(journal_app, name="journal")
app.add_typer(site_app, name="site")

OutOpt = Annotated[Path, typer.Option("--out", help="the folder to write into (created if missing)")]


@journal_app.command("build")
def journal_build(
    month: Annotated[str, typer.Argument(help="the issue's month, e.g. 2026-12")],
    out_dir: OutOpt,
    config: ConfigOpt = None,
) -> None:
    """The month's issue: the articles adopted for the journal in that month, as 会刊-YYYY-MM.pdf and .html."""
    period = Period.parse(month)
    if period is None:
        err.print(
            f"月份格式不对：{month!r}，应写作 2026-12。 / Not a month: {month!r}; write it as 2026-12.",
            markup=False,
            highlight=False,
        )
        raise typer.Exit(2)
    settings = _settings(config, check_secrets=False)
    since, until = month_bounds(period.year, period.month, settings.chamber.zone)
    articles = _read(settings, JOURNAL, since, until)
    if not articles:
        err.print(
            f"{period.label}没有采用到会刊的稿件，未生成{period.issue}。 / No submission was adopted for the journal"
            f" in {period.name}: no issue built.", markup=False, highlight=False,
        )  # fmt: skip
        raise typer.Exit(1)
    target = _folder(out_dir)
    try:
        built = build_journal(
            articles, _masthead(settings), _photos(settings), period, Output(target, f"journal-{period.name}")
        )
    except PublishError as exc:
        err.print(str(exc), markup=False, highlight=False)
        raise typer.Exit(1) from None
    zh = settings.chamber.locale.startswith("zh")
    if zh:
        pages = f"共 {built.pages} 页" if built.pages is not None else "PDF 未变"
        line = f"会刊{period.issue}：{built.articles} 篇稿件，{pages} → {target / built.pdf}"
    else:
        pages = f"{built.pages} pages" if built.pages is not None else "PDF unchanged"
        line = f"journal {period.issue}: {built.articles} article(s), {pages} -> {target / built.pdf}"
    out.print(line, markup=False, highlight=False)
    out.print(built.tally.text(settings.chamber.locale), markup=False, highlight=False)
    _missing(built.missing)


@site_app.command("build")
def site_build(
    out_dir: OutOpt,
    base_url: Annotated[
        str,
        typer.Option(
            "--base-url", help="the site's address, e.g. https://www.chamber.example.org/ (absolute feed links)"
        ),
    ] = "",
    config: ConfigOpt = None,
) -> None:
    """The website: index, a page per article and per category, resized photos and an Atom feed."""
    if base_url and not (base_url.startswith(("https://", "http://")) and base_url.endswith("/")):
        err.print(
            f"--base-url 须以 http(s):// 开头、以 / 结尾：{base_url!r} / --base-url must be http(s)://…/",
            markup=False,
            highlight=False,
        )
        raise typer.Exit(2)
    settings = _settings(config, check_secrets=False)
    articles = _read(settings, SITE, None, None)
    target = _folder(out_dir)
    built = build_site(articles, _masthead(settings), _photos(settings), Output(target, "site"), base_url=base_url)
    if settings.chamber.locale.startswith("zh"):
        line = f"网站：{built.articles} 篇稿件，{built.pages} 个页面，{built.photos} 张照片 → {target}"
    else:
        line = f"site: {built.articles} article(s), {built.pages} page(s), {built.photos} photo(s) -> {target}"
    out.print(line, markup=False, highlight=False)
    out.print(built.tally.text(settings.chamber.locale), markup=False, highlight=False)
    _missing(built.missing)


def _read(settings: Settings, outlet: str, since: datetime | None, until: datetime | None) -> list[Article]:
    store = _open_store(settings)
    try:
        with store.session() as session:
            return adopted(session, outlet, since=since, until=until)
    finally:
        store.close()


def _folder(path: Path) -> Path:
    if path.exists() and not path.is_dir():
        err.print(f"--out 不是文件夹：{path} / --out is not a folder: {path}", markup=False, highlight=False)
        raise typer.Exit(2)
    path.mkdir(parents=True, exist_ok=True)
    return path.resolve()


def _masthead(settings: Settings) -> Masthead:
    chamber = settings.chamber
    return Masthead(chamber.name, chamber.zone, chamber.message_id_domain)


def _photos(settings: Settings) -> Photos:
    return Photos(settings.data_dir / "attachments")


def _missing(missing: list[str]) -> None:
    if missing:
        err.print(
            f"{len(missing)} 张照片无法读取，已略去 / photo(s) left out, unreadable: " + "; ".join(missing[:10]),
            markup=False,
            highlight=False,
        )
