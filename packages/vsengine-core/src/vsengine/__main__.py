"""``python -m vsengine``: the `vsengine` command line (see `vsengine._cli`)."""

from __future__ import annotations

import sys

from vsengine._cli import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
