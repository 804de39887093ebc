"""The outbox sender: one complete RFC 5322 file per recipient, written atomically."""

from __future__ import annotations

import email
from email.message import EmailMessage
from email.policy import default
from pathlib import Path

import pytest

from newsletter.delivery.interfaces import Batch, Message, Recipient
from newsletter.delivery.outbox import OutboxSender, build_message
from newsletter.errors import PermanentError

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
    assert not list((tmp_path / "outbox").glob(".*.tmp")), "no temporary file is left behind"


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
