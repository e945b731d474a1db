"""Ingest benchmark: mailflow over a backlog in a real Dovecot, beside a bare stdlib baseline.

    python bench/ingest.py [-n 5000]

Fills a private Dovecot on 127.0.0.1 with N liaison messages (Chinese, GB18030 and UTF-8,
20 % with a ~200 KB photo), then measures, over the same mailbox in the same run:
  baseline  imaplib UID FETCH in batches of 100, email.message_from_bytes (compat32), every
            part's payload decoded, one SQLite insert per message in its own transaction;
  mailflow  `mailflow run --once` in its own process with the shipped defaults (archive with
            fsync, pipeline, attachment checks, move to Processed), from start to exit.
Prints messages/s for both, the ratio (target >= 0.5) and mailflow's peak RSS (target < 200 MB).
"""

from __future__ import annotations

import argparse
import email
import imaplib
import io
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from email.header import Header
from email.mime.image import MIMEImage
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formataddr, format_datetime, make_msgid
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from PIL import Image  # noqa: E402
from servers.imap import ImapTestServer, dovecot_binary  # noqa: E402

UNITS = 300
SUBJECTS = [
    "【报送】{unit}参加2026中国国际机床展览会",
    "【技术】{unit}五轴联动加工中心关键技术取得突破",
    "【报送】{unit}举办安全生产月活动",
    "【诉求】关于{unit}所在园区用电保障的情况反映",
    "【会议活动】{unit}承办全市智能制造现场交流会",
    "【建议】对商会年度工作安排的几点建议({unit})",
]
PARAGRAPH = (
    "近日,{unit}在市经信局的指导下,组织召开了年度重点项目推进会。会议总结了今年以来在技术改造、"
    "市场开拓和人才培养等方面取得的成效,分析了当前行业面临的原材料价格波动、订单结构调整等困难,"
    "并对下一阶段的重点工作作出部署。公司负责人表示,将继续加大研发投入,推动产品向高端化、智能化方向发展。\n"
)


def photo_bases(count: int = 4) -> list[bytes]:
    """A few ~200 KB JPEGs; each message's copy differs (a random comment), like real photos."""
    rng = random.Random(7)
    bases = []
    for i in range(count):
        image = Image.effect_noise((1280, 960), 40 + i).convert("RGB")
        buf = io.BytesIO()
        image.save(buf, "JPEG", quality=40 + rng.randint(0, 5))
        bases.append(buf.getvalue())
    return bases


def unique_photo(base: bytes, rng: random.Random) -> bytes:
    comment = rng.randbytes(64)
    return base[:2] + b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment + base[2:]


def liaison(n: int) -> str:
    return f"liaison{n:03d}@unit{n:03d}.example.cn"


def build_messages(count: int, photo_share: float, *, seed: int = 0) -> list[bytes]:
    rng = random.Random(42 + seed)
    bases = photo_bases()
    start = datetime(2026, 11, 20, 1, 0, tzinfo=UTC)
    messages = []
    for i in range(count):
        u = rng.randrange(UNITS)
        unit = f"第{u:03d}机械制造有限公司"
        charset = "gb18030" if i % 2 else "utf-8"
        body = "秘书处:\n\n" + PARAGRAPH.format(unit=unit) * rng.randint(2, 6) + f"\n联络员 张{u:03d}\n{unit}\n"
        text = MIMEText(body, "plain", charset)
        if rng.random() < photo_share:
            msg: MIMEMultipart | MIMEText = MIMEMultipart()
            msg.attach(text)
            part = MIMEImage(unique_photo(rng.choice(bases), rng), "jpeg")
            part.add_header("Content-Disposition", "attachment", filename=(charset, "", f"现场照片{i}.jpg"))
            msg.attach(part)
        else:
            msg = text
        msg["From"] = formataddr((str(Header(f"张{u:03d}", charset)), liaison(u)))
        msg["To"] = "mishuchu@chamber.example.org"
        msg["Subject"] = Header(rng.choice(SUBJECTS).format(unit=unit), charset)
        msg["Date"] = format_datetime(start + timedelta(minutes=seed + i))
        msg["Message-ID"] = make_msgid(idstring=f"{seed}.{i}", domain=f"unit{u:03d}.example.cn")
        messages.append(msg.as_bytes())
    return messages


def fill(server: ImapTestServer, messages: list[bytes]) -> None:
    conn = imaplib.IMAP4(server.host, server.port)
    conn.login(server.user, server.password)
    for raw in messages:
        typ, data = conn.append("INBOX", None, None, raw)
        if typ != "OK":
            raise RuntimeError(f"APPEND failed: {data!r}")
    conn.logout()


def baseline(server: ImapTestServer, db: Path, batch: int = 100) -> int:
    """The bare path: fetch raw bytes in batches, parse with compat32, decode parts, insert one by one."""
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("CREATE TABLE msg (id INTEGER PRIMARY KEY, uid INTEGER, message_id TEXT, subject TEXT, size INTEGER)")
    imap = imaplib.IMAP4(server.host, server.port)
    imap.login(server.user, server.password)
    imap.select("INBOX", readonly=True)
    typ, data = imap.uid("SEARCH", "ALL")
    uids = data[0].split()
    done = 0
    for start in range(0, len(uids), batch):
        chunk = b",".join(uids[start : start + batch]).decode()
        typ, data = imap.uid("FETCH", chunk, "(UID BODY.PEEK[])")
        for item in data:
            if not isinstance(item, tuple):
                continue
            raw = item[1]
            msg = email.message_from_bytes(raw)
            size = 0
            for part in msg.walk():
                payload = part.get_payload(decode=True)
                if payload:
                    size += len(payload)
            conn.execute("BEGIN")
            conn.execute(
                "INSERT INTO msg (uid, message_id, subject, size) VALUES (?, ?, ?, ?)",
                (done, str(msg.get("Message-ID")), str(msg.get("Subject")), size),
            )
            conn.execute("COMMIT")
            done += 1
    imap.logout()
    conn.close()
    return done


