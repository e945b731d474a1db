"""Commands the secretariat sends by email: the grammar that reads them out of a mail."""

from mailflow.commands.grammar import MAX_COMMANDS, MAX_LINE_CHARS, CommandLine, Commands, own_text, read_commands

__all__ = ["MAX_COMMANDS", "MAX_LINE_CHARS", "CommandLine", "Commands", "own_text", "read_commands"]
