"""Signed tokens for the links in emails: confirm, unsubscribe, preferences.

A token names one subscriber and one list (``<subscriber>-<list>`` in base 36), a
timestamp and an HMAC-SHA256 signature over both, salted per purpose: a token made
for one purpose, subscriber or list is useless for any other. A token in a mail may
also name the kind of mail it came with (``<subscriber>-<list>-d`` for the digest,
``-a`` for alerts), so unsubscribing with it leaves that kind only; a token without
a kind (every token made before kinds existed) speaks for the whole subscription.
Tokens stay under 64 characters because the unsubscribe one also travels in the ``List-Unsubscribe``
header. Confirm tokens expire; unsubscribe and preferences tokens do not, because a
link in an old email must keep working.
"""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from itsdangerous import BadSignature, SignatureExpired, TimestampSigner
from itsdangerous.encoding import base64_encode, int_to_bytes, want_bytes

from newsletter.content.edition import MailKind
from newsletter.errors import InvalidInputError

if TYPE_CHECKING:
    from newsletter.settings import Settings


class Purpose(StrEnum):
    """What a token allows; each purpose signs with its own salt."""

    CONFIRM = "confirm"
    UNSUBSCRIBE = "unsubscribe"
    PREFERENCES = "preferences"


class TokenError(InvalidInputError):
    """A token is malformed, tampered with, made for another purpose, or expired."""


@dataclass(frozen=True)
class TokenSubject:
    """Whom a token speaks for: a subscriber on a list (and, from a mail, its kind)."""

    subscriber_id: int
    list_id: int
    kind: MailKind | None = None  # None: the whole subscription


# A kind of mail as one letter in a token's value, and back.
_KIND_CODES = {MailKind.DIGEST: "d", MailKind.ALERT: "a"}
_CODE_KINDS = {code: kind for kind, code in _KIND_CODES.items()}


_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"
_SEP = b"."  # between value, timestamp and signature (itsdangerous's default, set explicitly)
# HMAC's key pads (RFC 2104), as byte translation tables: the key XOR 0x36 and XOR 0x5c.
_INNER_PAD = bytes(x ^ 0x36 for x in range(256))
_OUTER_PAD = bytes(x ^ 0x5C for x in range(256))


def _b36(number: int) -> str:
    out = ""
    while True:
        number, rest = divmod(number, 36)
        out = _DIGITS[rest] + out
        if not number:
            return out


def _keyed_states(key: bytes, digest_method: Any) -> tuple[Any, Any]:
    """The hash states after HMAC's inner and outer key blocks: each signature copies them."""
    block = digest_method().block_size
    if len(key) > block:
        key = digest_method(key).digest()
    key = key.ljust(block, b"\0")
    return digest_method(key.translate(_INNER_PAD)), digest_method(key.translate(_OUTER_PAD))


class _Signer(TimestampSigner):
    clock: Callable[[], float] = time.time
    _derived: bytes | None = None
    _keyed: tuple[Any, Any] | None = None  # keyed once; each signature starts from copies

    def get_timestamp(self) -> int:
        return int(self.clock())

    def derive_key(self, secret_key: str | bytes | None = None) -> bytes:
        """The signing key, derived once: dispatch signs two tokens per recipient."""
        if secret_key is not None:  # verifying against one key of a rotation list
            return super().derive_key(secret_key)
        if self._derived is None:
            self._derived = super().derive_key()
        return self._derived

    def sign(self, value: str | bytes) -> bytes:
        """Exactly ``TimestampSigner.sign``, minus its per-call setup (``unsign`` is its own)."""
        timestamp = base64_encode(int_to_bytes(self.get_timestamp()))
        stamped = want_bytes(value) + self.sep + timestamp
        return stamped + self.sep + self.signature_of(stamped)

    def signature_of(self, stamped: bytes) -> bytes:
        """The HMAC of ``stamped`` as itsdangerous writes it (URL-safe base64, no padding).

        Dispatch signs two tokens per recipient, a million recipients an edition: the
        hash states after the key blocks are computed once and copied per signature,
        which is HMAC itself (RFC 2104) without rebuilding the keyed object each time.
        """
        keyed = self._keyed
        if keyed is None:
            keyed = self._keyed = _keyed_states(self.derive_key(), self.digest_method)
        inner = keyed[0].copy()
        inner.update(stamped)
        outer = keyed[1].copy()
        outer.update(inner.digest())
        return base64.urlsafe_b64encode(outer.digest()).rstrip(b"=")


