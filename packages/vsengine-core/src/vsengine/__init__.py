"""vsengine: run VapourSynth inside applications."""

__version__ = "0.1.0"
