"""``python -m vsengine_qt preview ...`` (the ``vsengine-qt`` command)."""

from __future__ import annotations

import sys

from vsengine_qt._cli import main

if __name__ == "__main__":
    sys.exit(main())
