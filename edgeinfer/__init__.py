"""edgeinfer: an edge inference runtime for quantized models on local accelerators."""

from __future__ import annotations

__version__ = "0.1.0"
