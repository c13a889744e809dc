"""The API keys file and the daemon's live view of it: ``stigmer-actors keys`` (the real
CLI), the file's format and permissions, concurrent writers, and reloads."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest

from stigmer_actors.security import keys
from stigmer_actors.security.errors import SecurityFileError
from stigmer_actors.security.keyring import KeyRing
from stigmer_actors.security.roles import Role
from tests.daemon import cli


def create(path: Path, name: str, role: str) -> str:
    """``keys create`` through the CLI; the key, read as the last word of its output."""
    done = cli("keys", "create", "--role", role, "--name", name, "--api-keys", str(path))
    assert done.returncode == 0, done.stderr
    return done.stdout.split()[-1]


def test_create_prints_the_key_once_and_stores_only_its_hash(tmp_path: Path) -> None:
    path = tmp_path / "api-keys"
    key = create(path, "ci-runner", "runner")
    assert key.startswith("sak_") and len(key) == 47
    text = path.read_text()
    assert key not in text and key.removeprefix("sak_") not in text
    assert keys.digest(key).hex() in text
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    [entry] = keys.read(path)
    assert (entry.name, entry.role) == ("ci-runner", Role.RUNNER)
    assert KeyRing(path).identify(key) == entry
    assert KeyRing(path).identify(key + "x") is None


def test_list_and_revoke(tmp_path: Path) -> None:
    path = tmp_path / "api-keys"
    kept, gone = create(path, "dash", "viewer"), create(path, "ops", "admin")
    listed = cli("keys", "list", "--api-keys", str(path))
    assert listed.returncode == 0 and [line.split()[:2] for line in listed.stdout.splitlines()] == [
        ["dash", "viewer"], ["ops", "admin"]]
    assert kept not in listed.stdout and gone not in listed.stdout
    revoked = cli("keys", "revoke", "ops", "--api-keys", str(path))
    assert revoked.returncode == 0 and revoked.stdout.strip() == "key 'ops' (admin) revoked"
    ring = KeyRing(path)
    assert ring.identify(gone) is None and ring.identify(kept).name == "dash"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.mark.parametrize(("args", "message"), [
    (["create", "--role", "viewer", "--name", "dash"], "a key named 'dash' is in {path} already: revoke it first, or choose another name"),
    (["create", "--role", "viewer", "--name", "has space"], "key name 'has space' must be 1 to 64 letters, digits or _.@- (starting with a letter or digit)"),
    (["revoke", "nobody"], "no key named 'nobody' in {path}"),
])
def test_refusals_are_one_line_and_change_nothing(tmp_path: Path, args: list[str], message: str) -> None:
    path = tmp_path / "api-keys"
    create(path, "dash", "viewer")
    before = path.read_bytes()
    done = cli("keys", *args, "--api-keys", str(path))
    assert done.returncode == 2 and done.stderr.strip() == message.format(path=path), done.stderr
    assert path.read_bytes() == before


def test_an_unknown_role_is_a_usage_error(tmp_path: Path) -> None:
    done = cli("keys", "create", "--role", "root", "--name", "x", "--api-keys", str(tmp_path / "k"))
    assert done.returncode == 2 and "invalid choice: 'root'" in done.stderr
    assert not (tmp_path / "k").exists()


def test_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    """Eight threads creating keys while another revokes: every create is in the file once
    (each writer holds the lock and replaces the file whole)."""
    path = tmp_path / "api-keys"
    keys.create(path, "doomed", "viewer")
    made: dict[str, str] = {}
    start = threading.Barrier(9)

    def writer(n: int) -> None:
        start.wait()
        for i in range(5):
            made[f"w{n}-{i}"] = keys.create(path, f"w{n}-{i}", "runner")[1]

    def revoker() -> None:
        start.wait()
        keys.revoke(path, "doomed")

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)] + [threading.Thread(target=revoker)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    entries = {e.name: e for e in keys.read(path)}
    assert sorted(entries) == sorted(made)
    assert all(entries[name].digest == keys.digest(key) for name, key in made.items())
    assert not list(tmp_path.glob(".api-keys.*"))  # no temporary file left behind


def test_the_ring_reloads_changes_keeps_good_lines_and_fails_closed(tmp_path: Path) -> None:
    path = tmp_path / "api-keys"
    first = keys.create(path, "first", "viewer")[1]
    ring = KeyRing(path)
    assert not ring.reload_if_changed()  # nothing changed yet
    second = keys.create(path, "second", "admin")[1]
    assert ring.reload_if_changed() and ring.identify(second).role is Role.ADMIN
    with path.open("a") as f:
        f.write("broken line\n")  # an operator's typo: the good lines still count
    assert ring.reload_if_changed()
    assert ring.identify(first) is not None and ring.identify(second) is not None
    internal = ring.add_internal("serve-runner", Role.RUNNER)
    path.unlink()  # the file is gone: no key from it is accepted any more
    assert ring.reload_if_changed()
    assert ring.identify(first) is None and ring.identify(second) is None
    assert ring.identify(internal).name == "serve-runner"  # the process's own key stays
    assert internal not in "".join(p.read_text() for p in tmp_path.iterdir() if p.is_file())


def test_a_bad_file_is_refused_at_start_naming_the_lines(tmp_path: Path) -> None:
    path = tmp_path / "api-keys"
    path.write_text(f"ok viewer sha256:{'a' * 64}\nbad superuser sha256:{'b' * 64}\nshort admin\n")
    with pytest.raises(SecurityFileError) as info:
        KeyRing(path)
    assert str(info.value) == (
        f"the API keys file {path} has 2 bad line(s): line 2: unknown role 'superuser': one of viewer, "
        "runner, admin; line 3: expected NAME ROLE HASH [CREATED], got 2 fields: fix or remove them "
        "(stigmer-actors keys create writes good ones)")
    with pytest.raises(SecurityFileError, match=r"cannot read the API keys file .* \(No such file"):
        KeyRing(tmp_path / "missing")


def test_a_ring_without_a_file_has_only_internal_keys(tmp_path: Path) -> None:
    ring = KeyRing(None)
    key = ring.add_internal("internal", Role.RUNNER)
    assert ring.identify(key).role is Role.RUNNER and ring.file_keys == 0
    assert not os.listdir(tmp_path)
