"""The options every client command (and ``runner``) takes to reach a secured daemon, and
the ``Credentials`` they make."""

from __future__ import annotations

import argparse
from pathlib import Path

from stigmer_actors.client.credentials import API_KEY_ENV, Credentials


def add_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--api-key", default=None, metavar="KEY",
                   help=f"the API key to send (default: ${API_KEY_ENV}, which keeps it out of the "
                        "process list)")
    p.add_argument("--tls", action="store_true", help="connect with TLS, trusting the system's CAs")
    p.add_argument("--tls-ca", type=Path, default=None, metavar="FILE",
                   help="connect with TLS, trusting this PEM CA (a self-signed daemon's CA)")
    p.add_argument("--tls-cert", type=Path, default=None, metavar="FILE",
                   help="this client's PEM certificate, for a daemon that asks for one (mutual TLS)")
    p.add_argument("--tls-key", type=Path, default=None, metavar="FILE",
                   help="the private key of --tls-cert")


def credentials(args: argparse.Namespace) -> Credentials:
    return Credentials(api_key=args.api_key, tls=args.tls, tls_ca=args.tls_ca,
                       tls_cert=args.tls_cert, tls_key=args.tls_key)
