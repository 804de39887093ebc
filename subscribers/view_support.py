"""What every subscriber page needs: link tokens, links, a request's evidence.

Used by the sign-up views (``signup_views``) and the unsubscribe and preferences views
(``unsubscribe_views``). ``PAGE_METHODS``: every page that answers GET also answers
HEAD (link checkers and proxies send it).
"""

from __future__ import annotations

from collections.abc import Iterable

from babel.dates import get_day_names
from fastapi import Request

from newsletter import i18n
from newsletter.runtime import Runtime
from subscribers.links import Links
from subscribers.models import ConsentSource
from subscribers.tokens import Purpose, Tokens, TokenSubject, tokens_for
from subscribers.transitions import Evidence

PAGE_METHODS = ["GET", "HEAD"]
_DAY_INDEX = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}


def day_labels(days: Iterable[str], language: str) -> list[tuple[str, str]]:
    """(day, its name in ``language``) for each offered weekly day (``mon`` … ``sun``)."""
    names = get_day_names("wide", locale=i18n.babel_locale(language))
    return [(day, names[_DAY_INDEX[day]]) for day in days]


def _tokens(runtime: Runtime) -> Tokens:
    return tokens_for(runtime.settings)


def links_of(runtime: Runtime) -> Links:
    """The links (confirm, unsubscribe, preferences) this runtime's pages and emails use."""
    return Links(runtime.settings.base_url, _tokens(runtime))


def evidence_of(request: Request, source: ConsentSource) -> Evidence:
    """How this request reached us (client address, user agent), for the consent record."""
    user_agent = request.headers.get("user-agent", "")[:500] or None
    ip = request.client.host if request.client else None
    return Evidence(source, ip=ip, user_agent=user_agent)


def read_token(runtime: Runtime, purpose: Purpose, token: str) -> TokenSubject:
    """The subscription a link token names; confirm links expire, the others do not."""
    max_age = runtime.settings.confirm_token_max_age if purpose is Purpose.CONFIRM else None
    return _tokens(runtime).read(purpose, token, max_age=max_age)
