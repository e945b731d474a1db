"""Soak test: a real `mailflow run` daemon under a steady stream of liaison mail.

    python bench/soak.py [--minutes 10] [--rate 9]

Set up on 127.0.0.1: a private Dovecot; an aiosmtpd sink in a process of its own that notes, for
every letter, when it arrived (the system's monotonic clock) and which message it answers (its
In-Reply-To); a roster of 200 liaisons; and `mailflow run` with IDLE on the Dovecot INBOX, SMTP
delivery to the sink, raw mail fsynced as shipped, and an hourly cap per address higher than the
whole stream, so that no letter is held back. The daemon's log goes to a file in the temp folder.

The stream: --rate messages a second APPENDed for --minutes (5,400 by default), each with a
Message-ID of its own, in Chinese, GB18030 and UTF-8 in turn; a fifth carry a photo (1024×768,
noise, ~440 KB: each one different, and big enough to be accepted), the rest are plain submissions.
Each message is due at its place in the schedule; one that falls behind goes at once.

Measured:
  memory    PSS of the daemon and all its child processes (the sender, the first pass's ingest),
            found through /proc/PID/task/*/children and read from /proc/PID/smaps_rollup as
            bench/ingest.py does, every second: at the start (the median of the 10 s after the
            warm-up: the first minute, or the first 10 % of a run longer than ten minutes, and at
            most half of a run shorter than two), the maximum, and at the end (the median of the
            stream's last 10 s);
  latency   from the start of each APPEND to its acknowledgement's arrival at the sink: median,
            95th and 99th percentile;
  delivery  letters at the sink per Message-ID, after waiting up to --drain seconds after the
            last APPEND for stragglers: lost (no letter) and duplicated (more than one);
  rate      messages APPENDed a second, and the daemon's CPU time over the run.
Targets (exit 1 if any fails): memory flat after warm-up (end <= start × 1.15 + 10 MB), nothing
lost, no duplicate, 99th percentile of the latency under 5 s.
Needs Dovecot (apt-get install dovecot-imapd).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from builders import add_liaison, make_app, make_jpeg, make_mail, write_config  # noqa: E402
from ingest import PARAGRAPH, SUBJECTS  # noqa: E402
from servers.imap import ImapTestServer, dovecot_binary  # noqa: E402
from servers.smtp import free_port  # noqa: E402

SENDER = "mishuchu@chamber.example.org"
LIAISONS = 200
PHOTO_SHARE = 0.2
GROWTH, SLACK_MB = 1.15, 10  # memory is flat when end <= start × GROWTH + SLACK_MB
P99_TARGET = 5.0  # seconds
WINDOW = 10  # seconds of samples behind the start and end figures

SINK = """
import sys, time
from email import policy
from email.parser import BytesHeaderParser
from aiosmtpd.controller import Controller

log = open(sys.argv[2], "a", buffering=1, encoding="utf-8")

def one_line(value):
    return " ".join(str(value or "").split())

class Sink:
    async def handle_DATA(self, server, session, envelope):
        arrived = time.monotonic()
        head = BytesHeaderParser(policy=policy.default).parsebytes(envelope.content)
        log.write(f"{arrived:.6f}\\t{one_line(head['In-Reply-To'])}\\t{one_line(head['Subject'])[:60]}\\n")
        return "250 OK"

