"""PyBullet prints banners from C on import and on every connect ("pybullet build time" on stderr,
"argv[0]=" on stdout). Silence them so command output stays clean: point the process's stdout and
stderr file descriptors at /dev/null for the duration, flushing C's buffers before restoring."""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys

_LIBC = ctypes.CDLL(None)


@contextlib.contextmanager
def c_output_silenced():
    streams = [s for s in (sys.stdout, sys.stderr) if _fileno(s) is not None]
    for s in streams:
        s.flush()
    fds = [_fileno(s) for s in streams]
    saved = [os.dup(fd) for fd in fds]
    try:
        with open(os.devnull, "w") as null:
            for fd in fds:
                os.dup2(null.fileno(), fd)
            yield
            _LIBC.fflush(None)
    finally:
        for fd, old in zip(fds, saved):
            os.dup2(old, fd)
            os.close(old)


def _fileno(stream) -> int | None:
    try:
        return stream.fileno()
    except (AttributeError, OSError, ValueError):  # captured or replaced stream: nothing to silence
        return None
