"""The three modes a qtinter event loop can run in."""

from __future__ import annotations

import enum

__all__ = ["QiLoopMode"]


class QiLoopMode(enum.Enum):
    """How a :class:`~qtinter.QiBaseEventLoop` runs.

    ``OWNER``
        ``run_forever()`` / ``run_until_complete()`` run a ``QEventLoop`` and asyncio runs inside it:
        the asyncio entry point (``asyncio.run``) owns the thread. The default.
    ``GUEST``
        The application runs Qt's loop (``app.exec()``); ``loop.start()`` makes the asyncio loop a
        guest of it. ``run_forever()`` is not available.
    ``NATIVE``
        A plain asyncio loop: no Qt involved (used for clean-up after Qt's loop has ended).
    """

    OWNER = "OWNER"
    GUEST = "GUEST"
    NATIVE = "NATIVE"
