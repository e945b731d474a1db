"""Why a message was rejected, held or ignored, worded for the sender in zh-CN and in en.

A reason is a code plus parameters; the wording lives in one table here so that the reply
templates, the digest and `inbox list` all say the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# code -> (zh-CN, en); parameters are filled with str.format.
MESSAGES: dict[str, tuple[str, str]] = {
    "too_large": (
        "邮件大小 {size_mb} MB，超过 {limit_mb} MB 的上限",
        "the message is {size_mb} MB, over the {limit_mb} MB limit",
    ),
    "header_too_large": (
        "邮件头大小 {size_kb} KB，超过 {limit_kb} KB 的上限",
        "the header is {size_kb} KB, over the {limit_kb} KB limit",
    ),
    "too_many_parts": (
        "邮件包含 {parts} 个部分，超过 {limit} 个的上限",
        "the message has {parts} parts, over the limit of {limit}",
    ),
    "too_deep": (
        "邮件嵌套 {depth} 层，超过 {limit} 层的上限",
        "the message is nested {depth} levels deep, over the limit of {limit}",
    ),
    "parse_timeout": ("邮件解析超过 {seconds} 秒仍未完成", "parsing did not finish within {seconds} s"),
    "parse_failed": ("邮件无法解析：{detail}", "the message could not be parsed: {detail}"),
    "empty_message": ("邮件为空", "the message is empty"),
    "no_sender": ("邮件没有可识别的发件人", "the message has no usable sender"),
    "unknown_sender": ("发件人 {email} 不是已登记的联络员", "the sender {email} is not a registered liaison"),
    # From is not one plain mailbox (parse.sender): held, never answered, never matched to a liaison.
    "from_twice": (
        "邮件含有多个发件人（From）字段，无法确认发件人，已转秘书处人工处理",
        "the message has more than one From header; the sender cannot be known, held for the secretariat",
    ),
    "from_several": (
        "发件人（From）字段含有多个地址，无法确认发件人，已转秘书处人工处理",
        "the From header holds several addresses; the sender cannot be known, held for the secretariat",
    ),
    "from_control": (
        "发件人地址含有控制字符，疑为伪造，已转秘书处人工处理",
        "the sender's address holds control characters and may be forged; held for the secretariat",
    ),
    "from_malformed": (
        "发件人（From）字段格式异常（{email}），疑为伪造，已转秘书处人工处理",
        "the From header is malformed ({email}) and may be forged; held for the secretariat",
    ),
    "from_address_in_name": (
        "发件人显示名中含有另一个邮箱地址（实际发件地址 {email}），疑为冒充，已转秘书处人工处理",
        "the sender's display name shows another address than the real one ({email}); held for the secretariat",
    ),
    "from_lookalike": (
        "发件人地址 {email} 含有形近字符，疑为仿冒域名，已转秘书处人工处理",
        "the sender's address {email} uses look-alike characters and may imitate another domain; held for the secretariat",
    ),
    "forged_sender": (
        "收件服务器认证未通过（{why}），邮件可能并非 {email} 所发，已转秘书处人工处理，不予答复",
        "our receiving server's check failed ({why}): the message may not come from {email}; held, not answered",
    ),
    "reply_to_letter": (
        "对本会来信（{letter}）的回复，已转秘书处阅处",
        "a reply to our letter ({letter}); passed to the secretariat",
    ),
    "unauthenticated_command": (
        "秘书处指令未能证实来自 {email}（既无本方服务器的 DKIM/DMARC 通过记录，也不是对发往该邮箱的本方邮件的回复），未执行，也未回复",
        "a command from {email} that could not be proved (no DKIM/DMARC pass from our server, and not a reply"
        " to a letter we sent to that address); not executed and not answered",
    ),
    "already_liaison": (
        "{email} 已是“{unit}”的在册联络员",
        "{email} is already the registered liaison of {unit}",
    ),
    "change_not_from_unit": (
        "“{unit}”的联络员变更或信息变更须由该单位负责人或现任联络员提出，{email} 不是其中之一，已转秘书处人工处理",
        "a change for {unit} must come from its leader or its current liaison, which {email} is not; held for the secretariat",
    ),
    "request_from_secretariat": (
        "秘书处邮箱发出的登记或变更邮件不作为申请处理，已转秘书处人工处理",
        "a registration or change sent from a secretariat address is not taken as an application; held",
    ),
    "unit_not_found": (
        "会员名录中没有“{unit}”这家单位",
        "there is no member unit {unit} in the registry",
    ),
    "change_incomplete": ("邮件中未写明{missing}。{example}", "the message does not give {missing_en}. {example_en}"),
    "form_value": ("{zh}", "{en}"),
    "unknown_intent": (
        "无法识别邮件用途，已转秘书处人工处理",
        "the purpose of the message was not recognised; held for the secretariat",
    ),
    "auto_reply": ("自动回复邮件（{why}），不予处理", "automatic reply ({why}); not acted on"),
    "bounce": ("退信通知（{why}），不予处理", "delivery status notification ({why}); not acted on"),
    "machine_report": (
        "程序发出的报告（{why}），不予处理",
        "a report sent by a program ({why}); not acted on",
    ),
    "skipped_first_run": (
        "首次启动前已在邮箱中的邮件，仅记录不处理",
        "in the mailbox before the first start; recorded, not acted on",
    ),
    "duplicate": (
        "与已收邮件 #{original} 内容相同，不再重复处理",
        "same content as message #{original}; not processed again",
    ),
    "processing_failed": ("处理过程出错：{detail}", "processing failed: {detail}"),
    "photo_too_small": (
        "照片 {name} 为 {width}×{height}，低于 {min_width}×{min_height} 的要求",
        "photo {name} is {width}×{height}, below the required {min_width}×{min_height}",
    ),
    "type_mismatch": (
        "附件 {name} 声明为 {declared}，实际为 {detected}",
        "attachment {name} is declared as {declared} but is really {detected}",
    ),
    "unrecognised_content": (
        "附件 {name} 的内容不是有效的 {declared} 文件，可能已损坏",
        "attachment {name} is not a valid {declared} file; it may be corrupt",
    ),
    "corrupt_image": ("图片 {name} 已损坏，无法读取", "image {name} is corrupt and cannot be read"),
    "image_bomb": (
        "图片 {name} 像素尺寸 {width}×{height} 过大，已拒收",
        "image {name} is {width}×{height} pixels, too large to accept",
    ),
    "attachment_too_large": (
        "附件 {name} 大小 {size_mb} MB，超过单个附件 {limit_mb} MB 的上限",
        "attachment {name} is {size_mb} MB, over the {limit_mb} MB limit per attachment",
    ),
    "attachments_too_large": (
        "附件合计 {size_mb} MB，超过每封邮件 {limit_mb} MB 的上限",
        "attachments total {size_mb} MB, over the {limit_mb} MB limit per message",
    ),
    "type_not_allowed": (
        "附件 {name} 的类型 {ext} 不在允许范围内（允许：{allowed}）",
        "attachment {name} has type {ext}, which is not allowed (allowed: {allowed})",
    ),
    "missing_attachment": ("邮件缺少所需的附件：{what}", "the message lacks a required attachment: {what}"),
    # Circulars (workflows.circular): refused before anything is queued.
    "unauthenticated_circular": (
        "秘书处通知未能证实来自 {email}（既无本方服务器的 DKIM/DMARC 通过记录，也不是对发往该邮箱的本方邮件的回复），未发出，也未回复",
        "a circular from {email} that could not be proved (no DKIM/DMARC pass from our server, and not a reply"
        " to a letter we sent to that address); not sent and not answered",
    ),
    "circular_secretariat_only": ("只有商会秘书处可以发出通知", "only the chamber's secretariat may send circulars"),
    "circular_no_line": (
        "未在您本人所写的内容中找到“#通知”行（引用的原文不算），无法确定发送对象，通知未发出",
        "no #circular line in your own text (quoted text does not count); the audience is unknown, nothing was sent",
    ),
    "circular_audience": ("无法识别的发送对象“{word}”，通知未发出", "unknown audience {word!r}; nothing was sent"),
    "circular_with_commands": (
        "通知中含有指令行（{lines}），为免误发，通知未发出",
        "the circular holds command lines ({lines}); to send nothing by mistake, nothing was sent",
    ),
    "circular_no_subject": ("通知没有标题，未发出", "the circular has no subject; nothing was sent"),
    "circular_no_body": ("通知没有正文，未发出", "the circular has no text; nothing was sent"),
    "circular_too_large": (
        "通知附件合计 {size_mb} MB，超过 {limit_mb} MB 的上限，未发出",
        "the circular's files total {size_mb} MB, over the {limit_mb} MB limit; nothing was sent",
    ),
    "circular_unknown_units": (
        "以下代码不属于任何会员单位：{codes}，通知未发出",
        "these codes name no member unit: {codes}; nothing was sent",
    ),
    "circular_no_recipients": (
        "发送对象（{audience}）中没有可发送的邮箱，通知未发出",
        "no address to send to among {audience}; nothing was sent",
    ),
    # Requests for information (workflows.requests): refused before anything is queued.
    "unauthenticated_request": (
        "秘书处报送任务未能证实来自 {email}（既无本方服务器的 DKIM/DMARC 通过记录，也不是对发往该邮箱的本方邮件的回复），未发出，也未回复",
        "a request from {email} that could not be proved (no DKIM/DMARC pass from our server, and not a reply"
        " to a letter we sent to that address); not sent and not answered",
    ),
    "request_secretariat_only": ("只有商会秘书处可以发出报送任务", "only the chamber's secretariat may send requests"),
    "request_no_line": (
        "未在您本人所写的内容中找到“#征集”行，报送任务未发出",
        "no #request line in your own text; nothing was sent",
    ),
    "request_with_commands": (
        "报送任务中含有指令行（{lines}），为免误发，任务未发出",
        "the request holds command lines ({lines}); to send nothing by mistake, nothing was sent",
    ),
    "request_no_title": ("报送任务没有标题，未发出", "the request has no title; nothing was sent"),
    "request_no_body": ("报送任务没有正文（征集内容和要求），未发出", "the request has no text; nothing was sent"),
    "request_too_large": (
        "报送任务附件合计 {size_mb} MB，超过 {limit_mb} MB 的上限，未发出",
        "the request's files total {size_mb} MB, over the {limit_mb} MB limit; nothing was sent",
    ),
    "request_no_due": ("报送任务未写明截止日期，未发出", "the request names no due date; nothing was sent"),
    "request_bad_due": (
        "无法识别截止日期“{text}”，报送任务未发出",
        "the due date {text!r} cannot be read; nothing was sent",
    ),
    "request_due_passed": (
        "截止日期 {due} 不晚于今天（{today}），报送任务未发出",
        "the due date {due} is not after today ({today}); nothing was sent",
    ),
    "request_no_audience": (
        "报送任务未写明报送对象（全体联络员或单位代码），未发出",
        "the request names nobody to ask (all liaisons, or units' codes); nothing was sent",
    ),
    "request_unknown_units": (
        "以下代码不属于任何会员单位：{codes}，报送任务未发出",
        "these codes name no member unit: {codes}; nothing was sent",
    ),
    "request_no_recipients": (
        "所选单位均无在岗联络员，报送任务未发出",
        "none of the units asked has an active liaison; nothing was sent",
    ),
    "request_receipt_only": (
        "对报送任务 {reference} 的“收到”回复，不作为报送",
        "an acknowledgement of the request {reference}, not an answer to it",
    ),
}


# code -> (zh-CN, en): how the sender puts it right; told in the rejection beside the reason.
FIXES: dict[str, tuple[str, str]] = {
    "too_large": ("请压缩附件或分多封邮件发送。", "Compress the attachments or send them in several messages."),
    "header_too_large": (
        "请新建邮件重新发送，勿在长串转发中回复。",
        "Send a new message rather than a reply to a long thread.",
    ),
    "too_many_parts": ("请减少附件数量，或打包为一个压缩文件。", "Send fewer attachments, or one archive."),
    "too_deep": ("请直接附上文件，勿多层转发。", "Attach the files directly rather than forwarding forwards."),
    "photo_too_small": (
        "请发送不低于 {min_width}×{min_height} 像素的原图（在手机上选择“原图”发送）。",
        "Send the original photo of at least {min_width}×{min_height} pixels (choose the full size on a phone).",
    ),
    "type_mismatch": (
        "请确认附件格式，按文件实际格式命名后重新发送。",
        "Check the file and send it under its real type.",
    ),
    "unrecognised_content": ("请重新导出或另存该文件后发送。", "Export or save the file again, then send it."),
    "corrupt_image": ("请重新拍摄或导出该图片后发送。", "Take or export the picture again, then send it."),
    "image_bomb": ("请将图片缩小至正常照片尺寸后发送。", "Resize the picture to a normal photo size and send it."),
    "attachment_too_large": (
        "请将该附件压缩至 {limit_mb} MB 以内，或分别发送。",
        "Compress the attachment below {limit_mb} MB, or send it separately.",
    ),
    "attachments_too_large": (
        "请将附件分多封邮件发送，每封合计不超过 {limit_mb} MB。",
        "Send the attachments in several messages of at most {limit_mb} MB each.",
    ),
    "type_not_allowed": (
        "请转换为允许的格式（{allowed}）后发送。",
        "Convert it to an allowed type ({allowed}) and send it again.",
    ),
    "missing_attachment": ("请补充附件后重新发送。", "Add the attachment and send the message again."),
    "already_liaison": (
        "如需更换所在单位或联络员，请由单位负责人发送主题含【变更】的邮件。",
        "To change unit or liaison, the unit's leader sends a message with 【变更】 in the subject.",
    ),
    "unit_not_found": (
        "请核对单位全称或统一社会信用代码；新入会单位请发送【登记】邮件并写明“是否新会员：是”。",
        "Check the unit's full name or credit code; a unit joining the chamber sends a 【登记】 message with "
        "'是否新会员：是'.",
    ),
    "form_value": ("请更正后重新发送。", "Correct it and send the message again."),
    "circular_no_line": (
        "请在正文中单独写一行“#通知 全体联络员”（或“全体负责人”“全体”）后重新发送。",
        "Write a line of its own, #circular liaisons (or leaders, or all), and send it again.",
    ),
    "circular_audience": (
        "请写“#通知 全体联络员”“#通知 全体负责人”或“#通知 全体”，需要时在其后写出单位的统一社会信用代码。",
        "Write #circular liaisons, #circular leaders or #circular all, then the units' codes if only some are meant.",
    ),
    "circular_with_commands": (
        "通知与指令请分开发送；如该行是通知正文，请去掉行首的“#”。",
        "Send circulars and commands in separate messages; if the line belongs to the text, remove its leading #.",
    ),
    "circular_no_subject": (
        "请以邮件主题作为通知标题，填写后重新发送。",
        "Give the circular its title as the subject, and send it again.",
    ),
    "circular_no_body": (
        "请在正文中写明通知内容后重新发送。",
        "Write the circular's text in the body, and send it again.",
    ),
    "circular_too_large": (
        "请压缩附件，或将大文件上传至网盘后在正文中附上链接，再重新发送。",
        "Compress the files, or share large ones by a link in the text, and send it again.",
    ),
    "circular_unknown_units": (
        "请核对统一社会信用代码（mailflow units list 可查）后重新发送。",
        "Check the codes (mailflow units list shows them) and send it again.",
    ),
    "circular_no_recipients": (
        "请先导入会员名录（mailflow units import），或核对发送对象后重新发送。",
        "Import the member registry first (mailflow units import), or check the audience, and send it again.",
    ),
    "request_no_line": (
        "请在主题或正文中单独写一行“#征集 标题 截止 2026-12-15 全体联络员”后重新发送。",
        "Write a line of its own, #request title due 2026-12-15 all, and send it again.",
    ),
    "request_with_commands": (
        "报送任务与指令请分开发送；如该行是任务正文，请去掉行首的“#”。",
        "Send requests and commands in separate messages; if the line belongs to the text, remove its leading #.",
    ),
    "request_no_title": (
        "请写成“#征集 标题 截止 2026-12-15 全体联络员”，或以邮件主题作为标题，后重新发送。",
        "Write #request title due 2026-12-15 all, or give the title as the subject, and send it again.",
    ),
    "request_too_large": (
        "请压缩附件（如需填写的表格），或将大文件上传至网盘后在正文中附上链接，再重新发送。",
        "Compress the files (the form to fill in), or put large ones online and link them in the text, then send it again.",
    ),
    "request_no_body": (
        "请在正文中写明征集的内容和要求后重新发送。",
        "Write what is asked, and how, in the body, and send it again.",
    ),
    "request_no_due": (
        "请在“#征集”行中写明“截止 2026-12-15”（也可写 2026年12月15日、12月15日）后重新发送。",
        "Write the due date in the #request line, due 2026-12-15, and send it again.",
    ),
    "request_bad_due": (
        "请写成“截止 2026-12-15”“截止 2026年12月15日”或“截止 12月15日”后重新发送。",
        "Write the date as due 2026-12-15, and send it again.",
    ),
    "request_due_passed": (
        "请核对截止日期，写一个今天以后的日期后重新发送。",
        "Check the due date, give one after today, and send it again.",
    ),
    "request_no_audience": (
        "请在截止日期后写“全体联络员”，或写出单位代码（以逗号分隔）后重新发送。",
        "After the due date write all, or the units' codes separated by commas, and send it again.",
    ),
    "request_unknown_units": (
        "请核对单位代码（mailflow units list 可查）后重新发送。",
        "Check the codes (mailflow units list shows them) and send it again.",
    ),
    "request_no_recipients": (
        "请先为这些单位登记联络员（mailflow units import），或核对单位代码后重新发送。",
        "Register the units' liaisons first (mailflow units import), or check the codes, and send it again.",
    ),
}


def in_locale(pair: tuple[str, str], locale: str) -> str:
    """The zh-CN or the en wording of a (zh, en) pair: en for an English locale, zh otherwise."""
    return pair[1] if locale.startswith("en") else pair[0]


@dataclass(frozen=True)
class Reason:
    """One problem with a message, in both locales."""

    code: str
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.code not in MESSAGES:
            raise KeyError(f"unknown reason code {self.code!r}")

    @property
    def zh(self) -> str:
        return MESSAGES[self.code][0].format(**self.params)

    @property
    def en(self) -> str:
        return MESSAGES[self.code][1].format(**self.params)

    def text(self, locale: str) -> str:
        return in_locale((self.zh, self.en), locale)

    def fix(self, locale: str) -> str:
        """How the sender puts it right, or "" when there is nothing they can do."""
        if self.code not in FIXES:
            return ""
        return in_locale(FIXES[self.code], locale).format(**self.params)

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "params": self.params, "zh": self.zh, "en": self.en}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Reason:
        return cls(data["code"], dict(data.get("params", {})))
