"""``keep_freed_memory``: glibc keeps freed large blocks for reuse instead of unmapping them."""

from __future__ import annotations

import subprocess
import sys

import pytest

PROBE = """
import ctypes, ctypes.util
import numpy as np
from hwreg.runtime.register import keep_freed_memory

FIELDS = "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost"

class Info(ctypes.Structure):  # glibc's struct mallinfo2
    _fields_ = [(n, ctypes.c_size_t) for n in FIELDS.split()]

libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
libc.mallinfo2.restype = Info
size = 64 << 20
a = np.ones(size, np.uint8)
mapped_before = libc.mallinfo2().hblkhd  # a block this large is mmapped by default
del a
ok = keep_freed_memory()
a = np.ones(size, np.uint8)
mapped_after = libc.mallinfo2().hblkhd
del a
kept_free = libc.mallinfo2().fordblks  # freed, still held by the allocator for reuse
print(ok, mapped_before >= size, mapped_after < size, kept_free >= size)
"""


def test_freed_blocks_stay_with_the_allocator() -> None:
    if not sys.platform.startswith("linux"):
        pytest.skip("glibc's mallopt/mallinfo2 only")
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                          check=False)
    if "mallinfo2" in done.stderr:  # glibc before 2.33, or another C library
        pytest.skip("no mallinfo2 in this C library")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True"] * 4
