"""vsview 0.14.0 on vsengine_qt's loop: the patch, applied at run time by ``drive_vsview.py --port``.

docs/vsengine-qt/porting.md shows it hunk by hunk. One file changes, ``vsview/vsenv/loop.py``:
vsview's own ``QtEventLoop`` (a queued signal per call, ``QThreadPool`` workers, a
``processEvents`` wait) gives way to ``vsengine_qt.QtEventLoop``, and ``run_in_loop`` hands its
calls to ``QtEventLoop.run_in_loop``. Everything else of vsview stays as it is: its
``Application`` still creates ``QtEventLoop(self)`` and calls ``set_loop``, its workspaces still
call ``to_thread_scoped``, ``from_thread``, ``next_cycle``, ``wait_for_threads``.
"""

from __future__ import annotations

from porting import Hunk, defines, is_import, mentions

LOOP = "vsenv/loop.py"

HUNKS = [
    Hunk(
        LOOP,
        "",
        "import vsengine_qt\n",
        "import vsengine_qt",
        where=is_import,
        nth=-1,
        nested=False,
        position="after",
    ),
    Hunk(
        LOOP,
        "",
        "",
        "TaskInfo and _current_task_future: the old loop's bookkeeping, unused now",
        where=defines("TaskInfo", "_current_task_future"),
    ),
    Hunk(
        LOOP,
        "QtEventLoop",
        '''
        class QtEventLoop(vsengine_qt.QtEventLoop):
            """vsengine_qt's loop; vsview's callers wait for its workers in milliseconds."""

            def wait_for_threads(
                self, timeout_ms: int = 500, *, owner: Any = None, names: Sequence[str] | None = None
            ) -> None:
                if not self.wait_for_workers(timeout_ms / 1000, owner=owner, names=names):
                    _logger.warning("%d worker(s) still busy after %d ms", self.active_workers(), timeout_ms)
        ''',
        "class QtEventLoop: vsengine_qt.QtEventLoop, plus vsview's name for wait_for_workers",
    ),
    Hunk(
        LOOP,
        "run_in_loop",
        "",
        "run_in_loop's log_task: unused now",
        where=defines("log_task"),
    ),
    Hunk(
        LOOP,
        "run_in_loop.decorator.wrapper",
        "return loop.run_in_loop(fn, *args, block=not return_future, **kwargs)\n",
        "run_in_loop's wrapper: QtEventLoop.run_in_loop (no task + .result() on the GUI thread)",
        where=mentions("iscoroutinefunction", "return_future"),
    ),
    Hunk(
        LOOP,
        "_get_asyncio_running_loop",
        "",
        "_get_asyncio_running_loop: unused now",
    ),
]
