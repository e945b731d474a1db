"""The archive's content-addressed files: a batch is stored once per content, in order, durably."""

from __future__ import annotations

from pathlib import Path

from mailflow.store.blobs import BlobStore, sha256_hex


def test_a_batch_returns_each_digest_in_order_and_stores_each_content_once(tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path, suffix=".eml")
    first, second = b"From: a@b.cn\n\none", b"From: a@b.cn\n\ntwo"
    assert blobs.put(first) == sha256_hex(first)
    digests = blobs.put_many([second, first, second])
    assert digests == [sha256_hex(second), sha256_hex(first), sha256_hex(second)]
    assert [blobs.get(d) for d in digests] == [second, first, second]
    stored = sorted(p.name for p in tmp_path.rglob("*") if p.is_file())
    assert stored == sorted(f"{sha256_hex(data)}.eml" for data in (first, second))


def test_an_empty_batch_writes_nothing(tmp_path: Path) -> None:
    assert BlobStore(tmp_path).put_many([]) == []
    assert list(tmp_path.iterdir()) == []
