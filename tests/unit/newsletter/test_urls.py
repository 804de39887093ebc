"""URLs and list ids built from a publication's site."""

from __future__ import annotations

from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default

import pytest

from newsletter.urls import list_id_header


@pytest.mark.parametrize(
    ("name", "base_url", "expected"),
    [
        ("The Brief", "https://news.example.org", '"The Brief" <m.news.example.org>'),
        ('Say "hi" \\ bye', "http://127.0.0.1:8000/", '"Say \\"hi\\" \\\\ bye" <m.127.0.0.1>'),
        ("Evil\r\nBcc: x@y\x1b[31m", "https://a.example/", '"Evil Bcc: x@y [31m" <m.a.example>'),
        ("Zoë's <Brief>", "https://bücher.example/", "Zoë's Brief <m.xn--bcher-kva.example>"),
        ("News", "not a url", '"News" <m.localhost>'),
        ("News", "https://" + "ü" * 70 + ".example/", '"News" <m.example>'),
    ],
)
def test_list_id_is_a_phrase_and_a_dot_atom(name: str, base_url: str, expected: str) -> None:
    """RFC 2919: a quoted (or encodable) name and <slug.host>; never a CR/LF or control."""
    assert list_id_header(name, "m", base_url) == expected


def test_a_non_ascii_list_id_travels_as_encoded_words() -> None:
    """In a message the non-ASCII name becomes RFC 2047 words; the id stays as it is."""
    message = EmailMessage(policy=default.clone(max_line_length=998))
    message["List-Id"] = list_id_header("Zoë's Brief", "m", "https://news.example.org")
    raw = bytes(message)
    assert raw.isascii()
    assert b"<m.news.example.org>" in raw
    assert message_from_bytes(raw, policy=default)["List-Id"] == "Zoë's Brief <m.news.example.org>"
