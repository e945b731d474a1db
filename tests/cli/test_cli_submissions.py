"""`mailflow do` screens a submission as a mail would; `mailflow submissions list | show` tell where each stands."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from builders import LIAISON, add_liaison, deliver, make_app, make_jpeg, make_mail, write_config

from mailflow.daemon import Daemon


def mailflow(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mailflow", *args, "--config", str(config)], capture_output=True, text=True, check=False
    )


def test_screened_from_the_command_line_then_listed_and_shown(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    app = make_app(tmp_path)
    add_liaison(app)
    photo = ("展会现场.jpg", make_jpeg(width=1600, height=1200), "image/jpeg")
    body = "11月20日，我公司参加了机床展。\n\n已经单位负责人审核。\n"
    deliver(
        tmp_path / "Maildir", make_mail(sender=LIAISON, subject="【报送】参加机床展", body=body, attachments=[photo])
    )
    Daemon(app).run_once()
    app.close()

    done = mailflow(config, "do", "#退修 BS-2026-0001 请补充成交数据")
    assert done.returncode == 0, done.stderr
    assert "BS-2026-0001 已退修，已将修改意见告知报送人" in done.stdout
    again = mailflow(config, "do", "#不采用 BS-2026-0009 无此稿")
    assert again.returncode == 1 and "没有编号为 BS-2026-0009 的报送信息" in again.stdout

    (listed,) = json.loads(mailflow(config, "submissions", "list", "--json").stdout)
    assert (listed["reference"], listed["state"], listed["title"]) == ("BS-2026-0001", "returned", "参加机床展")
    assert listed["unit"] == "宏达机械有限公司" and listed["by_liaison"] and listed["decision_note"] == "请补充成交数据"
    shown = json.loads(mailflow(config, "submissions", "show", "bs-2026-0001", "--json").stdout)
    assert shown["attachments"] == [
        {"name": "展会现场.jpg", "type": "jpeg", "size": len(photo[1]), "width": 1600, "height": 1200}
    ]
    assert [(v["version"], v["title"], v["photos"]) for v in shown["versions"]] == [(1, "参加机床展", 1)]
    assert (shown["event_date"], shown["review"]) == ("2026-11-20", "statement")
    table = mailflow(config, "submissions", "list", "--state", "returned")
    assert "BS-2026-0001" in table.stdout and "已退修" in table.stdout
    assert mailflow(config, "submissions", "show", "BS-2026-0404").returncode == 1
