"""The digest email (subject, HTML, text), its size budget and the generic template email."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from jinja2 import DictLoader, Environment, StrictUndefined

from newsletter.content.briefing import BriefingContent
from newsletter.errors import InvalidInputError
from newsletter.render import email as email_module
from newsletter.render import placeholders
from newsletter.render.context import edition_context
from newsletter.render.email import (
    RenderedMessage,
    TemplateError,
    render_email,
    render_template_email,
)
from tests.fixtures.editions import (
    hostile_edition,
    long_edition,
    make_content,
    make_edition,
    make_publication,
    sample_edition,
)
from tests.golden import assert_golden


class _Texts(HTMLParser):
    """Collects the visible text and the attribute values of an HTML page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.attributes: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes.extend(value or "" for _, value in attrs)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parse(html: str) -> _Texts:
    parser = _Texts()
    parser.feed(html)
    return parser


def test_golden_subject_html_and_text() -> None:
    """The fixed edition renders exactly as its golden subject, HTML and text files."""
    email = render_email(sample_edition())
    assert_golden("email/digest.subject.txt", email.subject + "\n")
    assert_golden("email/digest.html", email.html)
    assert_golden("email/digest.txt", email.text)


def test_html_holds_every_section_of_every_briefing() -> None:
    """Every briefing shows lede, sub-headings, papers, background, Q&A, topics and a link."""
    edition = sample_edition()
    html = render_email(edition).html
    for item in edition.items:
        c = item.content
        assert f'id="{c.slug}"' in html
        assert f"/2026-03-04/#{c.slug}" in html
        for sub in c.behind_the_headline:
            assert sub.heading in html
        for question in c.questions:
            assert question.question.replace("'", "&#39;") in html
        for topic in c.topics:
            assert f">{topic.name}</span>" in html
    assert "What the papers say" in html
    assert "How we got here" in html
    assert html.count("Read on the web") == 3


def test_head_has_lang_preheader_and_dark_mode_meta() -> None:
    """The HTML declares the language, dark-mode support and the lead's preheader."""
    email = render_email(sample_edition(language="fr"))
    assert '<html lang="fr"' in email.html
    assert 'name="color-scheme" content="light dark"' in email.html
    assert 'name="supported-color-schemes"' in email.html
    assert "prefers-color-scheme: dark" in email.html
    assert email.preheader.startswith("Councillors voted 38 to 21")
    assert email.preheader in email.html.replace("&amp;", "&")


def test_preheader_is_cut_at_a_word() -> None:
    """A long first lede gives a preheader of about 140 characters ending in an ellipsis."""
    content = make_content(lede=("word " * 80,))
    email = render_email(make_edition([content]))
    assert email.preheader.endswith("word…")
    assert len(email.preheader) <= 141


def test_footer_links_are_recipient_placeholders() -> None:
    """View, preferences and unsubscribe links are placeholders, intact in HTML and text."""
    email = render_email(sample_edition())
    for marker in (placeholders.VIEW_URL, placeholders.PREFERENCES_URL):
        assert f'href="{marker}"' in email.html
        assert f"\n{marker}\n" in email.text
    assert f'href="{placeholders.UNSUBSCRIBE_URL}"' in email.html
    assert "12 Harbour Street" in email.html
    assert "12 Harbour Street" in email.text


def test_logo_has_alt_text() -> None:
    """A publication logo is shown with the publication name as its alt text."""
    edition = sample_edition(logo_url="https://news.example.org/logo.png")
    html = render_email(edition).html
    assert 'alt="The Morning Brief"' in html
    assert 'src="https://news.example.org/logo.png"' in html


def test_subject_counts_the_other_briefings() -> None:
    """The subject names the lead story and how many more follow, on one line."""
    assert render_email(sample_edition()).subject.endswith("(+2 more)")
    single = render_email(make_edition([make_content()])).subject
    assert single == "The Morning Brief, 4 March: City council backs the harbour tram extension"


def test_hostile_text_is_escaped_and_intact() -> None:
    """Markup, ampersands, quotes and non-ASCII in briefings come out escaped yet readable."""
    email = render_email(hostile_edition())
    page = _parse(email.html)
    visible = "".join(page.text)
    assert "<script>" not in email.html
    assert "<img src=x" not in email.html
    assert "<i>&</i>" not in email.html
    assert '<script>alert("x")</script> Tom & Jerry\'s "café" in Zürich' in visible
    assert "Fish & chips <b>bold</b> cost 5 < 6 > 4" in visible
    assert "Ελλάδα & Co" in visible
    assert "script" not in page.tags
    assert "b" not in page.tags
    assert 'Brief <i>&</i> "Co"' in visible
    # Plain text is never escaped: the reader sees the characters themselves.
    assert '<script>alert("x")</script> Tom & Jerry\'s "café"' in email.text
    assert "&amp;" not in email.text
    assert "&lt;" not in email.text
    assert email.subject.startswith('Brief <i>&</i> "Co", 4 March: <script>')


