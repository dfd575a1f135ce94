"""``cockpit --paper --reset``: start a fresh paper account, keeping the old one's journal.

The paper account (cash, positions, orders, GTTs, brackets) lives in its journal. A reset moves
that journal aside with :meth:`engine.journal.Journal.archive` (``journal-paper.sqlite`` becomes
``journal-paper.<IST stamp>.sqlite`` next to it, kept for ``cockpit export --journal``), so the
next start finds no journal and opens a fresh account with the configured starting cash.

Safety:

* A reset needs the word ``RESET`` typed on the terminal (``--yes`` skips the question, for
  scripts). Anything else, or end of input, changes nothing.
* A cockpit that is running on the account holds the journal's lock; the reset then refuses,
  naming that process's PID, before asking anything. The archive itself takes the lock too, so a
  cockpit started between the question and the answer still wins and nothing is moved.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final, TextIO

from engine.clock import Clock
from engine.journal import Journal, JournalLockedError, LockOwner, lock_path_for
from engine.journal_lock import JournalLock

__all__ = [
    "CONFIRM_WORD",
    "ResetError",
    "ResetOutcome",
    "confirm_reset",
    "journal_holder",
    "reset_paper_journal",
    "run_reset",
]

CONFIRM_WORD: Final = "RESET"
"""What the user types to confirm a reset."""


class ResetError(Exception):
    """The reset cannot be done; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class ResetOutcome:
    """What a reset did: ``archived`` is the old journal's new path (None if there was none)."""

    archived: Path | None
    message: str


def journal_holder(path: Path) -> LockOwner | None:
    """The process holding the journal at ``path`` (PID, host, since), or None if it is free.

    Probes the lock without waiting and releases it at once; the journal file is not touched.
    """
    journal_path = Path(path).expanduser().resolve()
    if not journal_path.parent.is_dir():
        return None
    try:
        lock = JournalLock.acquire(journal_path)
    except JournalLockedError:
        try:
            text = lock_path_for(journal_path).read_text(encoding="utf-8", errors="replace")
        except OSError:
            text = ""
        return LockOwner.from_text(text)
    lock.release()
    return None


def _in_use_message(path: Path, owner: LockOwner) -> str:
    return (
        f"cannot reset the paper account: its journal {path} is in use by {owner.describe()}. "
        f"Quit that cockpit first, then run `cockpit --paper --reset` again"
    )


def confirm_reset(path: Path, stdin: TextIO, stdout: TextIO) -> bool:
    """Ask on the terminal; True only if the user typed exactly :data:`CONFIRM_WORD`."""
    stdout.write(
        f"This archives the paper account's journal\n  {path}\n"
        f"(its orders, trades, positions and cash) and starts a fresh paper account.\n"
        f"The old journal is kept next to it and can still be exported.\n"
        f"Type {CONFIRM_WORD} to continue: "
    )
    stdout.flush()
    answer = stdin.readline()
    if not answer.endswith("\n"):
        stdout.write("\n")
    return answer.strip() == CONFIRM_WORD


def reset_paper_journal(path: Path, *, clock: Clock | None = None) -> ResetOutcome:
    """Archive the journal at ``path`` (no question asked); :class:`ResetError` if it is in use.

    With no journal at ``path`` there is nothing to archive and the account is already fresh.
    """
    journal_path = Path(path).expanduser().resolve()
    if not journal_path.exists():
        return ResetOutcome(None, f"no paper journal at {journal_path}: the account is fresh")
    if not journal_path.is_file():
        raise ResetError(f"{journal_path} is not a file; the paper journal must be a file")
    try:
        archived = Journal.archive(journal_path, clock=clock)
    except JournalLockedError:
        owner = journal_holder(journal_path) or LockOwner(None, None, None)
        raise ResetError(_in_use_message(journal_path, owner)) from None
    return ResetOutcome(
        archived,
        f"archived the old paper journal to {archived}; starting a fresh paper account",
    )


def run_reset(
    path: Path,
    *,
    assume_yes: bool,
    stdin: TextIO,
    stdout: TextIO,
    clock: Clock | None = None,
) -> ResetOutcome | None:
    """The whole ``--reset`` step: refuse if in use, ask (unless ``assume_yes``), archive.

    Returns the outcome, or None when the user did not confirm (nothing changed). Raises
    :class:`ResetError` when another cockpit holds the journal.
    """
    journal_path = Path(path).expanduser().resolve()
    if not journal_path.exists():
        return ResetOutcome(None, f"no paper journal at {journal_path}: the account is fresh")
    owner = journal_holder(journal_path)
    if owner is not None:
        raise ResetError(_in_use_message(journal_path, owner))
    if not assume_yes and not confirm_reset(journal_path, stdin, stdout):
        return None
    return reset_paper_journal(journal_path, clock=clock)
