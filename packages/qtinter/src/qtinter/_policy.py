"""Event-loop policies, for code that still uses asyncio's policy API.

New code should not: the policy API is deprecated since Python 3.14. Use
``asyncio.run(main(), loop_factory=qtinter.new_event_loop)`` or ``asyncio.Runner(loop_factory=...)``.
This module is imported lazily (``qtinter.QiDefaultEventLoopPolicy``), so that merely importing
qtinter never touches the deprecated names.
"""

from __future__ import annotations

import asyncio
import sys
import warnings

__all__ = ["QiDefaultEventLoopPolicy", "QiSelectorEventLoopPolicy"]

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    if sys.platform == "win32":  # pragma: no cover - untested
        from ._windows_events import QiProactorEventLoop, QiSelectorEventLoop

        class QiSelectorEventLoopPolicy(asyncio.WindowsSelectorEventLoopPolicy):
            """Creates :class:`QiSelectorEventLoop` loops (owner mode)."""

            _loop_factory = QiSelectorEventLoop

        class QiProactorEventLoopPolicy(asyncio.WindowsProactorEventLoopPolicy):
            """Creates :class:`QiProactorEventLoop` loops (owner mode)."""

            _loop_factory = QiProactorEventLoop

        QiDefaultEventLoopPolicy: type[asyncio.AbstractEventLoopPolicy] = QiProactorEventLoopPolicy
        __all__ += ["QiProactorEventLoopPolicy"]
    else:
        from ._unix_events import QiSelectorEventLoop

        class QiSelectorEventLoopPolicy(asyncio.DefaultEventLoopPolicy):
            """Creates :class:`QiSelectorEventLoop` loops (owner mode); child watchers as asyncio's."""

            _loop_factory = QiSelectorEventLoop

        QiDefaultEventLoopPolicy = QiSelectorEventLoopPolicy