def prepare_mailflow(work: Path, server: ImapTestServer) -> Path:
    """A config with the shipped defaults and an IMAP source, and a roster of every sender."""
    import yaml

    from mailflow.app import build_app
    from mailflow.config import load_settings
    from mailflow.store import Liaison, Unit

    shipped = yaml.safe_load((REPO / "config.yaml").read_text(encoding="utf-8"))
    shipped["paths"] = {"data": str(work / "data"), "rules": str(REPO / "rules"), "templates": str(REPO / "templates")}
    shipped["database"] = {"url": f"sqlite:///{work / 'mailflow.db'}"}
    shipped["sources"] = [
        {
            "name": "secretariat",
            "kind": "imap",
            "host": server.host,
            "port": server.port,
            "security": "none",
            "user": server.user,
            "password_env": "MAILFLOW_BENCH_PASSWORD",
            "start_from": "all",
        }
    ]
    config = work / "config.yaml"
    config.write_text(yaml.safe_dump(shipped, allow_unicode=True), encoding="utf-8")
    os.environ["MAILFLOW_BENCH_PASSWORD"] = server.password
    app = build_app(load_settings(config))
    with app.store.session() as session:
        for u in range(UNITS):
            unit = Unit(name=f"第{u:03d}机械制造有限公司", code=f"U{u:03d}")
            session.add(unit)
            session.flush()
            session.add(Liaison(unit_id=unit.id or 0, name=f"张{u:03d}", email=liaison(u)))
    app.close()
    return config


def _rss_kb(pid: int) -> int:
    """Memory of a process and all its descendants (the forked ingest process too), as PSS:
    pages the fork shares with its parent are counted once, split between the two."""
    total = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            total += next((int(line.split()[1]) for line in fh if line.startswith("Pss:")), 0)
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as fh:
                total += sum(_rss_kb(int(child)) for child in fh.read().split())
    except (OSError, ValueError):
        pass
    return total


def run_mailflow(config: Path, profile: Path | None = None) -> tuple[float, float, str]:
    """(seconds, peak RSS in MB of mailflow's processes together, summary line) of `mailflow run --once`.

    Memory is sampled every 20 ms from /proc: the rusage of a child would also count the
    memory of this (large) process it was forked from.
    """
    args = ["run", "--once", "--no-progress", "--config", str(config)]
    prefix = ["-m", "cProfile", "-o", str(profile)] if profile else []
    # Output goes to files: a pipe nobody reads while we sample would fill and stall mailflow.
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        proc = subprocess.Popen([sys.executable, *prefix, "-m", "mailflow", *args], stdout=out, stderr=err, text=True)
        peak = 0
        while proc.poll() is None:
            peak = max(peak, _rss_kb(proc.pid))
            time.sleep(0.02)
        elapsed = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if proc.returncode != 0:
        raise RuntimeError(f"mailflow failed:\n{stdout}\n{stderr[-3000:]}")
    return elapsed, peak / 1024, stdout.strip()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=5000, help="messages in the backlog (default 5000)")
    parser.add_argument("--photo-share", type=float, default=0.2, help="share of messages with a photo")
    parser.add_argument("--profile", type=Path, help="write a cProfile of the mailflow run to this file")
    args = parser.parse_args()
    if dovecot_binary() is None:
        print("bench/ingest needs Dovecot: apt-get install dovecot-imapd", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="mailflow-bench-") as tmp:
        work = Path(tmp)
        os.chmod(work, 0o755)
        (work / "dovecot").mkdir()
        server = ImapTestServer(work / "dovecot", kind="dovecot")
        server.start()
        try:
            t0 = time.perf_counter()
            total_mb = 0.0
            for start in range(0, args.n, 500):  # in slices, so the bench itself stays small
                messages = build_messages(min(500, args.n - start), args.photo_share, seed=start)
                total_mb += sum(len(m) for m in messages) / 1048576
                fill(server, messages)
            print(f"filled Dovecot with {args.n} messages ({total_mb:.0f} MB) in {time.perf_counter() - t0:.1f} s")

            t0 = time.perf_counter()
            done = baseline(server, work / "baseline.db")
            base_rate = done / (time.perf_counter() - t0)

            config = prepare_mailflow(work, server)
            seconds, rss_mb, summary = run_mailflow(config, args.profile)
            rate = args.n / seconds
            left = server.count("INBOX")
            moved = server.count("Processed")
        finally:
            server.stop()
    ratio = rate / base_rate
    print(f"mailflow:  {summary}; INBOX left {left}, moved to Processed {moved}")
    print(f"{'':10} {'messages/s':>12}")
    print(f"{'baseline':10} {base_rate:12.0f}")
    print(f"{'mailflow':10} {rate:12.0f}")
    print(
        f"ratio {ratio:.2f} (target >= 0.50)   peak memory {rss_mb:.0f} MB, PSS of all its processes (target < 200 MB)"
    )
    ok = ratio >= 0.5 and rss_mb < 200 and left == 0 and moved == args.n
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
