"""The local outbox: every message written as one RFC 5322 ``.eml`` file per recipient.

This is the embedded default provider. Each file is what that recipient's mail
client would receive: placeholders substituted, per-recipient headers (such as
``List-Unsubscribe``) added, text before HTML in a ``multipart/alternative``.

A batch lands whole or not at all, so the outbox never says more than the ledger:
every message is first written into a stage of its own under ``.staging/`` and
flushed to disk, and only when all of them were written are they renamed into place
(then the folder is flushed, so the names survive a power cut). Any other end (a full
disk, an I/O error, the task's time limit) removes the stage and the files already
renamed; an ``OSError`` becomes ``RetryableError`` with the operating system's
reason, which the dispatcher stores on the batch before trying again. Only a writer
killed outright leaves a stage behind, removed by the next attempt at that batch.

An edition's message to a subscriber (``edition_id`` on the message, ``subscriber_id``
on the recipient, as dispatch sets them) is named after the two:
``edition-<edition>-<subscriber>.eml``, zero-padded, so a batch sent again after a
crash or a lost answer replaces its files instead of adding second copies, and an
edition's files sort in the order sent (batches go out in subscriber order). Other
messages (test sends, confirmations) are named ``<nanoseconds>-<counter>-<random>.eml``.

Addresses go in as ``Address`` objects, never through ``formataddr`` (which refuses
anything non-ASCII): an ASCII address gets the usual 7-bit headers, and a message to
or from an internationalised address (RFC 6531/6532) is written with a UTF-8 policy,
so the outbox can store whatever the sender was given. The outbox is personal data:
``remove_messages_to`` deletes every file addressed to one person.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import os
import secrets
import shutil
import threading
import time
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.parser import HeaderParser
from email.utils import format_datetime, make_msgid
from pathlib import Path

from newsletter.db import utcnow
from newsletter.errors import PermanentError, RetryableError
from newsletter.providers.interfaces import Batch, Recipient, SendResult, personalise
from newsletter.providers.webhook_protocol import EDITION_ID, SUBSCRIBER_ID
from newsletter.textrules import header_text

_counter = itertools.count()
# Fold only past RFC 5322's hard limit: the default (78) re-encodes a long header word,
# and a List-Unsubscribe URL written as an RFC 2047 encoded-word is one no mail client
# can use (RFC 2369 wants the URLs as they are, in angle brackets).
_ASCII = policy.default.clone(max_line_length=998)
# RFC 6532: raw UTF-8 headers, needed only when an address itself is not ASCII.
_UTF8 = _ASCII.clone(utf8=True)
# The bodies are another matter: the line length of a policy is also the one its
# quoted-printable encoder writes, and RFC 2045 caps those lines at 76 characters (a
# body at 998 is what spam filters score as machine-made). A line the body would
# otherwise carry longer than 76 is encoded, so no body line ever exceeds 76.
QP_LINE_LENGTH = 76
_counter_lock = threading.Lock()


def _file_name(batch: Batch, recipient: Recipient) -> str:
    """The file's name: fixed per (edition, subscriber), else unique and in time order."""
    edition = batch.message.custom_args.get(EDITION_ID, "")
    subscriber = recipient.custom_args.get(SUBSCRIBER_ID, "")
    if _is_id(edition) and _is_id(subscriber):
        return f"edition-{int(edition):012d}-{int(subscriber):012d}.eml"
    with _counter_lock:
        number = next(_counter)
    return f"{time.time_ns():020d}-{number:06d}-{secrets.token_hex(4)}.eml"


def _is_id(value: str) -> bool:
    """Whether ``value`` is a database id written in ASCII digits."""
    return value.isascii() and value.isdigit()


