"""Give Python subprocesses of a conformance run the same qtinter loops as the run itself.

A few tests of ``test.test_asyncio`` start a fresh interpreter that creates an event loop
(``assert_python_ok("-c", ...)`` for the debug-mode flags, a ``ProcessPoolExecutor`` worker). The
conformance child (``_child.py``) puts this directory on ``PYTHONPATH`` and names the kind in
``QTINTER_CONFORMANCE_KIND``; this module then patches asyncio in such an interpreter as soon as
asyncio is imported, so interpreters that never import asyncio (the echo scripts) stay untouched.
Interpreters started with ``-E`` or ``-I`` ignore ``PYTHONPATH`` and keep the stock loop.
"""

from __future__ import annotations

import os
import sys

_KIND = os.environ.get("QTINTER_CONFORMANCE_KIND")
if _KIND in ("owner", "guest"):
    sys.path.append(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import _loops

    _loops.install_when_asyncio_is_imported(_KIND)
