"""The details in a registration or change mail, as people write them: 项目：内容 lines."""

from __future__ import annotations

from mailflow.members.form import read_form


def test_a_form_as_an_office_writes_it() -> None:
    form = read_form(
        "秘书处：\n您好！信息如下：\n1. 单位名称：成都宏达机械有限公司\n2、统一社会信用代码： 91510100MA6123456W\n"
        "联络员：李明；职务：市场部经理\n手机：138 0013 8000\n电子邮箱：LiMing@HongDa.cn\n"
        "单位负责人：张三    负责人邮箱：zhang@hongda.cn\n是否新会员：是\n"
    )
    assert form.values == {
        "name": "成都宏达机械有限公司",
        "code": "91510100MA6123456W",
        "liaison_name": "李明",
        "liaison_position": "市场部经理",
        "liaison_phone": "138 0013 8000",
        "liaison_email": "liming@hongda.cn",
        "leader_name": "张三",
        "leader_email": "zhang@hongda.cn",
    }
    assert form.joining and form.problems == ()


def test_full_width_colons_and_english_keys() -> None:
    form = read_form("Name: Li Ming\nEmail: li@x.cn\nCompany: Hongda\nMobile：13800138000")
    assert form.values == {"liaison_name": "Li Ming", "liaison_email": "li@x.cn", "name": "Hongda",
                           "liaison_phone": "13800138000"}  # fmt: skip


def test_the_old_liaison_is_never_read_as_the_new_one() -> None:
    form = read_form("原联络员：王芳\n邮箱：wf@x.cn\n新联络员：赵六\n邮箱：zl@x.cn\n手机：13900001111")
    assert form.values == {"liaison_name": "赵六", "liaison_email": "zl@x.cn", "liaison_phone": "13900001111"}


def test_quoted_mail_is_not_read() -> None:
    form = read_form("联络员：李明\n\n-----原始邮件-----\n发件人：秘书处\n联络员：王五\n邮箱：w@x.cn")
    assert form.values == {"liaison_name": "李明"}


def test_a_wrong_email_or_code_is_a_problem_not_a_value() -> None:
    form = read_form("邮箱：不是邮箱\n统一社会信用代码：91510100MA61234567\n联络员：李明")
    assert form.values == {"liaison_name": "李明"}
    assert [zh for zh, _ in form.problems] == [
        "联络员邮箱“不是邮箱”不是有效的邮箱地址",
        "统一社会信用代码 91510100MA61234567 有误：第 18 位校验码应为 W，现为 7，可能有字符录入错误",
    ]


def test_values_are_single_bounded_lines() -> None:
    form = read_form("地址：" + "长" * 500 + "\n联络员：\t李明\u2028下一行")
    assert len(form.get("address")) == 200 and "\n" not in form.get("liaison_name")
