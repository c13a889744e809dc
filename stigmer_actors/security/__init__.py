"""Who may call the daemon: API keys with roles (``keys``, ``keyring``, ``roles``) and the
daemon's TLS files (``tls``). Server side: the client's half is ``client/credentials.py``."""

import stigmer_actors.logs  # noqa: F401  (this package logs: off until a program enables it)
