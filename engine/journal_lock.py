"""One process owns a journal: an exclusive ``flock`` on a sibling ``.lock`` file.

The lock is :func:`fcntl.flock` on ``<journal>.lock`` (for ``paper.sqlite`` that is
``paper.sqlite.lock``). The kernel releases it when the owner closes the file or dies, so a lock
file left behind by a crashed process is simply taken over. The file's text (PID, host, start
time) is informational: it lets a second opener say *who* holds the journal.

``flock`` locks belong to an open file description, so a second :class:`JournalLock` on the same
path conflicts even inside the same process. Locks on network file systems are only as good as
the file system's ``flock`` support; keep the journal on a local disk.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from engine.clock import to_ist
from engine.journal_errors import JournalLockedError

__all__ = ["JournalLock", "LockOwner", "lock_path_for"]


def lock_path_for(journal_path: Path) -> Path:
    """Return the lock file that guards ``journal_path`` (the same name plus ``.lock``)."""
    return journal_path.with_name(journal_path.name + ".lock")


@dataclass(frozen=True, slots=True)
class LockOwner:
    """Who holds (or last held) a journal lock, as written in the lock file.

    Fields are ``None`` when the lock file is empty or unreadable, for example while the owner is
    still writing it.
    """

    pid: int | None
    host: str | None
    started_ns: int | None

    def describe(self) -> str:
        """Human-readable owner, e.g. ``PID 4242 on host vps-1 since 2026-03-02 09:14:03 IST``."""
        if self.pid is None:
            return "an unidentified process (its lock file has no owner details yet)"
        text = f"PID {self.pid}"
        if self.host is not None:
            text += f" on host {self.host}"
        if self.started_ns is not None:
            text += " since " + to_ist(self.started_ns).strftime("%Y-%m-%d %H:%M:%S IST")
        return text

    def to_json(self) -> str:
        """Serialise for the lock file."""
        return json.dumps({"pid": self.pid, "host": self.host, "started_ns": self.started_ns})

    @classmethod
    def from_text(cls, text: str) -> LockOwner:
        """Parse the lock file's text; anything unreadable yields an owner with ``None`` fields."""
        try:
            data = json.loads(text)
        except ValueError:
            return cls(None, None, None)
        if not isinstance(data, dict):
            return cls(None, None, None)
        pid, host, started = data.get("pid"), data.get("host"), data.get("started_ns")
        return cls(
            pid if isinstance(pid, int) and not isinstance(pid, bool) else None,
            host if isinstance(host, str) else None,
            started if isinstance(started, int) and not isinstance(started, bool) else None,
        )


class JournalLock:
    """An exclusive lock on a journal, held until :meth:`release` (or process death)."""

    __slots__ = ("_fd", "journal_path", "lock_path", "owner")

    def __init__(self, journal_path: Path, lock_path: Path, fd: int, owner: LockOwner) -> None:
        """Wrap an already locked descriptor; use :meth:`acquire` to create one."""
        self.journal_path = journal_path
        self.lock_path = lock_path
        self.owner = owner
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, journal_path: Path) -> JournalLock:
        """Take the lock for ``journal_path`` without waiting.

        Creates the lock file (and nothing else) if needed. Raises :class:`JournalLockedError`
        naming the current owner if another process or another open journal holds it; in that
        case nothing but the lock file was opened.
        """
        lock_path = lock_path_for(journal_path)
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                os.close(fd)
                raise
            holder = _read_owner(fd)
            os.close(fd)
            raise JournalLockedError(
                f"journal {journal_path} is in use by {holder.describe()} "
                f"(lock file {lock_path}); close that cockpit first, or open a different "
                f"journal file"
            ) from None
        owner = LockOwner(os.getpid(), socket.gethostname(), time.time_ns())
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, owner.to_json().encode(), 0)
        except OSError:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
            raise
        return cls(journal_path, lock_path, fd, owner)

    @property
    def held(self) -> bool:
        """True until :meth:`release` is called."""
        return self._fd is not None

    def release(self) -> None:
        """Clear the owner text and release the lock; calling it again does nothing."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            os.ftruncate(fd, 0)
        except OSError:
            pass  # the text is informational; releasing the lock is what matters
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


def _read_owner(fd: int) -> LockOwner:
    """Read the owner text of a lock held by someone else, retrying briefly if it is empty."""
    for _ in range(5):
        text = os.pread(fd, 4096, 0).decode("utf-8", "replace")
        if text.strip():
            return LockOwner.from_text(text)
        time.sleep(0.005)  # the owner truncates then writes; give it a moment
    return LockOwner(None, None, None)
