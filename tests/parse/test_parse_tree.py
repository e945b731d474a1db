"""The fast tree builder gives exactly the stdlib's compat32 tree, or steps aside.

Compared on the real-world corpus, on hand-made shapes at the edges of RFC 2046 (preambles,
epilogues, missing close lines, bare CR line endings, 8-bit bytes) and on thousands of
mutations of real multipart mail: wherever `fast_tree` answers, its tree equals the one
`email.message_from_bytes` builds, part for part.
"""

from __future__ import annotations

import email
import os
import random
from email.message import Message
from pathlib import Path

import pytest

from mailflow.parse.tree import fast_tree

CORPUS = Path(os.environ.get("MAILFLOW_CORPUS") or Path(__file__).resolve().parents[3] / "shared" / "corpus")


def shape(message: Message) -> tuple[object, ...]:
    """Everything mailflow reads from a parsed tree, recursively."""
    payload = message._payload  # noqa: SLF001 - the stored payload is what mailflow reads
    return (
        message.get_unixfrom(),
        [(name, str(value)) for name, value in message.raw_items()],
        message.get_default_type(),
        message.preamble,
        message.epilogue,
        [type(defect).__name__ for defect in message.defects],
        [shape(part) for part in payload] if isinstance(payload, list) else payload,
    )


def agrees(raw: bytes) -> bool:
    """True when the fast tree was built (and equals the stdlib's); False when it stepped aside."""
    tree = fast_tree(raw)
    if tree is None:
        return False
    assert shape(tree) == shape(email.message_from_bytes(raw))
    return True


def mixed(body: str, *, boundary: str = "b1", newline: str = "\n", extra_headers: str = "") -> bytes:
    head = f'From: a@b.cn\nSubject: x\n{extra_headers}Content-Type: multipart/mixed; boundary="{boundary}"\n\n'
    return (head + body).replace("\n", newline).encode("utf-8")


PLAIN_PART = "Content-Type: text/plain; charset=utf-8\n\n正文\n"
PHOTO_PART = "Content-Type: image/jpeg\nContent-Transfer-Encoding: base64\n\n/9j/4AAQ\nSkZJRg==\n"

SHAPES = {
    "two parts": f"--b1\n{PLAIN_PART}--b1\n{PHOTO_PART}--b1--\n",
    "preamble and epilogue": f"This is MIME.\n\n--b1\n{PLAIN_PART}--b1--\n\nbye\n",
    "close line without newline": f"--b1\n{PLAIN_PART}--b1--",
    "whitespace after boundaries": f"--b1 \t\n{PLAIN_PART}--b1--  \n",
    "no close line": f"--b1\n{PLAIN_PART}--b1\n{PHOTO_PART}",
    "part without headers": "--b1\n\nbare text\n--b1--\n",
    "headers run into the boundary": "--b1\nContent-Type: text/plain\n--b1--\n",
    "look-alike boundary lines": f"--b1\n{PLAIN_PART}--b1x\n--b1--x\n -b1\n--b1--\n",
    "boundary after text on a line": "--b1\nContent-Type: text/plain\n\ntext --b1\n--b1--\n",
    "empty part": "--b1\n--b1--\n",
    "repeated boundary lines": f"--b1\n--b1\n{PLAIN_PART}--b1--\n",
    "no start boundary": f"{PLAIN_PART}--b1--\n",
    "close before start": f"--b1--\n--b1\n{PLAIN_PART}",
    "nested alternative": (
        "--b1\nContent-Type: multipart/alternative; boundary=b2\n\n--b2\n"
        f"{PLAIN_PART}--b2\nContent-Type: text/html\n\n<p>x</p>\n--b2--\n\n--b1\n{PHOTO_PART}--b1--\n"
    ),
    "nested without its close line": (
        f"--b1\nContent-Type: multipart/alternative; boundary=b2\n\n--b2\n{PLAIN_PART}--b1\n{PHOTO_PART}--b1--\n"
    ),
    "inner boundary a prefix of the outer": (
        f"--b1\nContent-Type: multipart/alternative; boundary=b\n\n--b\n{PLAIN_PART}--b--\n--b1--\n"
    ),
    "forwarded message": "--b1\nContent-Type: message/rfc822\n\nFrom: c@d.cn\nSubject: y\n\nhi\n--b1--\n",
    "continuation first": "--b1\n  folded\nContent-Type: text/plain\n\nx\n--b1--\n",
    "unix from in a part": "--b1\nFrom someone\nContent-Type: text/plain\n\nx\n--b1--\n",
    "text without a blank line": "--b1\nContent-Type: text/plain\n正文\n--b1--\n",
    "8-bit header and body": '--b1\nContent-Type: text/plain; name="\xe7\x85\xa7"\n\n\xff\xfe body\n--b1--\n',
}


