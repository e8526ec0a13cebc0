"""What this process holds of the machine: its resident memory, read without psutil.

The worker starts no new job above its memory ceiling (`WORKER_MAX_RSS_MB`),
and normalize refuses an input whose frames alone would pass it: both read
this module.
"""

from __future__ import annotations

import os
import resource
import sys

__all__ = ["DECODE_BYTES_PER_PIXEL", "resident_bytes"]

# Peak resident memory that decoding one input costs per pixel of its frame,
# measured: normalizing a two-frame 7680x4320 clip raised this process's peak by
# ~175 MB and FFmpeg's by ~140 MB over a 1080p clip (5.3 and 4.2 bytes a pixel).
# The two run one after the other, so 8 bounds either with room to spare.
DECODE_BYTES_PER_PIXEL = 8


def resident_bytes() -> int | None:
    """This process's resident memory now, in bytes, or its peak where "now" is unknown.

    Linux answers from `/proc/self/statm` (the current figure). Elsewhere the
    peak (`getrusage`) stands in, which can only err high. `None` when neither
    is available.
    """
    try:
        with open("/proc/self/statm", "rb") as statm:
            pages = int(statm.read().split()[1])
    except (OSError, ValueError, IndexError):
        pass
    else:
        return pages * os.sysconf("SC_PAGE_SIZE")
    try:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    except (OSError, ValueError):  # pragma: no cover - getrusage exists wherever resource does
        return None
    # Kilobytes on Linux and the BSDs, bytes on macOS.
    return peak if sys.platform == "darwin" else peak * 1024
