"""Signed tokens for the links in emails: confirm, unsubscribe, preferences.

A token names one subscriber and one list (``<subscriber>-<list>`` in base 36), a
timestamp and an HMAC-SHA256 signature over both, salted per purpose: a token made
for one purpose, subscriber or list is useless for any other. Tokens stay under 64
characters because the unsubscribe one also travels in the ``List-Unsubscribe``
header. Confirm tokens expire; unsubscribe and preferences tokens do not, because a
link in an old email must keep working.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from itsdangerous import BadSignature, SignatureExpired, TimestampSigner
from itsdangerous.encoding import base64_encode, int_to_bytes, want_bytes

from newsletter.errors import InvalidInputError


class Purpose(StrEnum):
    """What a token allows; each purpose signs with its own salt."""

    CONFIRM = "confirm"
    UNSUBSCRIBE = "unsubscribe"
    PREFERENCES = "preferences"


class TokenError(InvalidInputError):
    """A token is malformed, tampered with, made for another purpose, or expired."""


@dataclass(frozen=True)
class TokenSubject:
    """Whom a token speaks for: a subscriber on a list."""

    subscriber_id: int
    list_id: int


def _b36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        number, rest = divmod(number, 36)
        out = digits[rest] + out
        if not number:
            return out


class _Signer(TimestampSigner):
    clock: Callable[[], float] = time.time
    _derived: bytes | None = None
    _mac: hmac.HMAC | None = None  # keyed once; each signature starts from a copy
    _stamp: tuple[int, bytes] = (-1, b"")  # the last timestamp and its encoded suffix

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
        """Exactly ``TimestampSigner.sign``, minus its per-call setup.

        Dispatch signs two tokens per recipient, a million recipients an edition:
        the keyed HMAC state is copied instead of rebuilt, and the encoded
        timestamp is reused within the same second. ``unsign`` is itsdangerous's own.
        """
        now = self.get_timestamp()
        stamped_at, stamp = self._stamp
        if stamped_at != now:
            stamp = self.sep + base64_encode(int_to_bytes(now))
            self._stamp = (now, stamp)  # one assignment: threads never see half of it
        if self._mac is None:
            self._mac = hmac.new(self.derive_key(), digestmod=self.digest_method)
        signed = want_bytes(value) + stamp
        mac = self._mac.copy()
        mac.update(signed)
        return signed + self.sep + base64.urlsafe_b64encode(mac.digest()).rstrip(b"=")


class Tokens:
    """Makes and reads tokens with one secret key."""

    def __init__(self, secret_key: str, *, clock: Callable[[], float] = time.time) -> None:
        self._signers: dict[Purpose, _Signer] = {}
        for purpose in Purpose:
            signer = _Signer(
                secret_key,
                salt=f"subscribers.{purpose.value}",
                key_derivation="hmac",
                digest_method=hashlib.sha256,
            )
            signer.clock = clock
            self._signers[purpose] = signer

    def make(self, purpose: Purpose, subject: TokenSubject) -> str:
        """A token for ``purpose`` naming ``subject``."""
        value = f"{_b36(subject.subscriber_id)}-{_b36(subject.list_id)}"
        return self._signers[purpose].sign(value).decode()

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
        subscriber, _, mailing_list = value.partition("-")
        try:
            return TokenSubject(int(subscriber, 36), int(mailing_list, 36))
        except ValueError:  # only reachable with the secret key, but never trust
            raise TokenError("token: malformed link") from None