def _write_synced(path: Path, data: bytes) -> None:
    """Create ``path`` (it must not exist) holding ``data``, flushed to the disk."""
    with path.open("xb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())


def _sync_directory(directory: Path) -> None:
    """Flush ``directory``'s entries, so renames into it survive a power cut."""
    descriptor = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _transient(exc: OSError, doing: str, path: Path) -> RetryableError:
    """The retryable error for a failed file operation, in the operating system's words."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    return RetryableError(f"outbox: {reason[:1].lower()}{reason[1:]} {doing} {path}")


def _address(name: str, addr_spec: str) -> Address:
    """An address header value; ``ValueError`` for CR/LF or a missing @."""
    local, at, domain = addr_spec.rpartition("@")
    if not at or not local or not domain:
        raise ValueError(f"{addr_spec!r} is not an address")
    return Address(display_name=header_text(name), username=local, domain=domain)


def build_message(batch: Batch, recipient: Recipient) -> EmailMessage:
    """The complete email one recipient of ``batch`` receives."""
    message = batch.message
    subs = recipient.substitutions
    ascii_only = message.from_email.isascii() and recipient.email.isascii()
    email = EmailMessage(policy=_ASCII if ascii_only else _UTF8)
    domain = message.from_email.rpartition("@")[2] or "localhost"
    try:
        email["From"] = _address(message.from_name, message.from_email)
        email["To"] = _address(recipient.name, recipient.email)
        if message.reply_to:
            email["Reply-To"] = message.reply_to
        email["Subject"] = personalise(message.subject, subs)
        email["Date"] = format_datetime(utcnow())
        email["Message-ID"] = make_msgid(domain=domain)
        for name, value in {**message.headers, **recipient.headers}.items():
            email[name] = personalise(value, subs)
        _set_bodies(email, personalise(message.text, subs), personalise(message.html, subs))
    except ValueError as exc:  # header injection (CR/LF) or an unusable address
        raise PermanentError(
            f"outbox: cannot build a message to {recipient.email!r}: {exc}"
        ) from exc
    return email


def _set_bodies(email: EmailMessage, text: str, html: str) -> None:
    """The text and HTML parts, encoded for lines of at most ``QP_LINE_LENGTH``."""
    headers = email.policy
    email.policy = headers.clone(max_line_length=QP_LINE_LENGTH)
    try:
        email.set_content(text)
        email.add_alternative(html, subtype="html")
    finally:
        email.policy = headers


STAGING = ".staging"
# A stage older than this belongs to a writer that was killed (a batch takes seconds).
_STALE_STAGE_S = 15 * 60


def _new_stage(directory: Path, key: str) -> Path:
    """A fresh folder under ``directory/.staging`` for one attempt at batch ``key``.

    A writer killed outright (SIGKILL, a task's hard time limit) cannot clean up: the
    next attempt at the same batch removes that attempt's stage, and any stage older
    than fifteen minutes is removed by whichever batch comes next.
    """
    staging = directory / STAGING
    staging.mkdir(exist_ok=True)
    prefix = _stage_prefix(key)
    now = time.time()
    for old in staging.iterdir():
        try:
            stale = now - old.stat().st_mtime > _STALE_STAGE_S
        except FileNotFoundError:  # removed meanwhile by another writer
            continue
        if old.name.startswith(prefix) or stale:
            shutil.rmtree(old, ignore_errors=True)
    stage = staging / f"{prefix}{secrets.token_hex(4)}"
    stage.mkdir()
    return stage


def _stage_prefix(key: str) -> str:
    """The name every stage of batch ``key`` starts with (safe as a file name)."""
    digest = hashlib.blake2b(key.encode("utf-8"), digest_size=8).hexdigest()
    return f"{digest}-"


def staged_files(directory: Path) -> list[Path]:
    """Messages written but not (yet) placed: empty unless a writer is at work or was killed."""
    staging = directory / STAGING
    if not staging.is_dir():
        return []
    return sorted(path for path in staging.rglob("*") if path.is_file())


class OutboxSender:
    """Writes each recipient's message into ``directory`` as an ``.eml`` file."""

    # An edition's files are named per (edition, subscriber): a batch written again
    # replaces its files, so an unknown outcome is settled by writing it again.
    resends_replace = True

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def send_batch(self, batch: Batch) -> SendResult:
        """Write one file per recipient, all or none; a failed write is ``RetryableError``."""
        named = [(_file_name(batch, r), build_message(batch, r)) for r in batch.recipients]
        names = [name for name, _ in named]
        if len(set(names)) != len(names):
            raise PermanentError(f"outbox: batch {batch.key} names one subscriber twice")
        doing, path = "creating", self.directory
        stage: Path | None = None
        placed: list[Path] = []
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            stage = _new_stage(self.directory, batch.key)
            for name, message in named:
                doing, path = "writing", stage / name
                _write_synced(path, bytes(message))
            for name in names:
                doing, path = "renaming", self.directory / name
                os.replace(stage / name, path)
                placed.append(path)
            doing, path = "syncing", self.directory
            _sync_directory(self.directory)
        except BaseException as exc:
            # Any end but success (a full disk, the task's time limit, an interrupt)
            # leaves neither a staged file nor part of the batch in place.
            for final in placed:
                with contextlib.suppress(OSError):
                    final.unlink(missing_ok=True)
            if stage is not None:
                shutil.rmtree(stage, ignore_errors=True)
            if isinstance(exc, OSError):
                raise _transient(exc, doing, path) from exc
            raise
        shutil.rmtree(stage, ignore_errors=True)
        return SendResult(provider_id=f"outbox-{batch.key}")

    def files(self) -> list[Path]:
        """Every written message, oldest first (by time written, then by name)."""
        if not self.directory.is_dir():
            return []
        found: list[tuple[int, str, Path]] = []
        for path in self.directory.glob("*.eml"):
            try:
                found.append((path.stat().st_mtime_ns, path.name, path))
            except FileNotFoundError:  # erased meanwhile
                continue
        return [path for _, _, path in sorted(found)]


def remove_messages_to(directory: Path, email: str) -> int:
    """Delete every outbox file addressed to ``email`` (case-insensitive); returns how many."""
    wanted = email.strip().lower()
    parser = HeaderParser(policy=policy.default)
    removed = 0
    for path in [*OutboxSender(directory).files(), *staged_files(directory)]:
        # Decoded as UTF-8 (RFC 6532 headers are, ASCII ones too): the bytes parser would
        # turn a non-ASCII address into surrogates that never match.
        try:
            data = path.read_bytes()
        except FileNotFoundError:  # renamed into place or removed meanwhile
            continue
        headers = parser.parsestr(data.decode("utf-8", "replace"))
        to = headers.get("To")
        addresses = getattr(to, "addresses", ())
        if any(address.addr_spec.lower() == wanted for address in addresses):
            path.unlink(missing_ok=True)  # a concurrent erase may have removed it first
            removed += 1
    return removed