controller = Controller(Sink(), hostname="127.0.0.1", port=int(sys.argv[1]))
controller.start()
print("ready", flush=True)
sys.stdin.read()
controller.stop()
"""


# -- the sink --------------------------------------------------------------------------------


class SinkProcess:
    """aiosmtpd in its own process; one line per letter in `log`: arrival, In-Reply-To, Subject."""

    def __init__(self, work: Path) -> None:
        self.port = free_port()
        self.log = work / "sink.tsv"
        self.log.touch()
        with open(work / "sink.err", "w") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", SINK, str(self.port), str(self.log)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
            )
        assert self.proc.stdout is not None
        if self.proc.stdout.readline().strip() != "ready":
            self.stop()
            raise RuntimeError(f"the SMTP sink did not start (see {work / 'sink.err'})")

    def letters(self) -> list[tuple[float, str, str]]:
        """(arrival, the Message-ID answered without brackets, subject) of every letter so far."""
        found = []
        for line in self.log.read_text(encoding="utf-8").splitlines(keepends=True):
            if line.endswith("\n"):  # a line being written is read next time
                arrived, answered, subject = line.rstrip("\n").split("\t", 2)
                found.append((float(arrived), answered.strip("<>"), subject))
        return found

    def stop(self) -> None:
        if self.proc.poll() is not None:
            return
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# -- the daemon ------------------------------------------------------------------------------


def configure(work: Path, server: ImapTestServer, smtp_port: int, letters: int) -> Path:
    """The daemon's config (IDLE on INBOX, SMTP to the sink, fsync on) and its roster of liaisons."""
    source = {
        "name": "secretariat",
        "kind": "imap",
        "host": server.host,
        "port": server.port,
        "security": "none",
        "user": server.user,
        "password_env": "MAILFLOW_SOAK_PASSWORD",
        "start_from": "all",
        "idle": True,
        "poll_interval": 60,
    }
    outbound = {
        "transport": "smtp",
        "from_address": SENDER,
        "max_replies_per_hour": letters + 10,
        "smtp": {"host": "127.0.0.1", "port": smtp_port, "security": "none"},
    }
    sections = {"sources": [source], "outbound": outbound, "daemon": {"fsync": True}}
    config = write_config(work, **sections)
    app = make_app(work, **sections)
    for u in range(LIAISONS):
        add_liaison(app, email=liaison(u), unit=unit_name(u), code=f"U{u:03d}")
    app.close()
    return config


