"""Every email the product sends, rendered from fixed test data in any language.

``emails(language)`` renders each email kind (the digest daily, weekly, of a slot, of a
topic variant, corrected and shortened; the alert; the confirmation for each way an
address reaches us; the built-in welcome) and ``data()`` lists what the test data
itself puts in them, which the pseudo-locale test does not expect to be marked.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

from newsletter.content.briefing import Question, Subsection, Topic
from newsletter.content.edition import (
    Cadence,
    Edition,
    ItemStatus,
    PublicationInfo,
)
from newsletter.publications.models import Publication
from newsletter.render import placeholders
from newsletter.render.context import day_month, edition_context, long_date
from newsletter.render.email import render_email, render_template_email
from subscribers.confirmation import CONFIRM_URL, confirmation_context
from subscribers.confirmation import TEMPLATE as CONFIRMATION
from subscribers.models import ConsentSource, MailingList
from subscribers.welcome import TEMPLATE as WELCOME
from subscribers.welcome import welcome_context
from tests.browser.documents import AT, PUBLICATION_FIELDS, corrected_edition
from tests.fixtures.editions import (
    EDITION_DATE,
    long_edition,
    make_publication,
    replace_content,
    sample_edition,
)

SLOT = "Evening"


def corrected() -> Edition:
    """The checkers' corrected edition, plus a withdrawal notice and an expired briefing."""
    edition = corrected_edition()
    withdrawal = replace(edition.corrections[0], kind="withdrawal", slug="gone", note="")
    items = list(edition.items)
    items[2] = replace(items[2], status=ItemStatus.EXPIRED, updated_at=AT)
    return replace(edition, items=tuple(items), corrections=(*edition.corrections, withdrawal))


def publication(info: PublicationInfo | None = None) -> tuple[Publication, MailingList]:
    """A transient publication (no database) and its list, from ``info``."""
    info = info or make_publication()
    fields = {name: getattr(info, name) for name in PUBLICATION_FIELDS}
    row = Publication(**fields, welcome_subject="", welcome_body="")
    return row, MailingList(slug=info.slug, name=info.name, publication=row)


def digests() -> dict[str, tuple[Edition, int]]:
    """Name → (edition, budget in bytes) of every kind of digest email."""
    sample = sample_edition()
    return {
        "digest": (sample, 100_000),
        "digest-weekly": (replace(sample, cadence=Cadence.WEEKLY), 100_000),
        "digest-slot": (replace(sample, slot=SLOT), 100_000),
        "digest-variant": (replace(sample, items=sample.items[:2], variant_key="0.1"), 100_000),
        "digest-corrected": (corrected(), 100_000),
        "digest-shrunk": (long_edition(12), 60_000),
        "digest-omitted": (long_edition(30), 25_000),
        "alert": (replace(sample, cadence=Cadence.ALERT, items=sample.items[:1]), 100_000),
    }


def emails(language: str) -> Iterator[tuple[str, str, str, str]]:
    """(name, subject, HTML, text) of every email in ``language``."""
    for name, (edition, budget) in digests().items():
        email = render_email(edition, budget_bytes=budget, language=language)
        yield name, email.subject, email.html, email.text
    row, mailing_list = publication()
    for source in ConsentSource:
        context = confirmation_context(
            row, mailing_list, timedelta(hours=48), source, language=language
        )
        message = render_template_email(CONFIRMATION, context)
        yield f"confirmation-{source.value}", message.subject, message.html, message.text
    one_hour = confirmation_context(row, mailing_list, timedelta(hours=1), language=language)
    message = render_template_email(CONFIRMATION, one_hour)
    yield "confirmation-1h", message.subject, message.html, message.text
    message = render_template_email(WELCOME, welcome_context(row, mailing_list, language=language))
    yield "welcome", message.subject, message.html, message.text


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


