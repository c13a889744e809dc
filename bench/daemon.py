"""Start ``stigmer-actors serve`` in its own process on a free loopback port, for benches."""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import threading


class BenchDaemon:
    """``store``: a ``postgresql://`` URL to be a node of that cluster; else RocksDB in a
    temporary directory."""

    def __init__(self, *extra: str, store: str | None = None) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="stigmer-bench-")
        where = ["--store", store] if store else ["--data-dir", self._tmp.name]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "stigmer_actors.cli.main", "serve", "--address", "127.0.0.1:0",
             *where, *extra],
            stderr=subprocess.PIPE, text=True,
        )
        self.address = ""
        ready = threading.Event()

        def read() -> None:
            assert self.proc.stderr is not None
            for line in self.proc.stderr:
                match = re.search(r"listening on (\S+),", line)
                if match:
                    self.address = match.group(1)
                    ready.set()

        threading.Thread(target=read, daemon=True).start()
        if not ready.wait(30):
            self.proc.kill()
            raise RuntimeError("the daemon did not start")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)
        self._tmp.cleanup()