class Tokens:
    """Makes and reads tokens with one secret key."""

    def __init__(self, secret_key: str, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._stamp: tuple[int, bytes] = (-1, b"")  # the last second and its encoded suffix
        self._signers: dict[Purpose, _Signer] = {}
        for purpose in Purpose:
            signer = _Signer(
                secret_key,
                salt=f"subscribers.{purpose.value}",
                key_derivation="hmac",
                digest_method=hashlib.sha256,
                sep=_SEP,
            )
            signer.clock = clock
            self._signers[purpose] = signer

    def make(self, purpose: Purpose, subject: TokenSubject) -> str:
        """A token for ``purpose`` naming ``subject``."""
        return self.make_each(
            (purpose,), subject.subscriber_id, subject.list_id, kind=subject.kind
        )[0]

    def make_each(
        self,
        purposes: Sequence[Purpose],
        subscriber_id: int,
        list_id: int,
        *,
        kind: MailKind | None = None,
    ) -> list[str]:
        """One token per purpose naming the same subscriber and list, stamped at one instant.

        Dispatch signs an unsubscribe and a preferences token for every recipient: the
        value and the encoded timestamp are built once for both (and the timestamp
        reused within the same second), then each purpose's key signs them. ``kind``
        goes into the unsubscribe token only: it is what leaving one kind needs.
        """
        now = int(self._clock())
        second, stamp = self._stamp
        if second != now:
            stamp = _SEP + base64_encode(int_to_bytes(now))
            self._stamp = (now, stamp)  # one assignment: threads never see half of it
        stamped = f"{_b36(subscriber_id)}-{_b36(list_id)}".encode() + stamp
        kinded = stamped
        if kind is not None:
            kinded = f"{_b36(subscriber_id)}-{_b36(list_id)}-{_KIND_CODES[kind]}".encode() + stamp
        signers = self._signers
        return [
            (value + _SEP + signers[purpose].signature_of(value)).decode()
            for purpose in purposes
            for value in (kinded if purpose is Purpose.UNSUBSCRIBE else stamped,)
        ]

    def read(
        self, purpose: Purpose, token: str, *, max_age: timedelta | None = None
    ) -> TokenSubject:
        """The subject of a valid token, or ``TokenError`` saying what is wrong."""
        if not token or len(token) > 200 or not token.isascii():
            raise TokenError("token: malformed link")
        seconds = int(max_age.total_seconds()) if max_age is not None else None
        try:
            value = self._signers[purpose].unsign(token, max_age=seconds).decode()
        except SignatureExpired:
            raise TokenError("token: this link has expired") from None
        except BadSignature:
            raise TokenError("token: this link is invalid or was changed") from None
        subscriber, _, rest = value.partition("-")
        mailing_list, _, code = rest.partition("-")
        kind = _CODE_KINDS.get(code) if code else None
        try:
            if code and kind is None:
                raise ValueError(code)
            return TokenSubject(int(subscriber, 36), int(mailing_list, 36), kind)
        except ValueError:  # only reachable with the secret key, but never trust
            raise TokenError("token: malformed link") from None


def tokens_for(settings: Settings) -> Tokens:
    """The signer of ``settings.secret_key``: one per secret, so its keys are derived once.

    Dispatch signs tokens for every reader; the web app, the CLI and the tasks of one
    process share this one signer.
    """
    return _tokens_of(settings.secret_key.get_secret_value())


@lru_cache(maxsize=8)
def _tokens_of(secret_key: str) -> Tokens:
    return Tokens(secret_key)
