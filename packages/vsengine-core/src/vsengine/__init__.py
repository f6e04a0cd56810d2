"""vsengine: run VapourSynth inside applications.

The public names of the submodules are re-exported here; the submodules stay importable on their
own (``vsengine.policy``, ``vsengine.loops``, ``vsengine.futures``, ``vsengine.adapters.*``).
"""

from vsengine.futures import UnifiedFuture, UnifiedIterator, unified
from vsengine.loops import Cancelled, EventLoop, from_thread, get_loop, keep_environment, set_loop, to_thread
from vsengine.policy import (
    ContextVarStore,
    EnvironmentStore,
    GlobalStore,
    ManagedEnvironment,
    Policy,
    ThreadLocalStore,
)

# vsengine.video and vsengine.vpy re-exports go here.

__version__ = "0.1.0"

__all__ = [
    "Cancelled",
    "ContextVarStore",
    "EnvironmentStore",
    "EventLoop",
    "GlobalStore",
    "ManagedEnvironment",
    "Policy",
    "ThreadLocalStore",
    "UnifiedFuture",
    "UnifiedIterator",
    "__version__",
    "from_thread",
    "get_loop",
    "keep_environment",
    "set_loop",
    "to_thread",
    "unified",
]
