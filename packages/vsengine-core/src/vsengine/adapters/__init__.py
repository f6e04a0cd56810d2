"""Event-loop adapters: :mod:`vsengine.adapters.asyncio`, :mod:`vsengine.adapters.trio` and
:mod:`vsengine.adapters.anyio` (asyncio or trio through AnyIO).

Each module imports its event-loop library; import only the one you use.
"""
