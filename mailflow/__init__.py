"""mailflow: an email-driven workflow daemon for a chamber of commerce's liaison network."""

__version__ = "0.1.0"
