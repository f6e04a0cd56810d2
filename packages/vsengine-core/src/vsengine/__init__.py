"""vsengine: run VapourSynth inside applications.

The public names of the submodules are re-exported here; the submodules stay importable on their
own (``vsengine.policy``, ``vsengine.loops``, ``vsengine.futures``, ``vsengine.video``,
``vsengine.vpy``, ``vsengine.adapters.*``).
"""

import vsengine._install  # noqa: F401  (first: stops if vsjetengine is installed over or under vsengine-core)
from vsengine.futures import UnifiedFuture, UnifiedIterator, as_completed, unified
from vsengine.loops import Cancelled, EventLoop, from_thread, get_loop, keep_environment, set_loop, to_thread
from vsengine.policy import (
    ContextVarStore,
    EnvironmentStore,
    GlobalStore,
    ManagedEnvironment,
    Policy,
    ThreadLocalStore,
)
from vsengine.video import frame, frames, planes, render
from vsengine.vpy import ExecutionError, Script, load_code, load_script

__version__ = "0.1.0"

__all__ = [
    "Cancelled",
    "ContextVarStore",
    "EnvironmentStore",
    "EventLoop",
    "ExecutionError",
    "GlobalStore",
    "ManagedEnvironment",
    "Policy",
    "Script",
    "ThreadLocalStore",
    "UnifiedFuture",
    "UnifiedIterator",
    "__version__",
    "as_completed",
    "frame",
    "frames",
    "from_thread",
    "get_loop",
    "keep_environment",
    "load_code",
    "load_script",
    "planes",
    "render",
    "set_loop",
    "to_thread",
    "unified",
]
