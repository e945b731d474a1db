"""Member units (会员单位) as the secretariat keeps them: a spreadsheet read into checked rows and written back."""

from mailflow.members.files import SheetError
from mailflow.members.rows import RowProblem, UnitRow
from mailflow.members.sheet import SheetResult, read_units, write_units
from mailflow.members.uscc import check_character, is_valid_code, normalise_code

__all__ = [
    "RowProblem",
    "SheetError",
    "SheetResult",
    "UnitRow",
    "check_character",
    "is_valid_code",
    "normalise_code",
    "read_units",
    "write_units",
]
