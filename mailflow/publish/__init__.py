"""Publication (Ch. 4): the adopted submissions as the chamber's journal issue and its website.

gather reads what is published (a constant number of statements); text turns mail into
paragraphs; images scales photos with Pillow; files writes a file only when its bytes change;
journal and pdf make the issue (HTML typeset by WeasyPrint); site and feed make the website.
"""

from mailflow.publish.files import Output, Tally
from mailflow.publish.gather import JOURNAL, SITE, Article, adopted, month_bounds
from mailflow.publish.journal import JournalBuilt, Period, build_journal
from mailflow.publish.masthead import Masthead, Photos
from mailflow.publish.site import SiteBuilt, build_site

__all__ = [
    "JOURNAL",
    "SITE",
    "Article",
    "JournalBuilt",
    "Masthead",
    "Output",
    "Period",
    "Photos",
    "SiteBuilt",
    "Tally",
    "adopted",
    "build_journal",
    "build_site",
    "month_bounds",
]
