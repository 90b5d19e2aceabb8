"""Write a generated document, or with ``--check`` only say whether it is out of date.

Both generators (the CLI and the settings reference) share this, so CI's
check and the developer's regeneration can never disagree on what "out of date" means.
"""

from __future__ import annotations

import sys
from pathlib import Path


def write_or_check(target: Path, text: str, script: str) -> int:
    if "--check" in sys.argv[1:]:
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            print(f"{target} is out of date: run python scripts/{script}")
            return 1
        return 0
    target.write_text(text, encoding="utf-8")
    print(f"wrote {target}")
    return 0
