"""The book's local Sphinx extension (``book/_ext/resntk_book.py``), checked on small real Sphinx builds.

* Appendix numbering: Sphinx numbers the enumerable nodes of all unnumbered pages with one running counter, so
  appendix B's first theorem used to read "Theorem 2". The extension numbers each ``Appendix X`` page on its own as
  X.1, X.2, ...
* Reference texts: a reference whose text names a number ("Theorem B.2", written so that the notebook edition
  reads well) must point to a target with that number; a stale text is a warning, so the strict build fails.
"""

from __future__ import annotations

import io
import re
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "book" / "_ext"))

from resntk_book import appendix_letter, renumber_appendix  # noqa: E402


def test_appendix_letter_reads_the_title():
    assert appendix_letter("Appendix A: arc-cosine functions") == "A"
    assert appendix_letter("  Appendix C: the resntk API reference") == "C"
    assert appendix_letter("Appendices") is None
    assert appendix_letter("Appendix: notation") is None
    assert appendix_letter("1. Residual networks") is None


def test_renumber_appendix_restarts_each_type_in_page_order():
    numbers = {"theorem": {"t-late": (7,), "t-early": (5,), "t-mid": (6,)}, "figure": {"f": (3,)}}
    renumber_appendix(numbers, "B")
    assert numbers == {"theorem": {"t-early": ("B", 1), "t-mid": ("B", 2), "t-late": ("B", 3)},
                       "figure": {"f": ("B", 1)}}
    assert ".".join(map(str, numbers["theorem"]["t-mid"])) == "B.2"


PAGE = """\
{title}
{underline}

.. prf:theorem:: First of {key}
   :label: thm-{key}-1

   Body.

.. prf:theorem:: Second of {key}
   :label: thm-{key}-2

   Body.
"""


def _build(tmp_path: Path, extra: str = "") -> tuple[Path, str]:
    sphinx = pytest.importorskip("sphinx.application")
    pytest.importorskip("sphinx_proof")
    src = tmp_path / "src"
    src.mkdir(parents=True)
    (src / "conf.py").write_text(textwrap.dedent(f"""\
        import sys
        sys.path.insert(0, {str(ROOT / 'book' / '_ext')!r})
        extensions = ["sphinx_proof", "resntk_book"]
        numfig = True
        """))
    (src / "index.rst").write_text(textwrap.dedent(f"""\
        Book
        ====

        See :prf:ref:`thm-b-2` and :prf:ref:`thm-notes-1`.
        {extra}

        .. toctree::

           notes
           appendix-a
           appendix-b
        """))
    for name, title, key in [("notes", "Notes", "notes"), ("appendix-a", "Appendix A: first", "a"),
                             ("appendix-b", "Appendix B: second", "b")]:
        (src / f"{name}.rst").write_text(PAGE.format(title=title, underline="=" * len(title), key=key))
    out = tmp_path / "html"
    warnings = io.StringIO()
    app = sphinx.Sphinx(str(src), str(src), str(out), str(tmp_path / "doctrees"), "html",
                        status=None, warning=warnings, freshenv=True)
    app.build()
    return out, warnings.getvalue()


def _numbers(html: str) -> list[str]:
    return re.findall(r"Theorem ([0-9A-Z.]+)", html)


def test_appendices_number_their_own_theorems_in_a_real_build(tmp_path):
    out, warnings = _build(tmp_path)
    assert "does not match" not in warnings
    # An ordinary unnumbered page keeps Sphinx's running counter; each appendix restarts with its letter.
    assert set(_numbers((out / "notes.html").read_text())) == {"1", "2"}
    assert set(_numbers((out / "appendix-a.html").read_text())) == {"A.1", "A.2"}
    assert set(_numbers((out / "appendix-b.html").read_text())) == {"B.1", "B.2"}
    # Cross-references from another page print the same numbers.
    index = (out / "index.html").read_text()
    assert "Theorem B.2" in index and "Theorem 1" in index


def test_a_reference_text_that_names_the_wrong_number_is_a_warning(tmp_path):
    right = ":prf:ref:`Theorem B.2 <thm-b-2>` and :prf:ref:`Theorem A.1 <thm-a-1>`"
    _, warnings = _build(tmp_path / "right", extra=right)
    assert "does not match" not in warnings
    wrong = ":prf:ref:`Theorem B.1 <thm-b-2>` and :prf:ref:`Lemma A.1 <thm-a-1>`"
    _, warnings = _build(tmp_path / "wrong", extra=wrong)
    assert "'Theorem B.1' does not match its target" in warnings and "Theorem B.2" in warnings
    assert "'Lemma A.1' does not match its target" in warnings
