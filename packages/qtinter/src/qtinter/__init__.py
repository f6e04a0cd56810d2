"""qtinter: a real asyncio event loop inside Qt's event loop.

Run asyncio code from a Qt application (guest mode)::

    with qtinter.using_asyncio_from_qt():
        app.exec()

Run Qt from asyncio code (owner mode)::

    asyncio.run(main(), loop_factory=qtinter.new_event_loop)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import bindings
from ._base_events import QiBaseEventLoop
from ._contexts import using_asyncio_from_qt, using_qt_from_asyncio
from ._loops import QiDefaultEventLoop, QiSelectorEventLoop, new_event_loop
from ._modal import modal
from ._modes import QiLoopMode
from ._proactor_events import QiBaseProactorEventLoop
from ._selector_events import QiBaseSelectorEventLoop
from ._signals import SenderDestroyedError, SignalStream, asyncsignal, asyncsignalstream, multisignal
from ._slots import asyncslot
from ._tasks import run_task

if TYPE_CHECKING:
    from ._policy import QiDefaultEventLoopPolicy, QiSelectorEventLoopPolicy

__version__ = "0.1.0"

__all__ = [
    "QiBaseEventLoop",
    "QiBaseProactorEventLoop",
    "QiBaseSelectorEventLoop",
    "QiDefaultEventLoop",
    "QiDefaultEventLoopPolicy",
    "QiLoopMode",
    "QiSelectorEventLoop",
    "QiSelectorEventLoopPolicy",
    "SenderDestroyedError",
    "SignalStream",
    "asyncsignal",
    "asyncsignalstream",
    "asyncslot",
    "bindings",
    "modal",
    "multisignal",
    "new_event_loop",
    "run_task",
    "using_asyncio_from_qt",
    "using_qt_from_asyncio",
]

_LAZY_POLICIES = ("QiSelectorEventLoopPolicy", "QiDefaultEventLoopPolicy", "QiProactorEventLoopPolicy")


def __getattr__(name: str) -> Any:
    # The policies subclass asyncio's policy classes, deprecated since Python 3.14: import them
    # only when asked for.
    if name in _LAZY_POLICIES:
        from . import _policy

        try:
            return getattr(_policy, name)
        except AttributeError:
            pass
    if name == "QiProactorEventLoop":
        from . import _loops

        if hasattr(_loops, name):
            return getattr(_loops, name)
    raise AttributeError(f"module 'qtinter' has no attribute {name!r}")