def test_text_part_wraps_at_78_and_writes_links_out() -> None:
    """The text part wraps at 78 columns, underlines headings and writes out every link."""
    edition = long_edition(2)
    text = render_email(edition).text
    assert all(len(line) <= 78 for line in text.splitlines() if "://" not in line)
    assert "What the papers say\n-------------------" in text
    assert "https://news.example.org/p/morning-brief/2026-03-04/#long-briefing-2\n" in text
    assert not re.search(r"\n\n\n", text)
    assert "<p>" not in text


def test_q_and_a_reads_as_questions_and_answers() -> None:
    """Questions start with "Q:" and answers with "A:" and a hanging indent."""
    text = render_email(sample_edition()).text
    assert "Q: Will fares go up to pay for it?\n\nA: The council says" in text
    assert "\n   Critics say that assumption is optimistic.\n" in text


def test_small_editions_are_not_shrunk() -> None:
    """An edition under the budget keeps every briefing whole and says nothing."""
    email = render_email(sample_edition())
    assert email.shrunk == ()
    assert email.notes == ()


def test_thirty_long_briefings_shrink_from_the_end_to_fit() -> None:
    """Past the budget the last briefings become lede + link, fewest first, and say so."""
    edition = long_edition(30)
    email = render_email(edition)
    size = len(email.html.encode())
    assert size <= 100_000
    assert 0 < len(email.shrunk) < 30
    slugs = [item.content.slug for item in edition.items]
    assert list(email.shrunk) == slugs[-len(email.shrunk) :]
    assert email.notes == (f"{len(email.shrunk)} briefings shortened to fit the 100 KB budget",)
    assert f"the last {len(email.shrunk)} briefings are shortened" in email.html
    assert email.html.count("Shortened to fit this email") == len(email.shrunk)
    # Each briefing still has its title and link; one fewer shrunk would not fit.
    assert email.html.count("Read on the web") == 30
    keep_one_more = edition_context(edition, shrink_last=len(email.shrunk) - 1)
    assert len(keep_one_more["items"]) == 30
    bigger = render_email(edition, budget_bytes=size - 1)
    assert len(bigger.shrunk) > len(email.shrunk)
    # The text part has no size limit: it stays complete.
    assert email.text.count("What the papers say") == 30


def test_an_impossible_budget_leaves_out_all_but_the_first_and_says_so() -> None:
    """When even one shrunk briefing is too big, only the first stays and notes say the size."""
    email = render_email(sample_edition(), budget_bytes=1000)
    assert (len(email.shrunk), len(email.omitted)) == (1, 2)
    assert email.notes[0] == "1 briefing shortened to fit the 1 KB budget"
    assert email.notes[1].startswith("2 briefings left out of the email to fit the 1 KB budget")
    assert "over the 1 KB budget" in email.notes[2]
    one = render_email(make_edition([make_content()]), budget_bytes=1000)
    assert one.notes[0].startswith("1 briefing shortened")
    assert one.omitted == ()


GMAIL_CLIP = 102 * 1024


def _huge(number: int) -> BriefingContent:
    """A briefing at the paragraph limit many times over (20,000 bytes a paragraph)."""
    paragraph = ("Lorem ipsum dolor sit amet. " * 714)[:19_990] + " end."
    return make_content(
        f"huge-{number}",
        title=f"Huge briefing {number} " + "with a long title " * 14,
        lede=(paragraph,) * 5,
        what_the_papers_say=(paragraph,) * 3,
    )


@pytest.mark.parametrize("count", [1, 3, 120])
def test_the_email_fits_under_the_clip_whatever_the_briefings(count: int) -> None:
    """Huge ledes, many briefings: the HTML stays under Gmail's clip, footer and all.

    Before, a shrunk briefing kept its whole first lede paragraph (one 100k-character
    lede made a 157 KB email) and nothing bounded the number of briefings.
    """
    edition = make_edition([_huge(n) for n in range(count)])
    email = render_email(edition)
    size = len(email.html.encode())
    assert size <= 100_000 < GMAIL_CLIP
    visible = " ".join(" ".join(_parse(email.html).text).split())
    # The footer's postal address still closes the email.
    assert visible.endswith("Example News Ltd, 12 Harbour Street, Leith, Edinburgh EH6 6LA")
    assert placeholders.UNSUBSCRIBE_URL in email.html
    assert not [note for note in email.notes if "over the" in note]
    assert email.notes[0].endswith("shortened to fit the 100 KB budget")
    if count > 3:
        assert len(email.omitted) > 0
        assert email.omitted == tuple(f"huge-{n}" for n in range(count - len(email.omitted), count))
        assert f"Read all {count} in the full edition on the web" in email.html
        assert "left out of the email" in email.notes[1]
        assert f"huge-{count - 1}" not in email.html  # not even in the contents list


