"""The README's examples work as written."""

from __future__ import annotations

import re
from pathlib import Path

from newsletter.briefings.parser import parse_text

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_opens_with_the_two_commands() -> None:
    """The first code block is the demo command and the test command."""
    first_block = re.search(r"```sh\n(.*?)```", README.read_text(), re.S)
    assert first_block is not None
    commands = [line.split("#")[0].strip() for line in first_block.group(1).splitlines()]
    assert commands == ["make demo", "make test"]


def test_readme_briefing_example_parses() -> None:
    """The example briefing in the README imports with the title and topics it shows."""
    block = re.search(r"```text\n(.*?)```", README.read_text(), re.S)
    assert block is not None
    content = parse_text(block.group(1), filename="README.md")
    assert content.title == "Night trains return to the Alps"
    assert content.topic_names == ("Night trains", "Switzerland")
    assert content.questions[0].question == "Will tickets cost more than flying?"