def data() -> list[str]:
    """Everything the test data puts into the emails: not for translators."""
    found: set[str] = set()
    for edition, _budget in digests().values():
        for item in edition.items:
            found.update(_strings(item.content.model_dump()))
        found.update(note for item in edition.items for c in item.corrections for note in [c.note])
        for notice in edition.corrections:
            found.update((notice.title, notice.note))
        # What a shortened briefing shows instead of its text.
        shortened = edition_context(edition, shrink_last=len(edition.items))
        found.update(view.summary for view in shortened["items"])
        found.add(shortened["preheader"])  # the hidden preview line
        info = edition.publication
        found.update((info.name, info.tagline, info.postal_address))
    found.update(text.upper() for text in list(found))  # the text part's subheadings
    found.update((SLOT, long_date(EDITION_DATE, "en"), long_date(AT.date(), "en")))
    found.add(day_month(EDITION_DATE, "en"))
    found.update((*placeholders.ALL, CONFIRM_URL))
    return [" ".join(text.split()) for text in found if text.strip()]


# A briefing written in the language, for looking at right-to-left and Korean emails
# as a reader would get them: the newsroom's own text and the chrome in one language.
_WRITTEN: dict[str, dict[str, Any]] = {
    "ar": {
        "publication": ("الموجز الصباحي", "ما حدث ولماذا يهم، في عشر دقائق"),
        "title": "مجلس المدينة يوافق على تمديد خط الترام إلى الميناء",
        "lede": (
            "صوّت أعضاء المجلس مساء الثلاثاء بأغلبية 38 صوتًا مقابل 21 على تمديد خط الترام "
            "إلى الميناء، منهين أربع سنوات من الجدل حول الكلفة والمسار.",
            "ومن المقرر أن تبدأ أعمال البناء في الربيع المقبل وتستمر نحو ثلاث سنوات.",
        ),
        "heading": "التمويل أخيرًا",
        "paragraph": "تغطي منحة نقل وطنية ما يزيد قليلًا على نصف الميزانية البالغة 412 مليون "
        "جنيه، ويأتي الباقي من قروض تُسدَّد من عائدات التذاكر.",
        "question": ("متى يصل الترام إلى الميناء؟", "إذا بدأ البناء في موعده، ففي صيف 2030."),
        "topics": ("النقل العام", "إدنبرة"),
    },
    "ko": {
        "publication": ("아침 브리핑", "무슨 일이 있었고 왜 중요한지, 10분 만에"),
        "title": "한국은행, 기준금리 연 3.25%로 동결… 가계부채 부담에 인하 미뤄",
        "lede": (
            "한국은행 금융통화위원회는 수요일 기준금리를 연 3.25%로 유지하기로 했다. "
            "가계부채 증가세와 환율 변동성을 함께 고려한 결정이라고 설명했다.",
            "시장에서는 내년 상반기 중 한 차례 인하 가능성을 점치고 있다.",
        ),
        "heading": "물가는 안정, 부채는 부담",
        "paragraph": "소비자물가 상승률은 2%대 초반으로 내려왔지만 수도권 주택 가격이 다시 "
        "오르면서 가계대출이 석 달째 늘고 있다.",
        "question": ("금리는 언제 내려가나?", "시장은 내년 상반기 중 한 차례 인하를 예상한다."),
        "topics": ("경제", "금리"),
    },
}


def written_in(language: str) -> Edition:
    """The sample edition with its publication and first briefing written in ``language``
    (``ar`` or ``ko``), in that language's emails."""
    words = _WRITTEN[language]
    name, tagline = words["publication"]
    sample = sample_edition(language=language, name=name, tagline=tagline)
    question, answer = words["question"]
    content = replace_content(
        sample.items[0].content,
        title=words["title"],
        lede=words["lede"],
        behind_the_headline=(
            Subsection(heading=words["heading"], paragraphs=(words["paragraph"],)),
        ),
        what_the_papers_say=(words["paragraph"],),
        how_we_got_here=(words["lede"][1],),
        questions=(Question(question=question, answer=(answer,)),),
        topics=tuple(Topic(name=topic) for topic in words["topics"]),
    )
    items = (replace(sample.items[0], content=content), *sample.items[1:])
    return replace(sample, items=items)
