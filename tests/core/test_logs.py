"""JSON logs carry the event key of the command a line is about."""

from __future__ import annotations

import json
import logging

import pytest

from hashcart.logs import configure, current_event


def test_json_lines_name_the_event(capsys: pytest.CaptureFixture[str]):
    root = logging.getLogger()
    saved, level = root.handlers[:], root.level
    try:
        configure("INFO", "json")
        token = current_event.set("twitter:1924465506158878979")
        logging.getLogger("hashcart.test").info("applied")
        current_event.reset(token)
        logging.getLogger("hashcart.test").warning("between commands")
    finally:
        root.handlers[:] = saved
        root.setLevel(level)
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert lines[0]["message"] == "applied" and lines[0]["level"] == "INFO"
    assert lines[0]["event_key"] == "twitter:1924465506158878979"
    assert lines[1]["event_key"] is None and lines[1]["logger"] == "hashcart.test"
