"""Errors raised by the order journal (:mod:`engine.journal`).

Every error says what went wrong, with which file, and what would be right. They share the base
:class:`JournalError` so the app can catch all journal failures in one place.
"""

from __future__ import annotations


class JournalError(Exception):
    """Base class of every error the journal raises."""


class JournalLockedError(JournalError):
    """Another process (or another :class:`~engine.journal.Journal` in this process) owns the file.

    The message names the owner's PID, host and start time from the lock file; the journal file
    itself was not opened or modified.
    """


class JournalClosedError(JournalError):
    """The journal was closed; nothing more can be appended or read through it."""


class JournalWriteError(JournalError):
    """The writer thread failed (disk full, I/O error, ...) and the journal halted.

    Raised by every append that was pending when the writer failed and by every later append or
    flush: nothing is ever dropped silently. The underlying exception is ``__cause__``. Reopen the
    journal once the cause is fixed; every append that was acknowledged is on disk.
    """


class JournalFormatError(JournalError):
    """The file is not a Cockpit journal, or was written by an incompatible version."""


class JournalCorruptError(JournalError):
    """The stored data contradicts itself (for example a snapshot anchored to a missing event)."""


class JournalPayloadError(JournalError, ValueError):
    """An append or snapshot was given data the journal cannot store exactly.

    Raised at the call site, before anything is queued, so a bad payload never halts the writer.
    """
