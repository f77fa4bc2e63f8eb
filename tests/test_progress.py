from __future__ import annotations

from resntk.book import progress
from resntk._progress import quiet  # the private rule progress() follows


def test_progress_yields_every_item_and_is_quiet_under_pytest(capsys):
    assert quiet()
    assert list(progress(range(5), desc="x")) == [0, 1, 2, 3, 4]
    assert capsys.readouterr().out == ""


def test_progress_prints_one_summary_line_in_the_book_build(monkeypatch, capsys):
    monkeypatch.delenv("PYTEST_CURRENT_TEST", raising=False)
    monkeypatch.setenv("RESNTK_BOOK_BUILD", "1")
    assert list(progress(iter("abc"), desc="letters")) == ["a", "b", "c"]
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1 and out[0] == "letters: 3 steps done"


def test_progress_can_be_disabled(monkeypatch, capsys):
    monkeypatch.delenv("PYTEST_CURRENT_TEST", raising=False)
    monkeypatch.delenv("RESNTK_BOOK_BUILD", raising=False)
    assert list(progress([1, 2], enabled=False)) == [1, 2]
    assert capsys.readouterr().out == ""
