"""Why ``serve`` (or ``runner``) could not start: one line saying what is wrong and what to
do, and an exit code per sort of problem, so a supervisor can tell them apart.

    0  stopped cleanly            4  the store is damaged
    2  bad command line           5  the data directory cannot be written
    3  data directory in use      6  cannot listen on the address
                                  7  the store could not be opened for another reason
    8  a network address without API keys or mutual TLS (and no --insecure)
    9  a keys file or TLS file that cannot be read or is wrong
    12 the database (--store) cannot be used (10 and 11 are the client commands' codes)
    13 --http-address without the web extra installed
"""

from __future__ import annotations

import ipaddress
import os
import resource
import socket

from loguru import logger

from stigmer_actors.store.open_errors import OpenProblem, StoreOpenError, command_line

EXIT_IN_USE = 3
EXIT_DAMAGED = 4
EXIT_NOT_WRITABLE = 5
EXIT_CANNOT_LISTEN = 6
EXIT_STORE_OTHER = 7
EXIT_UNGUARDED = 8
EXIT_SECURITY_FILE = 9
EXIT_DATABASE = 12
EXIT_NO_DASHBOARD = 13

_CODES = {
    OpenProblem.IN_USE: EXIT_IN_USE,
    OpenProblem.DAMAGED: EXIT_DAMAGED,
    OpenProblem.NOT_WRITABLE: EXIT_NOT_WRITABLE,
    OpenProblem.OTHER: EXIT_STORE_OTHER,
}


def store_refusal(error: StoreOpenError) -> tuple[str, int]:
    """The line to print and the exit code for a store that would not open."""
    path, detail = error.path, error.detail
    if error.problem is OpenProblem.IN_USE:
        if error.holder == os.getpid():
            holder = "this process"
        elif error.holder is not None:
            what = command_line(error.holder)
            holder = f"process {error.holder}" + (f" ({what})" if what else "")
        else:
            holder = "another process"
        line = (f"data directory {path} is in use by {holder}: stop it, or give this one "
                "another --data-dir")
    elif error.problem is OpenProblem.DAMAGED:
        line = (f"the store in {path} is damaged ({detail}): restore the directory from a "
                "backup, or move it aside to start with an empty store")
    elif error.problem is OpenProblem.NOT_WRITABLE:
        line = (f"cannot write the data directory {path} ({detail}): fix its permissions or "
                "free space, or give another --data-dir")
    else:
        line = f"cannot open the store in {path} ({detail})"
    return line, _CODES[error.problem]


def report_store_refusal(error: StoreOpenError) -> int:
    line, code = store_refusal(error)
    logger.error(line)
    return code


def raise_open_file_limit() -> int:
    """Raise this process's soft open-file limit to its hard limit; the soft limit after.

    Every connection and every store file is a descriptor; the common soft default (1,024)
    is far below what the hard limit allows a process to take for itself.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            logger.debug("open-file limit raised from {soft} to {target}", soft=soft, target=target)
            return target
        except (ValueError, OSError) as error:
            logger.debug("open-file limit stays {soft}: {error}", soft=soft, error=error)
    return soft


def is_loopback(address: str) -> bool:
    """Whether ``HOST:PORT`` (or ``unix:PATH``) is reachable from this host only: every
    address its host resolves to is a loopback address. A wildcard host is not."""
    if address.startswith("unix:"):
        return True
    host = address.rpartition(":")[0].strip("[]")
    if not host:
        return False
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        return False  # grpc will refuse it; this check need not say why
    return all(ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]).is_loopback for info in infos)


def unguarded_refusal(address: str) -> str:
    """The line ``serve`` prints when asked to serve a network address with no guard."""
    return (f"refusing to serve {address} unguarded: it is reachable from other hosts, and "
            "without API keys or mutual TLS anyone who reaches it can read, change and delete "
            "every execution; give --api-keys FILE (stigmer-actors keys create) or "
            "--tls-client-ca FILE (with --tls-cert and --tls-key), or --insecure to serve it anyway")
