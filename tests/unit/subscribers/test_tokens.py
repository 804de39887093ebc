"""Signed tokens: short, purpose-bound, tamper-proof, expiring only when asked."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from itsdangerous import TimestampSigner
from pydantic import SecretStr

from newsletter.content.edition import MailKind
from newsletter.settings import Settings
from subscribers.tokens import Purpose, TokenError, Tokens, TokenSubject, tokens_for

SECRET = "a-test-secret-that-is-long-enough-0123456789"


def test_round_trip_names_subscriber_and_list() -> None:
    """A token reads back as the subscriber and list it was made for."""
    tokens = Tokens(SECRET)
    token = tokens.make(Purpose.UNSUBSCRIBE, TokenSubject(12345, 7))
    assert tokens.read(Purpose.UNSUBSCRIBE, token) == TokenSubject(12345, 7)


def test_tokens_stay_short() -> None:
    """Even with large ids a token fits comfortably in a List-Unsubscribe header."""
    token = Tokens(SECRET).make(Purpose.CONFIRM, TokenSubject(10**9, 10**6))
    assert len(token) <= 64
    assert token.isascii()
    assert "/" not in token
    assert "+" not in token


def test_tampered_signature_is_refused() -> None:
    """Changing any character of the signature makes the token invalid."""
    tokens = Tokens(SECRET)
    token = tokens.make(Purpose.UNSUBSCRIBE, TokenSubject(1, 1))
    # Not the last character: its low bits are base64 padding, which decoders ignore,
    # so changing only them would leave the signature's bytes (and the token) intact.
    flipped = token[:-5] + ("A" if token[-5] != "A" else "z") + token[-4:]
    with pytest.raises(TokenError, match="invalid or was changed"):
        tokens.read(Purpose.UNSUBSCRIBE, flipped)


def test_token_cannot_be_moved_to_another_subscriber() -> None:
    """Replacing the subscriber part with another subscriber's id breaks the signature."""
    tokens = Tokens(SECRET)
    mine = tokens.make(Purpose.UNSUBSCRIBE, TokenSubject(1, 1))
    theirs = tokens.make(Purpose.UNSUBSCRIBE, TokenSubject(2, 1))
    forged = theirs.split(".", 1)[0] + "." + mine.split(".", 1)[1]
    with pytest.raises(TokenError):
        tokens.read(Purpose.UNSUBSCRIBE, forged)


def test_wrong_purpose_is_refused() -> None:
    """A preferences token does not unsubscribe and an unsubscribe token does not confirm."""
    tokens = Tokens(SECRET)
    token = tokens.make(Purpose.PREFERENCES, TokenSubject(1, 1))
    with pytest.raises(TokenError):
        tokens.read(Purpose.UNSUBSCRIBE, token)
    with pytest.raises(TokenError):
        tokens.read(Purpose.CONFIRM, tokens.make(Purpose.UNSUBSCRIBE, TokenSubject(1, 1)))


def test_other_secret_is_refused() -> None:
    """A token signed with another key is refused."""
    token = Tokens("another-secret-" * 3).make(Purpose.UNSUBSCRIBE, TokenSubject(1, 1))
    with pytest.raises(TokenError):
        Tokens(SECRET).read(Purpose.UNSUBSCRIBE, token)


def test_expired_token_is_refused_and_fresh_one_accepted() -> None:
    """With a max age, a token older than it is refused; a younger one is accepted."""
    now = [1_700_000_000.0]
    tokens = Tokens(SECRET, clock=lambda: now[0])
    token = tokens.make(Purpose.CONFIRM, TokenSubject(3, 4))
    now[0] += 3600
    assert tokens.read(Purpose.CONFIRM, token, max_age=timedelta(hours=2)) == TokenSubject(3, 4)
    now[0] += 2 * 3600
    with pytest.raises(TokenError, match="expired"):
        tokens.read(Purpose.CONFIRM, token, max_age=timedelta(hours=2))


def test_unsubscribe_tokens_do_not_expire() -> None:
    """Without a max age a years-old token still works (old emails keep their links)."""
    now = [1_700_000_000.0]
    tokens = Tokens(SECRET, clock=lambda: now[0])
    token = tokens.make(Purpose.UNSUBSCRIBE, TokenSubject(3, 4))
    now[0] += 5 * 365 * 86400
    assert tokens.read(Purpose.UNSUBSCRIBE, token) == TokenSubject(3, 4)


@pytest.mark.parametrize("token", ["", "x" * 300, "nodots", "a.b.c", "é.é.é", "1-1.AAAA.BBBB"])
def test_malformed_tokens_are_refused(token: str) -> None:
    """Empty, huge, non-ASCII or structurally wrong tokens raise TokenError, never crash."""
    with pytest.raises(TokenError):
        Tokens(SECRET).read(Purpose.UNSUBSCRIBE, token)


