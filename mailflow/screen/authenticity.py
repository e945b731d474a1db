"""What our own receiving server found about who wrote a message: its Authentication-Results, read once.

Anyone can write an Authentication-Results header into a message; only the one our own server
adds is worth reading. It is the topmost header that names one of `trusted_authserv_ids`
(a receiving server adds its header above whatever the message came with), and every other
header is ignored. The only module that imports authres and publicsuffixlist.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache

import authres
from publicsuffixlist import PublicSuffixList

log = logging.getLogger("mailflow.screen")


@dataclass(frozen=True)
class Verdict:
    """The trusted server's results for the From domain: "pass", "fail", or "" when it said nothing."""

    authserv_id: str = ""  # "" when no trusted header was found
    dmarc: str = ""
    dkim: str = ""  # the best result among signatures aligned with the From domain

    @property
    def forged(self) -> str | None:
        """Why the message must not be believed to come from its From address, or None."""
        if self.dmarc == "fail":
            return f"dmarc=fail ({self.authserv_id})"
        if self.dkim == "fail" and self.dmarc != "pass":
            return f"dkim=fail ({self.authserv_id})"
        return None

    @property
    def authenticated(self) -> bool:
        """The From domain proved itself: DMARC passed, or a DKIM signature aligned with it did."""
        return self.dmarc == "pass" or self.dkim == "pass"


NO_VERDICT = Verdict()
_PASSING = {"pass"}
_FAILING = {"fail", "permerror"}


def verdict(headers: tuple[str, ...], from_domain: str, trusted: tuple[str, ...]) -> Verdict:
    """Read the topmost trusted header; a header that cannot be parsed counts as no result."""
    if not trusted or not from_domain:
        return NO_VERDICT
    for value in headers:
        try:
            parsed = authres.AuthenticationResultsHeader.parse_value(" ".join(value.split()))
        except Exception:  # authres raises its own and plain errors on forged or foreign syntax
            continue
        if str(parsed.authserv_id or "").lower() not in trusted:
            continue
        return _read(parsed, from_domain.lower())
    return NO_VERDICT


def _read(parsed: authres.AuthenticationResultsHeader, from_domain: str) -> Verdict:
    dmarc, dkim = "", ""
    for result in parsed.results:
        outcome = str(result.result or "").lower()
        if result.method == "dmarc" and _property(result, "header", "from") in ("", from_domain):
            dmarc = _stronger(dmarc, outcome)
        elif result.method == "dkim" and aligned(_signing_domain(result), from_domain):
            dkim = _stronger(dkim, outcome)
    return Verdict(str(parsed.authserv_id).lower(), _simple(dmarc), _simple(dkim))


def _stronger(current: str, new: str) -> str:
    """One passing signature is enough; a failure counts only when nothing passed."""
    if current in _PASSING:
        return current
    return new if new in _PASSING or not current else current


def _simple(outcome: str) -> str:
    return "pass" if outcome in _PASSING else "fail" if outcome in _FAILING else ""


def _property(result: authres.AuthenticationResult, ptype: str, name: str) -> str:
    for prop in result.properties:
        if prop.type == ptype and prop.name == name:
            return str(prop.value or "").lower()
    return ""


def _signing_domain(result: authres.AuthenticationResult) -> str:
    domain = _property(result, "header", "d")
    if not domain:  # header.i=@unit.cn, as older signers report it
        domain = _property(result, "header", "i").rpartition("@")[2]
    return domain


def aligned(signer: str, from_domain: str) -> bool:
    """DMARC's relaxed alignment: both names share one organisational domain."""
    if not signer:
        return False
    return signer == from_domain or _organisation(signer) == _organisation(from_domain)


@lru_cache(maxsize=1)
def _suffixes() -> PublicSuffixList:
    return PublicSuffixList()


@lru_cache(maxsize=4096)
def _organisation(domain: str) -> str:
    return _suffixes().privatesuffix(domain) or domain