class DaemonProcess:
    """`mailflow run` with its log in a file; stop() sends SIGTERM and waits, once."""

    def __init__(self, config: Path, env: dict[str, str], log: Path) -> None:
        self.log = log
        self.config = config
        self.env = env
        self.returncode: int | None = None
        self.stop_seconds = 0.0
        with open(log, "w") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "mailflow", "run", "--config", str(config)],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=err,
            )
        self.pid = self.proc.pid

    def stop(self, timeout: float = 60) -> None:
        if self.returncode is not None:
            return
        started = time.monotonic()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.stop_seconds = time.monotonic() - started
        self.returncode = self.proc.returncode

    def status(self) -> dict[str, dict[str, int]]:
        """`mailflow status --json`: messages and letters by state (after the daemon has stopped)."""
        done = subprocess.run(
            [sys.executable, "-m", "mailflow", "status", "--json", "--config", str(self.config)],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        try:
            data = json.loads(done.stdout)
        except ValueError:
            return {"status": {"unreadable": done.returncode}}
        return {"inbound": data.get("counts", {}), "outbox": data.get("outbox", {})}


# -- memory and CPU from /proc ---------------------------------------------------------------


def process_tree(pid: int) -> list[int]:
    """The process and all its descendants, through /proc/PID/task/*/children."""
    found = [pid]
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as fh:
                for child in fh.read().split():
                    found += process_tree(int(child))
    except OSError:
        pass  # ended meanwhile
    return found


def pss_kb(pid: int) -> int:
    """Proportional set size: pages a fork shares with its parent are counted once, split between them."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            return next((int(line.split()[1]) for line in fh if line.startswith("Pss:")), 0)
    except (OSError, ValueError):
        return 0


def cpu_seconds(pid: int) -> float:
    """CPU time of a process and its descendants, those that ended and were reaped included."""
    total = 0
    for member in process_tree(pid):
        try:
            with open(f"/proc/{member}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(f) for f in fields[11:15])  # utime, stime, cutime, cstime
    return total / os.sysconf("SC_CLK_TCK")


@dataclass
class Sampler:
    """Every `every` seconds, the PSS of each process of the daemon's tree, until stopped."""

    pid: int
    every: float = 1.0
    samples: list[tuple[float, dict[int, int]]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def start(self, limit: float) -> None:
        threading.Thread(target=self._run, args=(int(limit / self.every) + 1,), daemon=True).start()

    def _run(self, most: int) -> None:
        for _ in range(most):
            tree = {pid: pss_kb(pid) for pid in process_tree(self.pid)}
            self.samples.append((time.monotonic(), tree))
            if self._stop.wait(self.every):
                return

    def stop(self) -> None:
        self._stop.set()

    def total_mb(self, since: float = -math.inf, until: float = math.inf) -> list[float]:
        return [sum(tree.values()) / 1024 for t, tree in self.samples if since <= t <= until]

    def latest(self) -> float:
        return sum(self.samples[-1][1].values()) / 1024 if self.samples else 0.0


# -- the stream ------------------------------------------------------------------------------


def liaison(u: int) -> str:
    return f"liaison{u:03d}@unit{u:03d}.example.cn"


def unit_name(u: int) -> str:
    return f"第{u:03d}机械制造有限公司"


def message(i: int, rng: random.Random, run: str) -> tuple[str, bytes]:
    """(Message-ID without brackets, raw bytes) of the i-th message of the stream."""
    u = rng.randrange(LIAISONS)
    unit = unit_name(u)
    charset = "gb18030" if i % 2 else "utf-8"
    message_id = f"soak-{i}.{run}@unit{u:03d}.example.cn"
    attachments = None
    if rng.random() < PHOTO_SHARE:
        attachments = [(f"现场照片{i}.jpg", make_jpeg(noise=True), "image/jpeg")]
    raw = make_mail(
        sender=liaison(u),
        sender_name=f"张{u:03d}",
        subject=rng.choice(SUBJECTS).format(unit=unit),
        body="秘书处:\n\n" + PARAGRAPH.format(unit=unit) * rng.randint(1, 4) + f"\n联络员 张{u:03d}\n{unit}\n",
        charset=charset,
        attachments=attachments,
        message_id=f"<{message_id}>",
        date=datetime.now(UTC),
    )
    return message_id, raw


def stream(
    server: ImapTestServer, sink: SinkProcess, sampler: Sampler, total: int, rate: float
) -> tuple[dict[str, float], float]:
    """APPEND `total` messages at `rate` a second; (Message-ID -> APPEND start, seconds it took)."""
    rng, run = random.Random(11), os.urandom(4).hex()
    appended: dict[str, float] = {}
    started = time.monotonic()
    report_at = started + 60
    for i in range(total):
        message_id, raw = message(i, rng, run)
        pause = started + i / rate - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        appended[message_id] = time.monotonic()
        server.append(raw)
        if time.monotonic() >= report_at:
            report_at += 60
            progress(time.monotonic() - started, len(appended), len(sink.letters()), sampler.latest())
    return appended, time.monotonic() - started


def progress(elapsed: float, appended: int, letters: int, memory_mb: float) -> None:
    print(f"  {elapsed:5.0f} s  appended {appended:6d}  letters at the sink {letters:6d}  PSS {memory_mb:6.0f} MB")
    sys.stdout.flush()


def warm_up(server: ImapTestServer, sink: SinkProcess, daemon: DaemonProcess, timeout: float = 120) -> None:
    """One message first, not counted: its answer says the daemon is up and in IDLE."""
    server.append(make_mail(sender=liaison(0), subject="【报送】预热", message_id="<soak-warm@unit000.example.cn>"))
    deadline = time.monotonic() + timeout
    while not sink.letters():
        if daemon.proc.poll() is not None:
            raise RuntimeError(f"the daemon exited with {daemon.proc.returncode} (see {daemon.log})")
        if time.monotonic() > deadline:
            raise RuntimeError(f"the daemon did not answer within {timeout:.0f} s (see {daemon.log})")
        time.sleep(0.2)


def drain(sink: SinkProcess, appended: dict[str, float], seconds: float) -> float:
    """Wait until every message has a letter, or `seconds`; then 3 s more for late duplicates."""
    started = time.monotonic()
    for _ in range(int(seconds / 0.5) + 1):
        answered = {answered for _, answered, _ in sink.letters()}
        if all(message_id in answered for message_id in appended):
            break
        time.sleep(0.5)
    time.sleep(3)
    return time.monotonic() - started


# -- the report ------------------------------------------------------------------------------


@dataclass
class Delivery:
    latencies: list[float]
    lost: list[str]
    duplicated: dict[str, int]
    other: Counter[str]  # letters that answer no message of the stream, by subject's first word


def tally(appended: dict[str, float], letters: list[tuple[float, str, str]]) -> Delivery:
    arrivals: dict[str, list[float]] = {}
    other: Counter[str] = Counter()
    for arrived, answered, subject in letters:
        if answered in appended:
            arrivals.setdefault(answered, []).append(arrived)
        elif answered != "soak-warm@unit000.example.cn":
            other[subject.split(" ")[0] or "(no subject)"] += 1
    latencies = sorted(min(arrivals[m]) - appended[m] for m in arrivals)
    lost = [m for m in appended if m not in arrivals]
    duplicated = {m: len(times) for m, times in arrivals.items() if len(times) > 1}
    return Delivery(latencies, lost, duplicated, other)


def percentile(values: list[float], share: float) -> float:
    """Nearest rank of sorted `values`."""
    return values[max(0, math.ceil(share * len(values)) - 1)] if values else math.nan


def warm_up_seconds(duration: float) -> float:
    return min(max(60.0, duration * 0.1), duration / 2)


def memory(sampler: Sampler, started: float, duration: float, daemon_pid: int) -> tuple[bool, list[str]]:
    if not sampler.samples:
        return False, ["memory: no samples"]
    warm = warm_up_seconds(duration)
    start = statistics.median(sampler.total_mb(started + warm, started + warm + WINDOW) or [math.nan])
    end = statistics.median(sampler.total_mb(started + duration - WINDOW, started + duration) or [math.nan])
    everything = sampler.total_mb()
    peak = max(everything)
    peak_at = sampler.samples[everything.index(peak)][0] - started
    bound = start * GROWTH + SLACK_MB
    flat = end <= bound
    lines = [
        f"memory: PSS of the daemon and its child processes, every second ({len(everything)} samples)",
        f"  start {start:7.1f} MB   median of {warm:.0f}-{warm + WINDOW:.0f} s (after a warm-up of {warm:.0f} s)",
        f"  max   {peak:7.1f} MB   at {peak_at:.0f} s",
        f"  end   {end:7.1f} MB   median of the stream's last {WINDOW} s",
        f"  flat after warm-up: end <= start × {GROWTH} + {SLACK_MB} MB = {bound:.1f} MB: {'yes' if flat else 'NO'}",
        "  by process (start -> end): " + by_process(sampler, started + warm, started + duration, daemon_pid),
        "  each minute of the stream (median): " + by_minute(sampler, started, duration),
    ]
    return flat, lines


def by_process(sampler: Sampler, start: float, end: float, daemon_pid: int) -> str:
    """Each process's median PSS over the window after `start` and the one before `end`."""

    def medians(since: float, until: float) -> dict[int, float]:
        window = [tree for t, tree in sampler.samples if since <= t <= until]
        pids = {pid for tree in window for pid in tree}
        return {pid: statistics.median(tree.get(pid, 0) for tree in window) / 1024 for pid in pids}

    first, last = medians(start, start + WINDOW), medians(end - WINDOW, end)
    parts = []
    for pid in sorted(set(first) | set(last), key=lambda p: (p != daemon_pid, p)):
        name = "daemon" if pid == daemon_pid else f"child {pid}"
        parts.append(f"{name} {first.get(pid, 0):.0f} -> {last.get(pid, 0):.0f} MB")
    return ", ".join(parts)


def by_minute(sampler: Sampler, started: float, duration: float) -> str:
    """The median PSS of each minute of the stream, to show a trend."""
    minutes = []
    for m in range(math.ceil(duration / 60)):
        window = sampler.total_mb(started + 60 * m, min(started + 60 * (m + 1), started + duration))
        minutes.append(f"{statistics.median(window):.0f}" if window else "-")
    return " ".join(minutes) + " MB"


def log_summary(log: Path, shown: int = 8) -> list[str]:
    """Warnings and errors in the daemon's log, by kind, with the first few as they were written."""
    text = log.read_text(encoding="utf-8", errors="replace") if log.exists() else ""
    levels: Counter[str] = Counter()
    first: list[str] = []
    for line in text.splitlines():
        found = re.match(r"\S+ \S+ (WARNING|ERROR|CRITICAL) ", line)
        if found:
            levels[found.group(1)] += 1
            if len(first) < shown:
                first.append("    " + line[:200])
    tracebacks = text.count("Traceback (most recent call last)")
    head = f"daemon log ({log.name}): {levels['WARNING']} warnings, {levels['ERROR'] + levels['CRITICAL']} errors, {tracebacks} tracebacks"
    return [head, *first]


def nonzero(counts: dict[str, int]) -> str:
    return ", ".join(f"{state} {count}" for state, count in counts.items() if count) or "none"


# -- main ------------------------------------------------------------------------------------


def soak(args: argparse.Namespace, work: Path) -> bool:
    duration = args.minutes * 60
    total = max(1, round(duration * args.rate))
    print(
        f"soak: {total} messages over {duration:.0f} s ({args.rate:g}/s), {PHOTO_SHARE:.0%} with a 1024×768 photo, "
        f"from {LIAISONS} liaisons; warm-up {warm_up_seconds(duration):.0f} s; work folder {work}"
    )
    with ExitStack() as stack:
        sink = SinkProcess(work)
        stack.callback(sink.stop)
        (work / "dovecot").mkdir()
        server = ImapTestServer(work / "dovecot", kind="dovecot")
        server.start()
        stack.callback(server.stop)
        config = configure(work, server, sink.port, total)
        env = {**os.environ, "MAILFLOW_SOAK_PASSWORD": server.password}
        daemon = DaemonProcess(config, env, work / "daemon.log")
        stack.callback(daemon.stop)
        sampler = Sampler(daemon.pid)
        sampler.start(limit=duration + args.drain + 600)
        stack.callback(sampler.stop)
        warm_up(server, sink, daemon)
        cpu_before = cpu_seconds(daemon.pid)
        started = time.monotonic()
        appended, seconds = stream(server, sink, sampler, total, args.rate)
        cpu = cpu_seconds(daemon.pid) - cpu_before
        waited = drain(sink, appended, args.drain)
        sampler.stop()
        daemon.stop()
        status = daemon.status()
        left, moved = server.count("INBOX"), server.count("Processed")
        delivery = tally(appended, sink.letters())
    flat, memory_lines = memory(sampler, started, seconds, daemon.pid)
    lat = delivery.latencies
    p99 = percentile(lat, 0.99)
    print(f"appended {len(appended)} in {seconds:.1f} s: {len(appended) / seconds:.2f} messages/s")
    print(f"daemon CPU {cpu:.0f} s over the stream ({cpu / seconds:.0%} of one core)")
    print(*memory_lines, sep="\n")
    print(
        f"latency, APPEND -> acknowledgement at the sink ({len(lat)} letters): median {statistics.median(lat or [math.nan]):.3f} s, "
        f"95th {percentile(lat, 0.95):.3f} s, 99th {p99:.3f} s, max {max(lat or [math.nan]):.3f} s (target: 99th < {P99_TARGET:g} s)"
    )
    print(
        f"delivery: {len(appended)} messages, {len(appended) - len(delivery.lost)} answered; lost {len(delivery.lost)}, "
        f"duplicated {len(delivery.duplicated)} (waited {waited:.0f} s after the last APPEND, at most {args.drain:.0f} s + 3 s)"
    )
    for name, listing in (("lost", delivery.lost), ("duplicated", list(delivery.duplicated))):
        if listing:
            print(f"  {name}: {' '.join(listing[:10])}{' …' if len(listing) > 10 else ''}")
    if delivery.other:
        print(f"  other letters: {dict(delivery.other)}")
    print(f"store: inbound {nonzero(status['inbound'])}; outbox {nonzero(status['outbox'])}")
    print(f"Dovecot: INBOX {left} left, Processed {moved}")
    print(f"daemon stopped in {daemon.stop_seconds:.1f} s with exit code {daemon.returncode}")
    print(*log_summary(daemon.log), sep="\n")
    results = {
        "memory flat": flat,
        "nothing lost": not delivery.lost,
        "no duplicate": not delivery.duplicated,
        f"p99 < {P99_TARGET:g} s": p99 < P99_TARGET,
    }
    print("targets: " + ", ".join(f"{name} {'PASS' if ok else 'FAIL'}" for name, ok in results.items()))
    return all(results.values())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10, help="length of the stream (default 10)")
    parser.add_argument("--rate", type=float, default=9, help="messages APPENDed a second (default 9)")
    parser.add_argument("--drain", type=float, default=120, help="most seconds to wait for stragglers (default 120)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (kept anyway when the soak fails)")
    args = parser.parse_args()
    if args.minutes <= 0 or args.rate <= 0:
        parser.error("--minutes and --rate must be positive")
    if dovecot_binary() is None:
        print("bench/soak needs Dovecot: apt-get install dovecot-imapd", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="mailflow-soak-"))
    os.chmod(work, 0o755)
    ok = False
    try:
        ok = soak(args, work)
    finally:
        if ok and not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"work folder kept: {work} (the daemon's log, database and archive; remove it when done)")
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