def test_signed_garbage_payload_is_refused() -> None:
    """A correctly signed value that is not two base-36 ids is still refused."""
    tokens = Tokens(SECRET)
    token = tokens._signers[Purpose.UNSUBSCRIBE].sign("not-ids!").decode()
    with pytest.raises(TokenError, match="malformed"):
        tokens.read(Purpose.UNSUBSCRIBE, token)


def test_tokens_are_exactly_what_itsdangerous_signs() -> None:
    """The fast signing path writes byte for byte what a stock TimestampSigner would."""
    now = [1_700_000_000.0]
    tokens = Tokens(SECRET, clock=lambda: now[0])
    for purpose in Purpose:
        stock = TimestampSigner(
            SECRET,
            salt=f"subscribers.{purpose.value}",
            key_derivation="hmac",
            digest_method=hashlib.sha256,
        )
        for second in (0.0, 0.9, 1.0, 86_400.0):  # within a second, and the next ones
            now[0] = 1_700_000_000.0 + second
            token = tokens.make(purpose, TokenSubject(123_456, 7))
            value, stamp = stock.unsign(token, return_timestamp=True)
            assert value == b"2n9c-7"
            assert int(stamp.timestamp()) == int(now[0])
            stock.get_timestamp = lambda: int(now[0])  # type: ignore[method-assign]
            assert token == stock.sign("2n9c-7").decode()


def test_tokens_made_together_are_what_itsdangerous_signs_for_each_purpose() -> None:
    """``make_each`` writes, per purpose, the token a stock TimestampSigner signs then."""
    now = [1_700_000_000.0]
    tokens = Tokens(SECRET, clock=lambda: now[0])
    purposes = (Purpose.UNSUBSCRIBE, Purpose.PREFERENCES)
    for second in (0.0, 0.5, 1.0, 3600.0):  # the cached timestamp, then fresh ones
        now[0] = 1_700_000_000.0 + second
        together = tokens.make_each(purposes, 98_765, 3)
        for purpose, token in zip(purposes, together, strict=True):
            stock = TimestampSigner(
                SECRET,
                salt=f"subscribers.{purpose.value}",
                key_derivation="hmac",
                digest_method=hashlib.sha256,
            )
            stock.get_timestamp = lambda: int(now[0])  # type: ignore[method-assign]
            assert token == stock.sign("247h-3").decode()
            assert tokens.read(purpose, token) == TokenSubject(98_765, 3)
    assert tokens.make_each((), 1, 1) == []


def test_tokens_for_builds_one_signer_per_secret() -> None:
    """The web app, the CLI and the tasks share one signer per secret: keys derived once."""
    settings = Settings(secret_key=SecretStr(SECRET))
    same = Settings(secret_key=SecretStr(SECRET))
    other = Settings(secret_key=SecretStr(SECRET + "-other"))
    assert tokens_for(settings) is tokens_for(same)
    assert tokens_for(other) is not tokens_for(settings)
    token = tokens_for(settings).make(Purpose.UNSUBSCRIBE, TokenSubject(5, 6))
    assert Tokens(SECRET).read(Purpose.UNSUBSCRIBE, token) == TokenSubject(5, 6)


@pytest.mark.parametrize("kind", list(MailKind))
def test_a_token_from_a_mail_names_its_kind(kind: MailKind) -> None:
    """The kind is signed into the token: it reads back, and fits a header even for large ids."""
    tokens = Tokens(SECRET)
    subject = TokenSubject(10**9, 10**6, kind)
    token = tokens.make(Purpose.UNSUBSCRIBE, subject)
    assert tokens.read(Purpose.UNSUBSCRIBE, token) == subject
    assert len(token) <= 64
    # The same subscriber's token without a kind still means the whole subscription.
    plain = tokens.make(Purpose.UNSUBSCRIBE, TokenSubject(10**9, 10**6))
    assert tokens.read(Purpose.UNSUBSCRIBE, plain).kind is None
    together = tokens.make_each((Purpose.UNSUBSCRIBE, Purpose.PREFERENCES), 5, 6, kind=kind)
    assert tokens.read(Purpose.UNSUBSCRIBE, together[0]) == TokenSubject(5, 6, kind)
    # A preferences link is the reader's whole page: it names no kind.
    assert tokens.read(Purpose.PREFERENCES, together[1]) == TokenSubject(5, 6)


def test_a_token_whose_kind_is_not_one_is_refused() -> None:
    """A signed value with an unknown kind letter is malformed, never read as another kind."""
    tokens = Tokens(SECRET)
    token = tokens._signers[Purpose.UNSUBSCRIBE].sign("5-6-x").decode()
    with pytest.raises(TokenError, match="malformed"):
        tokens.read(Purpose.UNSUBSCRIBE, token)
