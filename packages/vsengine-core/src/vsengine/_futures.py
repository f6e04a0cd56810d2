"""Compatibility alias: code written for the 1.x package imports ``vsengine._futures``."""

from vsengine.futures import UnifiedFuture, UnifiedIterator, unified

__all__ = ["UnifiedFuture", "UnifiedIterator", "unified"]
