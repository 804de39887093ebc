"""The outbox sender: one RFC 5322 file per recipient; a batch is written whole or not at all."""

from __future__ import annotations

import email
import errno
import itertools
import os
import time
from dataclasses import replace as dataclass_replace
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from typing import Any

import pytest

from newsletter.errors import PermanentError, RetryableError
from newsletter.providers import outbox as outbox_module
from newsletter.providers.interfaces import Batch, Message, Recipient
from newsletter.providers.outbox import (
    OutboxSender,
    build_message,
    remove_messages_to,
    staged_files,
)

MESSAGE = Message(
    from_email="desk@example.org",
    from_name="The Daily Briefing",
    subject="Today, for %%name%%",
    text="Hello %%name%%\nUnsubscribe: %%unsubscribe_url%%\n",
    html="<p>Hello %%name%%</p><a href='%%unsubscribe_url%%'>Unsubscribe</a>",
    reply_to="letters@example.org",
    headers={"X-Edition": "2026-11-25"},
)


def _recipient(address: str, name: str) -> Recipient:
    url = f"https://news.example.org/u/{name.lower()}-token"
    return Recipient(
        email=address,
        name=name,
        substitutions={"%%name%%": name, "%%unsubscribe_url%%": url},
        headers={
            "List-Unsubscribe": f"<{url}>, <mailto:unsubscribe@example.org>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
    )


def _read(path: Path) -> EmailMessage:
    return email.message_from_bytes(path.read_bytes(), policy=default)  # type: ignore[return-value]


def test_one_file_per_recipient_with_personal_content(tmp_path: Path) -> None:
    """Each recipient's file has their To, subject, body links and List-Unsubscribe headers."""
    sender = OutboxSender(tmp_path / "outbox")
    batch = Batch(
        "b1", MESSAGE, (_recipient("ann@example.org", "Ann"), _recipient("bo@x.org", "Bo"))
    )
    result = sender.send_batch(batch)
    assert result.provider_id == "outbox-b1"
    files = sender.files()
    assert len(files) == 2
    assert files == sorted(files)
    ann = _read(files[0])
    assert ann["From"] == "The Daily Briefing <desk@example.org>"
    assert ann["To"] == "Ann <ann@example.org>"
    assert ann["Reply-To"] == "letters@example.org"
    assert ann["Subject"] == "Today, for Ann"
    assert ann["Date"]
    assert ann["Message-ID"].endswith("@example.org>")
    assert ann["X-Edition"] == "2026-11-25"
    assert ann["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "https://news.example.org/u/ann-token" in ann["List-Unsubscribe"]
    assert ann.get_content_type() == "multipart/alternative"
    parts = [part.get_content_type() for part in ann.iter_parts()]
    assert parts == ["text/plain", "text/html"]
    text = ann.get_body(("plain",))
    assert text is not None
    assert "Hello Ann" in text.get_content()
    html = ann.get_body(("html",))
    assert html is not None
    assert "/u/ann-token" in html.get_content()
    assert "Hello Bo" in _read(files[1]).get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert _leftovers(tmp_path / "outbox") == [], "nothing is left staged"


def test_file_names_are_unique_and_sortable(tmp_path: Path) -> None:
    """Many sends in a row give distinct names in the order written."""
    sender = OutboxSender(tmp_path)
    for number in range(30):
        sender.send_batch(Batch(f"k{number}", MESSAGE, (_recipient(f"r{number}@x.org", "R"),)))
    names = [path.name for path in sender.files()]
    assert len(set(names)) == 30
    order = [_read(path)["To"] for path in sender.files()]
    assert order == [f"R <r{number}@x.org>" for number in range(30)]


def test_header_injection_is_a_permanent_error_and_writes_nothing(tmp_path: Path) -> None:
    """A newline in a header value is refused before any file is written."""
    bad = Recipient(email="eve@example.org", headers={"X-Bad": "a\r\nBcc: victim@example.org"})
    sender = OutboxSender(tmp_path)
    batch = Batch("b", MESSAGE, (_recipient("ann@example.org", "Ann"), bad))
    with pytest.raises(PermanentError, match=r"eve@example\.org"):
        sender.send_batch(batch)
    assert sender.files() == []


def test_unicode_names_and_subjects_are_encoded(tmp_path: Path) -> None:
    """Non-ASCII names and subjects survive the round trip."""
    message = build_message(
        Batch("u", MESSAGE, (Recipient(email="zoe@example.org", name="Zoë Ürban"),)),
        Recipient(email="zoe@example.org", name="Zoë Ürban", substitutions={"%%name%%": "Zoë"}),
    )
    parsed = email.message_from_bytes(bytes(message), policy=default)
    assert parsed["To"] == "Zoë Ürban <zoe@example.org>"
    assert parsed["Subject"] == "Today, for Zoë"


def test_no_files_before_anything_is_sent(tmp_path: Path) -> None:
    """An outbox whose folder does not exist yet lists nothing."""
    assert OutboxSender(tmp_path / "missing").files() == []


@pytest.mark.parametrize(
    ("address", "shown"),
    [("josé@example.com", "josé@example.com"), ("ann@bücher.de", "ann@bücher.de")],
)
def test_internationalised_addresses_are_written_as_utf8(
    tmp_path: Path, address: str, shown: str
) -> None:
    """An address with non-ASCII characters is written with RFC 6532 UTF-8 headers, not refused."""
    sender = OutboxSender(tmp_path)
    sender.send_batch(Batch("i", MESSAGE, (_recipient(address, "José"),)))
    [path] = sender.files()
    assert f"To: José <{shown}>".encode() in path.read_bytes()
    parsed = email.message_from_string(path.read_bytes().decode(), policy=default)
    assert parsed["To"].addresses[0].addr_spec == shown
    assert parsed["Subject"] == "Today, for José"


def test_ascii_addresses_keep_seven_bit_headers(tmp_path: Path) -> None:
    """Only messages that need it use raw UTF-8: a non-ASCII name stays an encoded word."""
    zoe = Recipient(email="zoe@example.org", name="Zoë")
    message = build_message(Batch("a", MESSAGE, (zoe,)), zoe)
    raw = bytes(message)
    assert raw.isascii()
    assert b"To: =?utf-8?q?Zo=C3=AB?= <zoe@example.org>" in raw


def test_an_address_without_an_at_sign_is_a_permanent_error(tmp_path: Path) -> None:
    """A recipient that is not an address is refused before anything is written."""
    with pytest.raises(PermanentError, match="not an address"):
        OutboxSender(tmp_path).send_batch(Batch("x", MESSAGE, (Recipient(email="nobody"),)))


def test_remove_messages_to_deletes_only_that_recipients_files(tmp_path: Path) -> None:
    """Every file addressed to the email (any case) goes; the others stay; the count is returned."""
    sender = OutboxSender(tmp_path)
    for address in ("Ann@Example.org", "bo@x.org", "ann@example.org", "josé@example.com"):
        sender.send_batch(Batch("r", MESSAGE, (_recipient(address, "R"),)))
    assert remove_messages_to(tmp_path, "ann@example.org") == 2
    assert len(sender.files()) == 2
    assert remove_messages_to(tmp_path, "ann@example.org") == 0
    assert remove_messages_to(tmp_path, "JOSÉ@example.com") == 1
    assert [_read(path)["To"] for path in sender.files()] == ["R <bo@x.org>"]
    assert remove_messages_to(tmp_path / "missing", "ann@example.org") == 0


def test_long_list_unsubscribe_stays_a_raw_url(tmp_path: Path) -> None:
    """A long List-Unsubscribe value is written as plain <URL>s, never as an encoded-word."""
    token = "1-1.AbCdEf." + "x" * 90
    url = f"https://news.example.org/u/{token}"
    value = f"<{url}>, <mailto:unsubscribe@example.org?subject=unsubscribe%20{token}>"
    recipient = Recipient(
        email="ann@example.org",
        name="Ann",
        headers={"List-Unsubscribe": value, "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"},
    )
    sender = OutboxSender(tmp_path / "outbox")
    sender.send_batch(Batch("b1", MESSAGE, (recipient,)))
    raw = sender.files()[0].read_bytes().decode("ascii")
    assert f"List-Unsubscribe: {value}\n" in raw.replace("\r\n", "\n")
    assert "=?utf-8?" not in raw


EDITION = Message(
    from_email="desk@example.org",
    from_name="The Daily Briefing",
    subject="Today",
    text="Hello\n",
    html="<p>Hello</p>",
    custom_args={"edition_id": "7", "batch_id": "70"},
)


def _reader(subscriber_id: int) -> Recipient:
    return Recipient(
        email=f"reader{subscriber_id}@example.org",
        custom_args={"subscriber_id": str(subscriber_id)},
    )


def _edition_batch(*subscriber_ids: int) -> Batch:
    return Batch("7-1-1", EDITION, tuple(_reader(n) for n in subscriber_ids))


def _leftovers(directory: Path) -> list[str]:
    """Staged messages, and any temporary file, left in the outbox folder."""
    tmp = [path.name for path in directory.rglob("*.tmp")]
    return sorted([*tmp, *(str(path.relative_to(directory)) for path in staged_files(directory))])


def _all_files(directory: Path) -> list[Path]:
    return sorted(path for path in directory.rglob("*") if path.is_file())


def test_an_edition_batch_sent_again_replaces_its_files(tmp_path: Path) -> None:
    """Files are named per (edition, subscriber), so a resent batch leaves one file per reader."""
    sender = OutboxSender(tmp_path)
    sender.send_batch(_edition_batch(12, 3))
    sender.send_batch(_edition_batch(3, 12, 40))
    names = [path.name for path in sender.files()]
    assert sorted(names) == [
        "edition-000000000007-000000000003.eml",
        "edition-000000000007-000000000012.eml",
        "edition-000000000007-000000000040.eml",
    ]
    assert _read(tmp_path / names[0])["To"] == "reader3@example.org"
    assert _leftovers(tmp_path) == []


def test_ids_that_are_not_digits_fall_back_to_unique_names(tmp_path: Path) -> None:
    """A recipient whose subscriber id is not a plain number is never overwritten by another."""
    odd = Recipient(email="odd@example.org", custom_args={"subscriber_id": "x1"})
    sender = OutboxSender(tmp_path)
    sender.send_batch(Batch("o", EDITION, (odd,)))
    sender.send_batch(Batch("o", EDITION, (odd,)))
    names = [path.name for path in sender.files()]
    assert len(names) == 2
    assert not any(name.startswith("edition-") for name in names)


def test_files_are_listed_in_the_order_written_whatever_their_names(tmp_path: Path) -> None:
    """files() orders by time written: an edition file written first comes before a test send."""
    sender = OutboxSender(tmp_path)
    sender.send_batch(_edition_batch(5))
    sender.send_batch(Batch("test-7", MESSAGE, (_recipient("ed@example.org", "Ed"),)))
    edition_file = tmp_path / "edition-000000000007-000000000005.eml"
    [test_file] = [path for path in sender.files() if path != edition_file]
    os.utime(edition_file, ns=(1_000_000_000, 1_000_000_000))
    os.utime(test_file, ns=(2_000_000_000, 2_000_000_000))
    assert sender.files() == [edition_file, test_file]
    assert test_file.name < edition_file.name  # the names alone would sort the other way


def test_a_subscriber_named_twice_in_a_batch_is_refused(tmp_path: Path) -> None:
    """Two recipients that would share one file are a permanent error, and nothing is written."""
    twin = Recipient(email="other@example.org", custom_args={"subscriber_id": "3"})
    batch = Batch("t", EDITION, (_reader(3), twin))
    with pytest.raises(PermanentError, match="names one subscriber twice"):
        OutboxSender(tmp_path).send_batch(batch)
    assert list(tmp_path.iterdir()) == []


def _fail_on_call(
    monkeypatch: pytest.MonkeyPatch, name: str, failing_call: int, errno_value: int
) -> None:
    """Make ``os.<name>`` raise ``OSError(errno_value)`` on its ``failing_call``-th call."""
    real = getattr(os, name)
    calls = itertools.count(1)

    def flaky(*args: Any, **kwargs: Any) -> Any:
        if next(calls) == failing_call:
            raise OSError(errno_value, os.strerror(errno_value))
        return real(*args, **kwargs)

    monkeypatch.setattr(os, name, flaky)


def test_a_full_disk_mid_batch_is_retryable_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ENOSPC on the third message: RetryableError with the reason, no message, nothing staged."""
    _fail_on_call(monkeypatch, "fsync", 3, errno.ENOSPC)
    sender = OutboxSender(tmp_path)
    with pytest.raises(RetryableError) as caught:
        sender.send_batch(_edition_batch(1, 2, 3, 4))
    assert not isinstance(caught.value, PermanentError)
    message = str(caught.value)
    assert message.startswith("outbox: no space left on device writing ")
    assert message.endswith("-000000000003.eml")
    assert str(tmp_path / ".staging") in message
    assert _all_files(tmp_path) == []


def test_a_failed_rename_is_retryable_and_removes_the_temporary_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An I/O error while renaming is transient, names the file, and takes the batch back."""
    _fail_on_call(monkeypatch, "replace", 2, errno.EIO)
    sender = OutboxSender(tmp_path)
    with pytest.raises(
        RetryableError, match=r"outbox: input/output error renaming .*-000000000002\.eml"
    ):
        sender.send_batch(_edition_batch(1, 2, 3))
    assert _leftovers(tmp_path) == []
    assert sender.files() == [], "the file renamed before the error is taken back"
    monkeypatch.undo()
    sender.send_batch(_edition_batch(1, 2, 3))
    assert len(sender.files()) == 3


class _Interrupted(BaseException):
    """What a task's time limit or a signal raises in the middle of a write."""


def test_an_interruption_mid_batch_leaves_nothing_and_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A time limit striking mid-write (not an OSError) removes the stage and is re-raised as is."""
    real = os.fsync
    calls = itertools.count(1)

    def interrupted(fd: int) -> None:
        if next(calls) == 2:
            raise _Interrupted
        real(fd)

    monkeypatch.setattr(os, "fsync", interrupted)
    sender = OutboxSender(tmp_path)
    with pytest.raises(_Interrupted):
        sender.send_batch(_edition_batch(1, 2, 3))
    assert _all_files(tmp_path) == []


def test_a_killed_writers_stage_is_removed_by_the_next_attempt(tmp_path: Path) -> None:
    """A stage left by a killed writer goes with the batch's next attempt, or once stale."""
    staging = tmp_path / ".staging"
    sender = OutboxSender(tmp_path)
    sender.send_batch(_edition_batch(1))  # creates the staging folder
    same_batch = staging / f"{outbox_module._stage_prefix('7-1-1')}dead"
    other_fresh = staging / f"{outbox_module._stage_prefix('7-1-2')}busy"
    other_stale = staging / f"{outbox_module._stage_prefix('7-1-3')}old"
    for stage in (same_batch, other_fresh, other_stale):
        stage.mkdir()
        (stage / "edition-000000000007-000000000009.eml").write_bytes(b"To: x@example.org\n")
    old = time.time() - 16 * 60
    os.utime(other_stale, (old, old))
    assert len(staged_files(tmp_path)) == 3

    sender.send_batch(_edition_batch(1, 2))

    assert sorted(path.name for path in staging.iterdir()) == [other_fresh.name]
    assert len(sender.files()) == 2


def test_remove_messages_to_also_removes_a_staged_copy(tmp_path: Path) -> None:
    """Erasing a person reaches a message a killed writer left staged."""
    stage = tmp_path / ".staging" / "abc-dead"
    stage.mkdir(parents=True)
    (stage / "edition-000000000007-000000000009.eml").write_bytes(
        b"To: ann@example.org\nSubject: x\n\nhi\n"
    )
    assert remove_messages_to(tmp_path, "ann@example.org") == 1
    assert staged_files(tmp_path) == []


def test_an_unusable_outbox_folder_is_retryable(tmp_path: Path) -> None:
    """A folder that cannot be created is a transient failure naming the folder."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the outbox should be")
    with pytest.raises(
        RetryableError, match=r"outbox: not a directory creating .*not-a-folder/box"
    ):
        OutboxSender(blocker / "box").send_batch(_edition_batch(1))


def test_a_message_erased_while_listing_is_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """files() leaves out a file deleted between listing the folder and reading its time."""
    sender = OutboxSender(tmp_path)
    sender.send_batch(_edition_batch(1, 2))
    gone = tmp_path / "edition-000000000007-000000000001.eml"
    real_glob = Path.glob

    def glob_then_erase(self: Path, pattern: str) -> Any:
        found = list(real_glob(self, pattern))
        gone.unlink()
        return iter(found)

    monkeypatch.setattr(Path, "glob", glob_then_erase)
    assert [path.name for path in sender.files()] == ["edition-000000000007-000000000002.eml"]


def test_bodies_are_encoded_in_lines_of_76_while_headers_stay_unfolded(tmp_path: Path) -> None:
    """RFC 2045: no body line past 76 characters; a long List-Unsubscribe stays one line.

    The headers' 998-character policy once set the quoted-printable line length too,
    which spam filters score; the bodies round-trip exactly.
    """
    token = "1-1.AbCdEf." + "x" * 120
    value = f"<https://news.example.org/u/{token}>"
    text = "Zoë " + "word " * 60 + "end\n" + "plain ascii " * 20 + "\n"
    html = "<p>" + "<a href='https://news.example.org/b/x'>Café</a> " * 40 + "</p>"
    message = dataclass_replace(MESSAGE, text=text, html=html)
    recipient = Recipient(email="ann@example.org", name="Ann", headers={"List-Unsubscribe": value})
    sender = OutboxSender(tmp_path)
    sender.send_batch(Batch("b1", message, (recipient,)))
    raw = sender.files()[0].read_bytes().decode("utf-8").replace("\r\n", "\n")
    head, _, body = raw.partition("\n\n")
    assert f"List-Unsubscribe: {value}\n" in head + "\n"
    assert max(len(line) for line in body.splitlines()) <= 76
    parsed = _read(sender.files()[0])
    assert parsed.get_body(("plain",)).get_content() == text  # type: ignore[union-attr]
    assert parsed.get_body(("html",)).get_content() == html + "\n"  # type: ignore[union-attr]
