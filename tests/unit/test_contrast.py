"""Text on the pages has at least WCAG AA contrast (4.5:1): white titles on every card colour a
README may choose, and the stage and notice colours on white."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from controller.web.pages import COLOURS

CSS = (Path(__file__).resolve().parents[2] / "controller" / "web" / "static" / "style.css").read_text()


def luminance(colour: str) -> float:
    channels = [int(colour.lstrip("#")[i:i + 2], 16) / 255 for i in (0, 2, 4)]
    r, g, b = (c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_the_measure_itself():
    assert round(contrast("#000000", "#ffffff"), 1) == 21.0 and contrast("#777777", "#ffffff") < 4.5


@pytest.mark.parametrize("name", sorted(COLOURS))
def test_white_card_text_reads_on_every_card_colour(name):
    assert contrast(COLOURS[name], "#ffffff") >= 4.5, f"white on {name} ({COLOURS[name]})"


@pytest.mark.parametrize("variable", ["ink", "muted", "ok", "busy", "rest", "bad"])
def test_text_colours_read_on_white(variable):
    colour = re.search(rf"--{variable}: (#[0-9a-f]{{6}})", CSS).group(1)
    assert contrast(colour, "#ffffff") >= 4.5, f"--{variable} ({colour}) on white"


@pytest.mark.parametrize("rule", [".notice", ".form-error"])
def test_notices_read(rule):
    found = re.search(rf"^{re.escape(rule)} {{ background: (#[0-9a-f]{{6}}); color: (#[0-9a-f]{{6}})", CSS, re.M)
    assert contrast(*found.groups()) >= 4.5
