"""The MJML checker: known elements, allowed parents, known attributes, with template + line."""

from __future__ import annotations

import pytest
from jinja2 import DictLoader, Environment

from newsletter.render.mjml_check import TemplateError, check_mjml, check_template
from newsletter.templating import TEMPLATES_DIR, environment

GOOD = """<mjml lang="en">
  <mj-head>
    <mj-preview>{{ preheader }}</mj-preview>
    <mj-attributes><mj-all font-family="Georgia" /><mj-text padding="0" /></mj-attributes>
  </mj-head>
  <mj-body>
    {% for item in items %}
    <mj-section css-class="card">
      <mj-column>
        <mj-text><p>{{ item }}</p><a href="{{ url }}">x</a></mj-text>
        <mj-image src="{{ src }}" alt="Logo" />
      </mj-column>
    </mj-section>
    {% endfor %}
  </mj-body>
</mjml>
"""


def _error(source: str, env: Environment | None = None) -> str:
    with pytest.raises(TemplateError) as caught:
        check_mjml(source, template="email/x/body.mjml", env=env)
    return str(caught.value)


def test_a_valid_template_passes() -> None:
    """Known elements under allowed parents with known attributes pass."""
    check_mjml(GOOD, template="good.mjml")


def test_every_shipped_mjml_template_passes() -> None:
    """Every .mjml template the project ships passes the check."""
    names = sorted(str(path.relative_to(TEMPLATES_DIR)) for path in TEMPLATES_DIR.rglob("*.mjml"))
    assert "email/digest/body.mjml" in names
    for name in names:
        check_template(environment(), name)


def test_unknown_element_is_named_with_its_line() -> None:
    """A misspelt element fails with the template name and its line."""
    message = _error(GOOD.replace("<mj-image", "<mj-imag"))
    assert message.startswith("email/x/body.mjml, line 11:")
    assert "unknown element <mj-imag>" in message


def test_element_under_a_wrong_parent_fails() -> None:
    """A column directly inside the body is refused."""
    source = "<mjml>\n<mj-body>\n<mj-column></mj-column>\n</mj-body>\n</mjml>"
    message = _error(source)
    assert "line 3" in message
    assert "<mj-column> cannot be inside <mj-body>" in message


def test_unknown_attribute_fails() -> None:
    """An attribute MJML does not define is refused, even inside mj-attributes."""
    assert "has no attribute 'colour'" in _error(GOOD.replace('css-class="card"', 'colour="red"'))
    assert "line 4" in _error(GOOD.replace('<mj-text padding="0"', '<mj-text pading="0"'))


def test_html_in_the_preview_fails() -> None:
    """mj-preview takes plain text only (MRML rejects HTML there)."""
    assert "plain text only" in _error(GOOD.replace("{{ preheader }}", "<b>hi</b>"))


def test_unbalanced_tags_fail() -> None:
    """Unclosed and mismatched elements are reported."""
    assert "line 2: <mj-body> is never closed" in _error("<mjml>\n<mj-body>\n</mjml>"[:-8])
    assert "where </mj-body> (opened on line 2)" in _error("<mjml>\n<mj-body>\n</mjml>")
    assert "closes nothing" in _error("<mjml></mjml></mj-body>")
    assert "not closed before block" in _error(
        "<mjml><mj-body>{% block b %}<mj-section>{% endblock %}</mj-body></mjml>"
    )
    assert "without a block" in _error("<mjml>{% endblock %}</mjml>")
    assert "outside it" in _error("<mjml><mj-body>{% block b %}</mj-body>{% endblock %}</mjml>")


def test_html_outside_a_text_element_fails() -> None:
    """Plain HTML tags belong inside mj-text or mj-raw, not between sections."""
    assert "unknown element <p> inside <mj-body>" in _error(
        "<mjml><mj-body><p></p></mj-body></mjml>"
    )


def test_jinja_syntax_errors_name_the_line() -> None:
    """A template Jinja2 cannot tokenize fails with its line."""
    assert "line 2" in _error("<mjml>\n{{ 'open </mjml>")


def _family() -> Environment:
    return Environment(
        loader=DictLoader(
            {
                "base.mjml": (
                    "<mjml><mj-body>\n<mj-section><mj-column>\n{% block content %}{% endblock %}"
                    "\n</mj-column></mj-section>\n"
                    "<mj-section><mj-column><mj-text>{% block note %}{% endblock %}"
                    "</mj-text></mj-column></mj-section></mj-body></mjml>"
                ),
            }
        )
    )


def test_child_blocks_are_checked_against_the_parent_layout() -> None:
    """A child's block content must fit the element that holds the block in its base."""
    env = _family()
    good = (
        '{% extends "base.mjml" %}\nignored <junk></junk>\n'
        "{% block content %}\n<mj-text>hi</mj-text>\n"
        "{% endblock %}{% block note %}<p>any <b>html</b></p>{% endblock %}"
    )
    check_mjml(good, template="child.mjml", env=env)
    bad = (
        '{% extends "base.mjml" %}\n{% block content %}\n<mj-section></mj-section>\n{% endblock %}'
    )
    message = _error(bad, env)
    assert "line 3" in message
    assert "<mj-section> cannot be inside <mj-column>" in message
    assert "closes nothing" in _error(
        '{% extends "base.mjml" %}{% block note %}</mj-text>{% endblock %}', env
    )


def test_missing_base_template_fails() -> None:
    """Extending a template that does not exist is reported."""
    assert "does not exist" in _error('{% extends "nope.mjml" %}', _family())


def test_child_without_environment_skips_parent_checks() -> None:
    """Without an environment a child's blocks are still checked for element names."""
    check_mjml('{% extends "b" %}{% block c %}<mj-text></mj-text>{% endblock %}', template="c")
    assert "unknown element" in _error('{% extends "b" %}{% block c %}<mj-txt />{% endblock %}')


def test_raw_content_may_nest_its_own_tag_name() -> None:
    """Inside a raw element only its own closing tag at the same depth ends it."""
    check_mjml(
        "<mjml><mj-body><mj-raw><mj-raw>inner</mj-raw><div>x</div></mj-raw></mj-body></mjml>",
        template="nested.mjml",
    )


def test_unknown_default_setter_fails() -> None:
    """mj-attributes may only set defaults for known elements."""
    assert "unknown element <mj-txt> inside <mj-attributes>" in _error(
        GOOD.replace("<mj-text padding", "<mj-txt padding")
    )
