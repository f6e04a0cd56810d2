"""The asyncio-on-Qt benchmark suite (not a published package): run ``nox -s bench``.

``python -m bench`` runs every benchmark of :mod:`bench._metrics` in every configuration of
:mod:`bench._configs`, each in a fresh ``python -m bench.worker`` process, and prints a markdown
table. See docs/qtinter/performance.md.
"""