@pytest.mark.parametrize("name", sorted(SHAPES))
@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"], ids=["lf", "crlf", "cr"])
def test_shapes_build_the_stdlib_tree(name: str, newline: str) -> None:
    agrees(mixed(SHAPES[name], newline=newline))


def test_the_fast_path_takes_the_common_shapes() -> None:
    """A builder that always stepped aside would pass the comparisons above: it must not."""
    for name in ("two parts", "preamble and epilogue", "nested alternative", "no close line", "part without headers"):
        for newline in ("\n", "\r\n"):
            assert agrees(mixed(SHAPES[name], newline=newline)), name
    assert agrees(b"From: a@b.cn\r\nSubject: plain\r\n\r\nhello\r\n")
    assert agrees(b"From: a@b.cn\nSubject: headers only")
    assert not agrees(mixed(SHAPES["forwarded message"]))
    assert not agrees(mixed(SHAPES["repeated boundary lines"]))


def test_special_characters_in_a_boundary() -> None:
    boundary = "----=_Part_1.2+3(4)?*:x"
    body = f"--{boundary}\n{PLAIN_PART}--{boundary}--\n"
    assert agrees(mixed(body, boundary=boundary))


def test_invalid_transfer_encoding_on_a_multipart_is_the_same_defect() -> None:
    raw = mixed(SHAPES["two parts"], extra_headers="Content-Transfer-Encoding: base64\n")
    assert agrees(raw)
    tree = fast_tree(raw)
    assert tree is not None and [type(d).__name__ for d in tree.defects] == [
        "InvalidMultipartContentTransferEncodingDefect"
    ]


def _corpus_messages() -> list[bytes]:
    if not CORPUS.is_dir():
        pytest.skip(f"mail corpus not found at {CORPUS} (set MAILFLOW_CORPUS)")
    return [path.read_bytes() for path in sorted(CORPUS.rglob("*")) if path.is_file() and path.suffix != ".md"]


def test_corpus_builds_the_stdlib_tree() -> None:
    messages = _corpus_messages()
    built = sum(agrees(raw) for raw in messages)
    assert built >= len(messages) // 2  # most real mail takes the fast path


_MUTATIONS = (b"\n", b"\r", b"\r\n", b"--", b"\n\n", b" ", b":", b"\n--", b"\xff")


def _mutate(raw: bytes, rng: random.Random) -> bytes:
    data = bytearray(raw)
    for _ in range(rng.randint(1, 4)):
        at = rng.randrange(len(data) + 1)
        action = rng.random()
        if action < 0.4:
            data[at:at] = rng.choice(_MUTATIONS)
        elif action < 0.6:
            del data[at : at + rng.randint(1, 3)]
        elif action < 0.8:  # copy a line that starts with "--" (a boundary line) somewhere else
            lines = [i + 1 for i in range(len(data) - 3) if data[i] == 10 and data[i + 1 : i + 3] == b"--"]
            if lines:
                start = rng.choice(lines)
                end = data.find(b"\n", start)
                data[at:at] = data[start : end + 1 if end >= 0 else len(data)]
        else:
            del data[at:]
    return bytes(data)


def test_mutated_mail_builds_the_stdlib_tree_or_steps_aside() -> None:
    sources = [raw for raw in _corpus_messages() if b"multipart/" in raw.lower() and len(raw) < 20_000]
    sources += [mixed(body, newline=nl) for body in SHAPES.values() for nl in ("\n", "\r\n")]
    rng = random.Random(20261201)
    built = 0
    for _ in range(3000):
        built += agrees(_mutate(rng.choice(sources), rng))
    assert built > 500  # about a third are still plain enough
