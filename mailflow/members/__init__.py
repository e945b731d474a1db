"""Member units (会员单位) as the secretariat keeps them: a spreadsheet read into checked rows and written back."""

from mailflow.members.files import SheetError
from mailflow.members.sheet import RowProblem, SheetResult, UnitRow, read_units, write_units
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
