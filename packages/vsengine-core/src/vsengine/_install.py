"""vsengine-core and vsjetengine must not be installed together.

Both distributions install the import package ``vsengine``. pip lets a second one overwrite the
first one's files, and uninstalling either then deletes files the other needs. ``import vsengine``
imports this module first, which checks the directory ``vsengine`` was imported from for
vsjetengine's metadata (one directory listing, no ``importlib.metadata``) and stops with the way out.
"""

from __future__ import annotations

import os
import sys

__all__ = ["check_single_distribution"]


def check_single_distribution() -> None:
    """Raise ``ImportError`` if vsjetengine's metadata sits next to this ``vsengine`` package."""
    site = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        names = os.listdir(site)
    except OSError:
        return
    theirs = sorted(name for name in names if name.startswith("vsjetengine-") and name.endswith(".dist-info"))
    if not theirs:
        return
    python = sys.executable or "python"
    raise ImportError(
        f"vsengine-core and vsjetengine are both installed in {site} ({theirs[0]}). Both provide the "
        "import package 'vsengine': they overwrite each other's files, and uninstalling one deletes files "
        "of the other. Keep one. To use vsengine-core (programs written for vsjetengine run on it, "
        f"vsview and vs-preview included): `{python} -m pip uninstall -y vsjetengine vsengine-core` "
        f"then `{python} -m pip install --no-deps vsengine-core`. To keep vsjetengine: "
        f"`{python} -m pip uninstall -y vsengine-core vsjetengine` then "
        f"`{python} -m pip install vsjetengine`."
    )


check_single_distribution()
