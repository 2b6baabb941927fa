"""zlib-compatible deflate and inflate: ISA-L's (python-isal, a dependency) when importable, else zlib's.

Both read and write the same zlib streams (HDF5's gzip filter, PNG's IDAT); ISA-L is several times faster.
Only levels 0-3 exist in ISA-L: callers use it for level 1 and zlib itself for higher levels.
"""

from __future__ import annotations

try:
    from isal import isal_zlib as fast_zlib
except ImportError:  # pragma: no cover - wheels exist for the common platforms
    import zlib as fast_zlib

__all__ = ["fast_zlib"]
