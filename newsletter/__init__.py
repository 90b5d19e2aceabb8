"""newsletter: author, render and deliver an email newsletter without tracking."""

__version__ = "0.1.0"
