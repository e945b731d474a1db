"""Registry benchmark: `mailflow units import` of a member list, beside openpyxl merely reading it.

    python bench/registry.py [-n 5000] [--runs 3]

Writes an .xlsx of N member units as an office keeps it (a title row, the header, each unit with
its code, leader and liaison), then measures, over the same file in the same run:
  read      openpyxl in read-only mode iterating every cell of every row, and nothing else;
  mailflow  `mailflow units import FILE` into a fresh SQLite store, in this process as typer runs
            the command (reading, checking, writing units, liaisons and their history, commit),
            its output captured. The interpreter's start is left out: it is the same for any tool.
Then imports the unchanged file again and counts the INSERT, UPDATE and DELETE statements it sends
(SQLAlchemy's before_cursor_execute): 0, since an import that changes nothing writes nothing, not
even an audit entry (`mailflow units import` says so; the audit trail keeps acts that changed
something). Each run uses a fresh store and compares its import with the reads just before and
after it, so that a machine busy with other work weighs on both sides of the ratio alike.
Prints each run, ratio = mailflow / read as the median of the runs (target <= 3) and the
statements the re-imports sent (target 0).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml
from openpyxl import Workbook, load_workbook
from sqlalchemy import event
from sqlalchemy.engine import Engine

REPO = Path(__file__).resolve().parents[1]
HEADER = ["单位名称", "统一社会信用代码", "会员类别", "负责人", "负责人邮箱", "负责人手机", "地址"]
HEADER += ["联络员", "联络员邮箱", "联络员手机", "职务"]
CLASSES = ("会长单位", "副会长单位", "理事单位", "会员单位")


def write_list(path: Path, count: int) -> None:
    """N units under a title row, codes with their check character, phones and codes as text."""
    from mailflow.members import check_character

    book = Workbook()  # not write_only: Excel's way, shared strings and a recorded used range
    sheet = book.active
    sheet.title = "会员单位"
    sheet.append(["成都市机械制造业商会会员单位名录（2026年）"])
    sheet.append(HEADER)
    for n in range(count):
        body = f"91510100MA{n:07d}"
        sheet.append(
            [
                f"成都第{n:05d}机械制造有限公司", body + check_character(body), CLASSES[n % len(CLASSES)], f"李{n:05d}",
                f"leader{n}@unit{n:05d}.cn", f"138{n:08d}", f"成都市高新区天府大道北段{n}号", f"张{n:05d}",
                f"liaison{n}@unit{n:05d}.cn", f"0288{n:07d}", "办公室主任",
            ]
        )  # fmt: skip
    book.save(path)


def read_all(path: Path) -> tuple[float, int]:
    """(seconds, cells) for openpyxl reading every cell, the floor any import stands on."""
    started = time.perf_counter()
    book = load_workbook(path, read_only=True, data_only=True)
    cells = 0
    for sheet in book.worksheets:
        for row in sheet.iter_rows(values_only=True):
            cells += len(row)
    book.close()
    return time.perf_counter() - started, cells


def config_for(work: Path) -> Path:
    """The shipped config, with its paths and a SQLite store in `work`."""
    shipped = yaml.safe_load((REPO / "config.yaml").read_text(encoding="utf-8"))
    shipped["paths"] = {"data": str(work / "data"), "rules": str(REPO / "rules"), "templates": str(REPO / "templates")}
    shipped["database"] = {"url": f"sqlite:///{work / 'mailflow.db'}"}
    shipped["sources"] = [{"name": "local", "kind": "maildir", "path": str(work / "maildir")}]
    config = work / "config.yaml"
    config.write_text(yaml.safe_dump(shipped, allow_unicode=True), encoding="utf-8")
    return config


class Writes:
    """INSERT, UPDATE and DELETE statements sent by any engine while counting (executemany counts once)."""

    def __init__(self) -> None:
        self.count = 0
        self.counting = False
        self.seen: list[str] = []
        event.listen(Engine, "before_cursor_execute", self._statement)

    def _statement(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if self.counting and statement.lstrip().split(None, 1)[0].upper() in ("INSERT", "UPDATE", "DELETE"):
            self.count += 1
            self.seen.append(statement[:80])


def run_import(config: Path, path: Path) -> tuple[float, str]:
    """(seconds, last line printed) of `mailflow units import`, run in this process."""
    from typer.testing import CliRunner

    from mailflow.cli import app

    started = time.perf_counter()
    done = CliRunner().invoke(app, ["units", "import", str(path), "--config", str(config)])
    elapsed = time.perf_counter() - started
    if done.exit_code != 0:
        raise RuntimeError(f"mailflow units import failed ({done.exit_code}):\n{done.output[-3000:]}")
    return elapsed, done.stdout.strip().splitlines()[-1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=5000, help="units in the list (default 5000)")
    parser.add_argument("--runs", type=int, default=3, help="runs, each on a fresh store (the median counts)")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    import mailflow.cli  # noqa: F401  (imported before timing: the interpreter's share is not the import's)

    writes = Writes()
    runs: list[tuple[float, float, float, int]] = []  # read, import, re-import, writes of the re-import
    with tempfile.TemporaryDirectory(prefix="mailflow-bench-") as tmp:
        path = Path(tmp) / "会员名录.xlsx"
        write_list(path, args.n)
        for run in range(args.runs):
            before, cells = read_all(path)
            work = Path(tmp) / f"run{run}"
            work.mkdir()
            config = config_for(work)
            seconds, summary = run_import(config, path)
            after, _ = read_all(path)
            writes.count, writes.seen, writes.counting = 0, [], True
            unchanged, second = run_import(config, path)
            writes.counting = False
            runs.append(((before + after) / 2, seconds, unchanged, writes.count))
    print(f"{args.n} units, {cells} cells read; mailflow: {summary}")
    print(f"re-import of the unchanged file: {second}")
    print(f"{'run':>4} {'read s':>8} {'import s':>9} {'ratio':>6} {'re-import s':>12} {'its writes':>11}")
    for number, (read, seconds, unchanged, count) in enumerate(runs, 1):
        print(f"{number:>4} {read:8.2f} {seconds:9.2f} {seconds / read:6.2f} {unchanged:12.2f} {count:11}")
    ratio = statistics.median(seconds / read for read, seconds, _, _ in runs)
    statements = max(count for *_, count in runs)
    print(f"ratio = mailflow time / read time = {ratio:.2f}, the median of the runs (target <= 3)")
    print(f"re-import writes: {statements} INSERT/UPDATE/DELETE statement(s) (target 0)")
    for statement in writes.seen[:5]:
        print(f"  {statement}")
    ok = ratio <= 3 and statements == 0
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