def test_a_shrunk_briefing_shows_a_bounded_summary() -> None:
    """Shrunk: the start of the lede, cut at a word to at most 300 characters, then a link."""
    edition = make_edition([_huge(0), _huge(1)])
    view = edition_context(edition, shrink_last=1)["items"][1]
    assert view.shrunk
    assert len(view.summary) <= 301
    assert view.summary.endswith("…")
    assert view.content.lede[0].startswith(view.summary[:-1])


def test_an_empty_edition_is_refused() -> None:
    """An edition without briefings cannot be rendered."""
    with pytest.raises(InvalidInputError, match="no briefings"):
        render_email(make_edition([]))


def test_bad_publication_look_is_refused() -> None:
    """A non-colour accent or a non-http logo is refused naming the field."""
    with pytest.raises(InvalidInputError, match="accent_color"):
        render_email(make_edition([make_content()], publication=make_publication(accent_color="x")))
    with pytest.raises(InvalidInputError, match="logo_url"):
        render_email(
            make_edition([make_content()], publication=make_publication(logo_url="javascript:x"))
        )


def test_template_email_renders_subject_html_and_text() -> None:
    """render_template_email renders a named email folder with the shared base."""
    context = edition_context(sample_edition())
    message = render_template_email("digest", context)
    assert isinstance(message, RenderedMessage)
    assert message.subject.startswith("The Morning Brief, 4 March")
    assert "<title>The Morning Brief, 4 March" in message.html
    assert placeholders.UNSUBSCRIBE_URL in message.text


def test_template_errors_name_the_template_and_line() -> None:
    """An undefined variable or a missing template raises TemplateError naming it."""
    with pytest.raises(TemplateError, match=r"email/digest/subject\.txt, line 2: .*undefined"):
        render_template_email("digest", {})
    with pytest.raises(TemplateError, match=r"email/nothing/subject\.txt does not exist"):
        render_template_email("nothing", {})


def test_errors_in_other_template_folders_are_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    """Syntax errors name the template and line; other errors at least the template."""
    env = Environment(
        loader=DictLoader(
            {
                "email/broken/subject.txt": "Hello\n{% if %}",
                "email/odd/subject.txt": "{{ 1 / none_given }}",
            }
        ),
        undefined=StrictUndefined,
    )
    monkeypatch.setattr(email_module, "environment", lambda **_: env)
    with pytest.raises(TemplateError, match=r"^email/broken/subject\.txt, line 2: "):
        render_template_email("broken", {})
    with pytest.raises(TemplateError, match=r"^email/odd/subject\.txt: "):
        render_template_email("odd", {})


def _confirmation_html(accent: str = "#1a56db") -> str:
    from tests.browser.documents import confirmation_email

    return confirmation_email(accent)


def test_every_email_has_one_h1() -> None:
    """Each email of the checked list has one h1: the digest's is its date (as on its web
    page), the confirmation's its request."""
    from tests.browser.documents import EMAILS

    for name, render in EMAILS.items():
        assert len(re.findall(r"<h1[ >]", render())) == 1, name
    digest = render_email(sample_edition()).html
    assert re.findall(r"<h1[^>]*>([^<]*)</h1>", digest) == ["Wednesday 4 March 2026"]
    confirmation = _confirmation_html()
    found = re.findall(r"<h1[^>]*>([^<]*)</h1>", confirmation)
    assert found == ["Please confirm your subscription"]


def test_the_hidden_preview_line_is_neither_pale_nor_tiny() -> None:
    """SpamAssassin scores hidden text by colour and font size (HTML_FONT_LOW_CONTRAST,
    FONT_INVIS_MSGID); the preview line is hidden by display and size instead."""
    html = render_email(sample_edition()).html
    [style] = re.findall(r'<div style="(display:none[^"]*)">Councillors voted', html)
    assert "color" not in style
    assert "font-size" not in style
    assert "mso-hide:all" in style


def test_a_light_accent_gets_dark_button_text() -> None:
    """The confirmation button's text reads on the publication's accent, light or dark."""
    from newsletter.render.context import brand

    assert brand(make_publication(accent_color="#8ab4f8"))["on_accent"] == "#1f2328"
    assert brand(make_publication(accent_color="#1a56db"))["on_accent"] == "#ffffff"
    button = r'<a href="%%confirm_url%%"[^>]* style="[^"]*;color:(#\w+);'
    assert re.findall(button, _confirmation_html("#8ab4f8"))[0] == "#1f2328"
    assert re.findall(button, _confirmation_html("#1a56db"))[0] == "#ffffff"
