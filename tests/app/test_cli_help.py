"""Every command and every option of `posturewatch` explains itself, in the project's own words."""

from __future__ import annotations

import argparse
import re

import pytest

from posturewatch.app import cli


def _subparser(name: str) -> argparse.ArgumentParser:
    parser = cli.build_parser([name])
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices[name]


@pytest.mark.parametrize("name", sorted(cli.COMMANDS))
def test_every_option_has_a_help_text(name: str) -> None:
    parser = _subparser(name)
    missing = [a.option_strings or [a.dest] for a in parser._actions
               if not isinstance(a, argparse._HelpAction) and not (a.help or "").strip()]
    assert missing == [], f"posturewatch {name}: options without help: {missing}"


@pytest.mark.parametrize("name", sorted(cli.COMMANDS))
def test_help_never_points_outside_the_repository(name: str) -> None:
    text = _subparser(name).format_help()
    assert not re.search(r"DESIGN|\.\./shared", text), text
