"""The API keys file: one key per line, its name, role and hash; never the key itself.

    # stigmer-actors API keys: NAME ROLE HASH CREATED (the keys themselves are not stored)
    ci-runner runner sha256:1f2e...64 hex... 2026-12-01T10:00:00Z

A key is ``sak_`` and 32 random bytes (``secrets.token_urlsafe``: 43 characters), shown
once by ``stigmer-actors keys create``. The file holds SHA-256 of the key. A slow,
salted KDF (bcrypt, scrypt, argon2) protects passwords, which are guessable; a 256-bit
random key is not, so one SHA-256 is as strong here, and costs ~1 us per call instead
of the tens of milliseconds a KDF would add to every RPC.

Writers (``create``, ``revoke``) hold an exclusive ``flock`` on the file and replace it
whole (a temporary file, fsync, rename), so a reader, the daemon reloading it, sees the
old file or the new one, never half of one, and two writers never lose each other's
change. The file is written with mode 0600.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from stigmer_actors.domain.clock import now_iso
from stigmer_actors.security.errors import SecurityFileError
from stigmer_actors.security.roles import Role

PREFIX = "sak_"
HASH_PREFIX = "sha256:"
MAX_KEY_CHARS = 256
"""A presented key longer than this is refused unhashed (ours are 47 characters)."""
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
_HASH = re.compile(r"^sha256:[0-9a-f]{64}$")
HEADER = "# stigmer-actors API keys: NAME ROLE HASH CREATED (the keys themselves are not stored)\n"


@dataclass(frozen=True, slots=True)
class KeyEntry:
    name: str
    role: Role
    digest: bytes
    """SHA-256 of the key."""
    created: str = ""


def new_key() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def check_name(name: str) -> None:
    if not NAME.match(name):
        raise ValueError(f"key name {name!r} must be 1 to 64 letters, digits or _.@- "
                         "(starting with a letter or digit)")


def parse(text: str) -> tuple[list[KeyEntry], list[str]]:
    """The entries of a keys file's text, and one problem per line that is not one (by
    line number, never quoting a hash)."""
    entries: list[KeyEntry] = []
    problems: list[str] = []
    names: set[str] = set()
    for number, line in enumerate(text.splitlines(), 1):
        fields = line.split()
        if not fields or fields[0].startswith("#"):
            continue
        if len(fields) not in (3, 4):
            problems.append(f"line {number}: expected NAME ROLE HASH [CREATED], got {len(fields)} fields")
            continue
        name, role, hashed = fields[:3]
        try:
            check_name(name)
            parsed_role = Role.parse(role)
        except ValueError as error:
            problems.append(f"line {number}: {error}")
            continue
        if not _HASH.match(hashed):
            problems.append(f"line {number}: the hash must be sha256: and 64 hex digits")
            continue
        if name in names:
            problems.append(f"line {number}: a second key named {name!r}")
            continue
        names.add(name)
        entries.append(KeyEntry(name, parsed_role, bytes.fromhex(hashed.removeprefix(HASH_PREFIX)),
                                fields[3] if len(fields) == 4 else ""))
    return entries, problems


def read(path: Path) -> list[KeyEntry]:
    """Every entry of the file; SecurityFileError if it cannot be read or has a bad line."""
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as error:
        raise SecurityFileError(f"cannot read the API keys file {path} ({_reason(error)})") from None
    entries, problems = parse(text)
    if problems:
        raise SecurityFileError(f"the API keys file {path} has {len(problems)} bad line(s): "
                                f"{'; '.join(problems[:3])}: fix or remove them "
                                "(stigmer-actors keys create writes good ones)")
    return entries


def line(entry: KeyEntry) -> str:
    return f"{entry.name} {entry.role.label} {HASH_PREFIX}{entry.digest.hex()} {entry.created}\n"


def create(path: Path, name: str, role: str) -> tuple[KeyEntry, str]:
    """Add a new key named ``name`` to the file (created if missing); (entry, the key).

    ValueError for a bad name or role, or a name already in the file."""
    check_name(name)
    parsed_role = Role.parse(role)
    key = new_key()
    entry = KeyEntry(name, parsed_role, digest(key), now_iso())
    with _locked(path) as text:
        entries, _ = parse(text)
        if any(e.name == name for e in entries):
            raise ValueError(f"a key named {name!r} is in {path} already: revoke it first, "
                             "or choose another name")
        _replace(path, (text or HEADER) + ("" if not text or text.endswith("\n") else "\n") + line(entry))
    return entry, key


def revoke(path: Path, name: str) -> KeyEntry:
    """Remove the key named ``name``; LookupError if there is none."""
    with _locked(path) as text:
        entries, _ = parse(text)
        found = next((e for e in entries if e.name == name), None)
        if found is None:
            raise LookupError(f"no key named {name!r} in {path}")
        kept = [ln for ln in text.splitlines(keepends=True) if not (ln.split()[:1] == [name])]
        _replace(path, "".join(kept))
    return found


@contextmanager
def _locked(path: Path) -> Iterator[str]:
    """Hold the file's exclusive lock and give its text ("" for a new file).

    The lock is on the file's inode, and a writer replaces the file with a new inode: a
    writer that got the lock on an inode another one has replaced meanwhile tries again."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            if os.fstat(fd).st_ino != os.stat(path).st_ino:
                continue
            with open(fd, closefd=False) as f:  # reading the locked descriptor
                text = f.read()
            yield text
            return
        finally:
            os.close(fd)


def _replace(path: Path, text: str) -> None:
    """Write ``text`` to a new 0600 file and rename it over ``path`` (durably)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
        os.fchmod(f.fileno(), 0o600)  # a leftover temporary file keeps its old mode otherwise
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def _reason(error: Exception) -> str:
    return error.strerror if isinstance(error, OSError) and error.strerror else str(error)

