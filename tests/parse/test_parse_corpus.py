"""Every message of the shared real-world corpus parses, or is refused for a limit, without U+FFFD."""

from __future__ import annotations

import mailbox
import os
from pathlib import Path
from typing import Any

import pytest

from mailflow.errors import ParseError
from mailflow.parse import parse

CORPUS = Path(os.environ.get("MAILFLOW_CORPUS") or Path(__file__).resolve().parents[3] / "shared" / "corpus")
NOT_MAIL = {"README.md", ".gitattributes"}
MBOXES = {"sisimai-set-of-emails/mailbox/mbox-1"}

# Files over a parse limit on purpose, with the reason they must end in.
REFUSED = {
    "flanker/tests/fixtures/messages/enclosed-endless.eml": "too_many_parts",  # ~3,000 nested parts
}

# Files whose source already holds U+FFFD as bytes (EF BF BD, written by some earlier broken conversion),
# so the replacement character is the sender's text, not a decoding failure of ours.
REPLACEMENT_IN_SOURCE = {
    "demisto-parse-emails/parse_emails/tests/test_data/eml_non_ascii.eml",  # body line "\ufffd This is a non ascii test \ufffd"
    "django-mailbox/django_mailbox/tests/messages/bad_character_attachment.eml",  # filename "K\ufffdrelem.pdf"
    "flanker/tests/fixtures/messages/outlook-express.eml",  # attachment name of raw UTF-8 with U+FFFD in it
    "mikel-mail/spec/fixtures/emails/error_emails/must_supply_encoding.eml",  # subject ends in three raw U+FFFD
}


def _messages() -> list[Any]:  # pytest.param sets
    if not CORPUS.is_dir():
        return []
    found = []
    for path in sorted(p for p in CORPUS.rglob("*") if p.is_file()):
        name = path.relative_to(CORPUS).as_posix()
        if path.name in NOT_MAIL:
            continue
        if name in MBOXES:
            box = mailbox.mbox(path, create=False)
            found += [pytest.param(name, key, id=f"{name}#{index}") for index, key in enumerate(box.keys())]
        else:
            found.append(pytest.param(name, None, id=name))
    return found


def _raw(name: str, key: str | None) -> bytes:
    if key is None:
        return (CORPUS / name).read_bytes()
    return mailbox.mbox(CORPUS / name, create=False).get_bytes(key)


@pytest.mark.skipif(not CORPUS.is_dir(), reason=f"mail corpus not found at {CORPUS} (set MAILFLOW_CORPUS)")
@pytest.mark.parametrize(("name", "key"), _messages())
def test_corpus_message(name: str, key: str | None) -> None:
    raw = _raw(name, key)
    if name in REFUSED:
        with pytest.raises(ParseError) as caught:
            parse(raw)
        assert caught.value.reason.code == REFUSED[name]
        return
    mail = parse(raw)
    if name in REPLACEMENT_IN_SOURCE:
        assert b"\xef\xbf\xbd" in raw
        return
    assert "\ufffd" not in mail.subject
    assert "\ufffd" not in mail.text
    for attachment in mail.attachments:
        assert "\ufffd" not in attachment.filename


def test_allow_lists_name_real_files() -> None:
    if not CORPUS.is_dir():
        pytest.skip(f"mail corpus not found at {CORPUS} (set MAILFLOW_CORPUS)")
    for name in (*REFUSED, *REPLACEMENT_IN_SOURCE, *MBOXES):
        assert (CORPUS / name).is_file(), name
