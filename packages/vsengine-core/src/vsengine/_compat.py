"""Coupling to CPython's thread states: VapourSynth's worker threads keep theirs between callbacks.

VapourSynth's Python module runs every frame callback (``get_frame_async``) on one of the core's
worker threads inside ``PyGILState_Ensure()``/``PyGILState_Release()``. Those threads were not started
by Python, so each callback creates a Python thread state and destroys it again: CPython maps a new
16 KiB data stack for it and unmaps it afterwards, and unmapping memory in a process with other
threads running makes the kernel flush the TLB of every CPU (an inter-processor interrupt). Measured
on 2 cores with a reused 1080p frame: half of all the time of a plain callback chain (30k frames/s
with a thread state per callback, 45-60k frames/s with one kept; docs/vsengine-qt/performance.md).

`keep_thread_state` keeps the calling worker thread's thread state alive (one more
``PyGILState_Ensure()``, never released by Python), so VapourSynth's own ensure/release pairs reuse
it. It must still go when the thread ends, on that thread, or every environment would leak one thread
state per worker thread. Python cannot run there any more (a thread-exit hook written in Python
would first need a thread state, and glibc has already dropped CPython's per-thread pointer to it by
then), so four POSIX thread-specific keys whose destructors are CPython's own C functions do it:
glibc calls the destructors of a thread's keys in key order when it exits, each with the kept
thread state as its argument:

1. ``_PyThreadState_Bind(tstate)``: make it the thread's thread state for ``PyGILState_*`` again
   (glibc has cleared CPython's key by then: without this, ``PyGILState_Check()`` fails, and with
   it the debug allocator of ``PYTHONDEVMODE=1`` aborts the process);
2. ``PyEval_RestoreThread(tstate)``: take the GIL with it;
3. ``PyThreadState_Clear(tstate)``: clear it (its dict, context and so on);
4. ``PyThreadState_DeleteCurrent()``: free it, unbind it and release the GIL.

Steps 2-4 are the sequence ``PyGILState_Release`` itself runs when a thread state's count drops to
zero.
A thread exits when VapourSynth destroys its core (``destroy_environment``, which releases the GIL
while it joins the workers) or lowers ``num_threads``.

It is used only where every step was checked: CPython 3.12 on Linux with glibc (keys are created
with increasing numbers there, which is checked; CPython 3.13 no longer exports
``_PyThreadState_Bind``, and no other function of one argument binds a thread state to
``PyGILState_*``), for threads Python did not start (a thread
started by :mod:`threading`, and the main thread, own their thread state already), and only while the
interpreter is not finalizing: the keys are deleted in an ``atexit`` handler, after which an ending
worker thread leaves its thread state to the interpreter's own final clean-up (a thread must not
take the GIL while the interpreter finalizes). A worker thread that ends at the very moment the
``atexit`` handler deletes the keys (only possible if another thread destroys a core then) could see
some of the keys and not others; vsengine destroys the cores it still holds in an ``atexit`` handler
that runs before this one. Elsewhere `keep_thread_state` does nothing, and callbacks cost what they
cost in VapourSynth.
"""

from __future__ import annotations

import atexit
import ctypes
import platform
import sys
import threading
from typing import Any

__all__ = ["ENABLED", "keep_thread_state"]

#: Whether this interpreter and platform keep worker threads' thread states (see the module doc).
ENABLED = False

_kept = threading.local()
#: Keeping a thread state (all keys set) and deleting the keys at exit exclude each other: a thread
#: that got only some of the keys would run part of the sequence when it ends (take the GIL and
#: never release it, or clear its thread state without the GIL).
_keys_lock = threading.Lock()
#: The thread-specific keys (see the module doc), in the order glibc runs their destructors.
_keys: list[int] = []
#: ``pthread_setspecific``, ``PyGILState_Ensure`` and ``PyThreadState_Get`` (set up by `_setup`).
_set_specific: Any = None
_ensure: Any = None
_current: Any = None


def _setup() -> bool:
    if sys.implementation.name != "cpython" or sys.version_info[:2] != (3, 12):
        return False
    if sys.platform != "linux" or platform.libc_ver()[0] != "glibc":
        return False
    if getattr(sys, "_is_gil_enabled", lambda: True)() is False:
        return False  # a free-threaded build: no GIL to hand over, another thread-state life cycle
    libc = ctypes.PyDLL(None)  # its calls keep the GIL: they are quick, and run inside callbacks
    create = libc.pthread_key_create
    create.argtypes = [ctypes.POINTER(ctypes.c_uint), ctypes.c_void_p]
    create.restype = ctypes.c_int
    api = ctypes.pythonapi
    destructors = (
        api._PyThreadState_Bind,
        api.PyEval_RestoreThread,
        api.PyThreadState_Clear,
        api.PyThreadState_DeleteCurrent,
    )
    for function in destructors:
        key = ctypes.c_uint()
        if create(ctypes.byref(key), ctypes.cast(function, ctypes.c_void_p).value) != 0:
            _delete_keys()
            return False
        _keys.append(key.value)
    if _keys != sorted(_keys):
        _delete_keys()  # glibc runs destructors in key order: another order would free first
        return False
    global _set_specific, _ensure, _current
    _set_specific = libc.pthread_setspecific
    _set_specific.argtypes = [ctypes.c_uint, ctypes.c_void_p]
    _set_specific.restype = ctypes.c_int
    _ensure = api.PyGILState_Ensure
    _ensure.restype = ctypes.c_int
    _current = api.PyThreadState_Get
    _current.restype = ctypes.c_void_p
    # Registered at import, so that it runs after the atexit handlers registered later (LIFO), those
    # that destroy cores among them: worker threads that end during them still clean up.
    atexit.register(_delete_keys)
    return True


def _delete_keys() -> None:
    """Stop cleaning up at thread exit (from now on the interpreter may be finalizing)."""
    global ENABLED
    delete = ctypes.PyDLL(None).pthread_key_delete
    delete.argtypes = [ctypes.c_uint]
    with _keys_lock:
        ENABLED = False
        while _keys:
            delete(_keys.pop())


def keep_thread_state() -> None:
    """Keep the calling thread's Python thread state until the thread ends (see the module doc).

    Call it on a VapourSynth worker thread, inside a callback: the first call on a thread does the
    work, later ones only look at a thread-local flag (a thread state that is kept keeps its
    thread-local data). Does nothing where `ENABLED` is false and on threads Python started.
    """
    if not ENABLED or getattr(_kept, "done", False):
        return  # where it is off, not even the thread-local is touched (it is on the frame path)
    _kept.done = True
    owner = threading._active.get(threading.get_ident())  # type: ignore[attr-defined]
    if owner is not None and not isinstance(owner, threading._DummyThread):
        return  # started by Python (or the main thread): its thread state is kept already
    with _keys_lock:
        if not _keys:
            return  # deleted: the interpreter is exiting
        _ensure()  # the extra count that keeps the thread state from now on
        tstate = _current()
        for key in _keys:
            _set_specific(key, tstate)


ENABLED = _setup()
