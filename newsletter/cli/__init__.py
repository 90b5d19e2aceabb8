"""The ``newsletter`` command: a thin click layer over the library.

Commands parse arguments, call one library function, and print. Library
errors become exit codes in :mod:`newsletter.cli.app` and nowhere else: 0 ok,
1 operation failed, 2 bad input. Command modules import ``app``; this package
imports none of them (``app`` loads each when its command runs).
"""

from newsletter.cli.app import cli, main

__all__ = ["cli", "main"]
