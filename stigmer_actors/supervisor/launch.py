"""Runs first in every new runner process, as a script: ``python -I -S launch.py DAEMON_PID
COMMAND...``. It asks the kernel to SIGKILL this process when the daemon's thread that
started it ends (``prctl(PR_SET_PDEATHSIG)``, Linux), checks the daemon did not die before
that was in place, then becomes COMMAND by exec (same pid and process group; the death
signal is kept across exec). A command that cannot be run is reported on stderr with a
shell's exit code (127 not found, 126 cannot run), so it reads like any runner's failure.

A script rather than a ``preexec_fn``: a preexec function makes Python ``fork()`` the whole
multi-threaded daemon and run Python code in the copy before exec (unsafe with threads, and
grpc logs a warning on every such fork), where this way the daemon vforks and execs at once.
It costs one interpreter start (~10 ms: ``-I -S`` imports nothing of the environment's).
It imports only the standard library.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1
CANNOT_EXECUTE = 126
COMMAND_NOT_FOUND = 127


def main(argv: list[str]) -> int:
    daemon, command = int(argv[1]), argv[2:]
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        print(f"cannot start {command[0]!r}: prctl failed: {os.strerror(ctypes.get_errno())}",
              file=sys.stderr)
        return CANNOT_EXECUTE
    if os.getppid() != daemon:  # the daemon is already gone: nobody to run for
        return CANNOT_EXECUTE
    try:
        os.execvp(command[0], command)
    except FileNotFoundError:
        print(f"cannot start {command[0]!r}: command not found", file=sys.stderr)
        return COMMAND_NOT_FOUND
    except OSError as error:
        print(f"cannot start {command[0]!r}: {error.strerror or error}", file=sys.stderr)
        return CANNOT_EXECUTE
    return CANNOT_EXECUTE  # not reached: execvp returns only by raising


if __name__ == "__main__":
    sys.exit(main(sys.argv))
