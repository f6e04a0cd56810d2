"""The Qt binding qtinter uses: ``QtCore`` of the binding chosen when qtinter was imported.

>>> from qtinter.bindings import QtCore, __binding__
"""

from __future__ import annotations

from ._bindings import BINDING as __binding__
from ._bindings import QtCore

__all__ = ["QtCore", "__binding__"]
