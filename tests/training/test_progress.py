"""Progress reporting: plain lines off a terminal, bars on one, JSON for collectors, nothing when off."""

import io
import json

import pytest

from vecclf.training import progress


class Terminal(io.StringIO):
    """A text stream that says it is a terminal."""

    def isatty(self):
        return True


@pytest.fixture
def report():
    """Yield a function that installs a reporter on a fresh stream and returns the stream; restore afterwards."""
    saved = []

    def install(mode, stream=None, interval=15.0):
        stream = stream if stream is not None else io.StringIO()
        saved.append(progress.configure(stream, mode, interval))
        return stream

    yield install
    progress.restore(saved[0])


def test_lines_mode_writes_one_plain_line_per_step(report):
    """Off a terminal each step is one line with the elapsed time, and no carriage returns."""
    out = report("auto")
    progress.step("training sentiment", rows=3)
    progress.step("training topics")
    lines = out.getvalue().splitlines()
    assert progress.mode() == "lines"
    assert len(lines) == 2 and "\r" not in out.getvalue()
    assert lines[0].startswith("vecclf [") and lines[0].endswith("s] training sentiment rows=3")


def test_bar_off_a_terminal_prints_its_start_and_a_line_per_interval(report):
    """A bar writes its size when it starts and, at most once per interval, how far it got."""
    out = report("lines", interval=0.0)
    with progress.bar(4, "embedding", unit="texts") as bar:
        bar.update(2)
    lines = out.getvalue().splitlines()
    assert lines[0].endswith("embedding (4 texts)")
    assert lines[1].endswith("embedding: 50%, 2 of 4 texts")


def test_terminal_gets_a_bar_that_goes_away(report):
    """On a terminal a bar is drawn with carriage returns; steps still print as whole lines."""
    out = report("auto", Terminal())
    assert progress.mode() == "bars"
    assert list(progress.track(range(3), "scoring")) == [0, 1, 2]
    progress.step("done scoring")
    text = out.getvalue()
    assert "\r" in text and "scoring" in text
    assert text.rstrip().endswith("done scoring")


def test_timed_step_reports_start_end_and_fields(report):
    """A timed step prints when it starts and when it ends, with the fields the block added and its seconds."""
    out = report("json")
    with progress.timed("load", model="m") as info:
        info["rows"] = 7
    first, last = (json.loads(line) for line in out.getvalue().splitlines())
    assert first["message"] == "load" and first["model"] == "m"
    assert last["message"] == "load: done" and last["rows"] == 7 and last["seconds"] >= 0
    assert {"ts", "elapsed"} <= set(last)


def test_timed_step_reports_a_failure_and_reraises(report):
    """A failing step says so, with the error, and the exception goes on."""
    out = report("lines")
    with pytest.raises(KeyError):
        with progress.timed("load"):
            raise KeyError("x")
    assert "load: failed" in out.getvalue().splitlines()[-1] and "error='x'" in out.getvalue()


def test_prefixed_block_names_its_part_and_ends_with_it(report):
    """Inside progress.prefixed every line and bar carries the prefix (nested ones too); after it, none does."""
    out = report("lines", interval=0.0)
    with progress.prefixed("outer fold 1 of 3"):
        progress.step("auto: fold 1 of 5 done")
        with progress.prefixed("part"), progress.bar(2, "fitting", unit="rows") as bar:
            bar.update(2)
        assert progress.mode() == "lines"
    progress.step("fitting the model")
    lines = [line.split("] ", 1)[1] for line in out.getvalue().splitlines()]
    assert lines[0] == "outer fold 1 of 3: auto: fold 1 of 5 done"
    assert lines[1] == "outer fold 1 of 3: part: fitting (2 rows)"
    assert lines[-1] == "fitting the model"


def test_off_prints_nothing(report):
    """With progress off, steps, bars and timed steps write nothing."""
    out = report("off")
    progress.step("x")
    with progress.timed("y"), progress.bar(2, "z") as bar:
        bar.update(2)
    assert out.getvalue() == ""


@pytest.mark.parametrize("mode", ["loud", "", "BARS"])
def test_unknown_modes_are_refused(mode):
    """A mode outside MODES is a ValueError naming the choices."""
    with pytest.raises(ValueError, match="auto, bars, lines, json, off"):
        progress.configure(io.StringIO(), mode)
