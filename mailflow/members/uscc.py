"""统一社会信用代码 (unified social credit code): normalise it and check it as GB 32100-2015 defines.

A code is 18 characters from a 31-character set (digits and upper-case letters without I, O, S, V
and Z, which are too easily misread). The 18th is a check character over the first 17:

    C18 = (31 - (sum of value(Ci) * Wi for i = 1..17) mod 31) mod 31,   Wi = 3^(i-1) mod 31

where value() is a character's position in the set (0-9 are 0-9, A is 10, ..., Y is 30). A wrong
check character almost always means a typing error, so the sheet refuses such a code rather than
storing a unit under a code that will never match the registry.
"""

from __future__ import annotations

import re
import unicodedata

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
WEIGHTS = tuple(pow(3, i, 31) for i in range(17))  # 1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, ...
LENGTH = 18

_VALUE = {char: value for value, char in enumerate(ALPHABET)}
_SPACE = re.compile(r"[\s\u200b\ufeff]+")


def normalise_code(text: str) -> str:
    """Upper case, full-width characters made half-width, every space removed: the same code either way."""
    return _SPACE.sub("", unicodedata.normalize("NFKC", text)).upper()


def check_character(body: str) -> str:
    """The 18th character for the first 17 (ValueError when `body` is not 17 characters of the set)."""
    if len(body) != LENGTH - 1 or any(char not in _VALUE for char in body):
        raise ValueError(f"{body!r} is not 17 characters of the code set")
    total = sum(_VALUE[char] * weight for char, weight in zip(body, WEIGHTS, strict=True))
    return ALPHABET[(31 - total % 31) % 31]


def is_valid_code(code: str) -> bool:
    """True for an 18-character code (already normalised) whose check character is right."""
    return code_fault(code) is None


def code_fault(code: str) -> tuple[str, str] | None:
    """What is wrong with a normalised code, in zh-CN and en; None when it is valid."""
    if len(code) != LENGTH:
        return (f"应为 18 位，现为 {len(code)} 位", f"it should have 18 characters, not {len(code)}")
    wrong = "".join(dict.fromkeys(char for char in code if char not in _VALUE))
    if wrong:
        return (
            f"含有代码中不允许的字符“{wrong}”（代码不使用 I、O、S、V、Z）",
            f'it holds characters a code never uses: "{wrong}" (codes have no I, O, S, V or Z)',
        )
    expected = check_character(code[:17])
    if code[17] != expected:
        return (
            f"第 18 位校验码应为 {expected}，现为 {code[17]}，可能有字符录入错误",
            f"its check character (the 18th) should be {expected}, not {code[17]}: a character may be mistyped",
        )
    return None
