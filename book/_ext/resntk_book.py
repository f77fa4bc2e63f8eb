"""Local Sphinx extension of the resntk book: three fixes to Sphinx and third-party extensions, seen in a real browser.

1. Jupyter Book 1.x always loads sphinx-thebe, which registers its inline configuration script twice; the second
   copy throws ``Identifier 'THEBE_JS_URL' has already been declared`` in every reader's console. Exact duplicate
   scripts are dropped from each page.
2. With ``hide_solutions = True`` (the student edition), sphinx-exercise drops a *gated* solution's
   ``solution-start`` node but leaves its content -- the solution's code cells -- and an orphan ``solution-end``
   node that no HTML writer knows. Here ``solution-start`` leaves a marker, and everything from the marker to the
   matching ``solution-end`` is removed.
3. The appendices sit in an unnumbered part, and Sphinx numbers the theorems, figures, exercises and equations of
   all unnumbered documents with one running counter: appendix B's first theorem was "Theorem 2". Each page whose
   title starts with ``Appendix X`` now numbers its own, as X.1, X.2, ... (sphinx-proof, sphinx-exercise and
   ``numref`` all print a number tuple joined by dots, so cross-references read the same).

And it builds the book from chapters written as notebooks first (``notebook_edition.py`` says how):

4. Before a chapter is parsed, its generated notebook front matter is checked and blanked, and its citation links
   become ``{cite:t}``/``{cite:p}`` citations (a link whose text disagrees with the bibliography is a warning).
5. ``{eval}`expr``` prints the value the book's executor (``execute.py``) stored in the execution cache when it ran
   the chapter as a notebook; a missing value is a warning.
6. Every internal reference whose text names a number ("Theorem 5.2", "Chapter 5", "Fig. 4.1") is checked
   against the number of its target, so the texts written for the notebook edition cannot go stale.
7. The ``.ipynb`` a reader downloads from a page is the executed notebook edition: outputs and inline values in.
8. Citations read author-year with round brackets, "Yu et al. (2026)" and "(Yu et al., 2026)".
"""

from __future__ import annotations

import os
import posixpath
import re
import sys
from pathlib import Path
from typing import Any

from docutils import nodes
from sphinx.transforms import SphinxTransform
from sphinx.util import logging

sys.path.insert(0, os.fspath(Path(__file__).resolve().parent))
import execute  # noqa: E402
import notebook_edition  # noqa: E402

logger = logging.getLogger(__name__)


def _drop_duplicate_scripts(app: Any, pagename: str, templatename: str, context: dict, doctree: Any) -> None:
    scripts = context.get("script_files")
    if not scripts:
        return
    seen: set[tuple] = set()
    unique = []
    for js in scripts:
        attributes = getattr(js, "attributes", {}) or {}
        # Inline scripts have filename None or '' depending on who registered them: the same script either way.
        filename = getattr(js, "filename", js) or ""
        key = (str(filename), tuple(sorted((k, str(v)) for k, v in attributes.items())))
        if key not in seen:
            seen.add(key)
            unique.append(js)
    scripts[:] = unique


_APPENDIX_TITLE = re.compile(r"Appendix ([A-Z])\b")


def appendix_letter(title: str) -> str | None:
    """The letter X of a page titled ``Appendix X...``, or None."""
    match = _APPENDIX_TITLE.match(title.strip())
    return match.group(1) if match else None


def renumber_appendix(fignumbers: dict[str, dict[str, tuple]], letter: str) -> None:
    """Renumber one page's enumerable nodes as (letter, 1), (letter, 2), ... per type, in their page order."""
    for numbers in fignumbers.values():
        for k, node_id in enumerate(sorted(numbers, key=numbers.__getitem__), start=1):
            numbers[node_id] = (letter, k)


def _number_appendices(app: Any, env: Any) -> list[str]:
    # Runs after Sphinx's TocTreeCollector (priority 500) has assigned the running numbers and chosen the pages to
    # rewrite by comparing them with the last build's. The renumbered pages are returned so that they are written
    # with their letters even when that comparison saw no change.
    renumbered = []
    for docname, title in env.titles.items():
        letter = appendix_letter(title.astext())
        if letter is None or env.toc_secnumbers.get(docname) or docname not in env.toc_fignumbers:
            continue
        renumber_appendix(env.toc_fignumbers[docname], letter)
        renumbered.append(docname)
    return renumbered


class hidden_solution_start(nodes.Element):
    """Marks where a hidden gated solution began; removed before writing."""


class RemoveHiddenGatedSolutions(SphinxTransform):
    """Remove the content of hidden gated solutions, up to and including their ``solution-end`` node."""

    default_priority = 9  # before sphinx-exercise merges gated solutions (priority 10)

    def apply(self, **kwargs: Any) -> None:
        from sphinx_exercise.nodes import solution_end_node

        for start in list(self.document.findall(hidden_solution_start)):
            parent = start.parent
            first = parent.index(start)
            last = next((k for k in range(first + 1, len(parent))
                         if isinstance(parent[k], solution_end_node)), None)
            if last is None:
                raise ValueError(f"solution-start without a matching solution-end near line {start.line}")
            for child in list(parent.children[first:last + 1]):
                parent.remove(child)


def _make_solution_start_directive():
    from sphinx_exercise.directive import SolutionStartDirective

    class SolutionStartHidingAware(SolutionStartDirective):
        def run(self):
            result = super().run()
            if self.env.app.config.hide_solutions:
                marker = hidden_solution_start()
                marker.line = self.lineno
                return [marker]
            return result

    return SolutionStartHidingAware


# ------------------------------------------------------------------------------ chapters written as notebooks
def _source_for_the_build(app: Any, docname: str, source: list[str]) -> None:
    text, problems = notebook_edition.for_the_build(source[0], docname, Path(app.srcdir))
    source[0] = text
    for problem in problems:
        logger.warning(problem, location=docname)


def _make_eval_role():
    from myst_nb.core.variables import VariableOutput, render_variable_outputs
    from myst_nb.ext.utils import RoleBase

    class StoredEvalRole(RoleBase):
        """``{eval}`expr```: the value stored by the book's executor for ``expr`` in this chapter."""

        def run(self):
            env = self.document.settings.env
            values = self.document.get("resntk_inline_values")
            if values is None:
                record = execute.cached_record(env.docname, getattr(env.config, "nb_execution_cache_path", None))
                values = record.data["user_expressions"] if record is not None else {}
                self.document["resntk_inline_values"] = values
            result = values.get(self.text)
            if result is None:
                msg = self.inliner.reporter.warning(
                    f"no stored value for {{eval}}`{self.text}`: execute the chapters first "
                    "(make execute, or .venv/bin/python book/_ext/execute.py)", line=self.line)
                return [], [msg]
            output = VariableOutput(data=result["data"], metadata={"strip_text_quotes": True},
                                    nb_renderer=self.document["nb_renderer"], vtype="eval")
            return render_variable_outputs([output], self.document, self.line, self.source, inline=True), []

    return StoredEvalRole()


_NUMBERED_TEXT = re.compile(r"^(Chapter|Appendix|Definition|Proposition|Theorem|Lemma|Corollary|Remark|Example|"
                            r"Assumption|Exercise|Fig\.|Figure|Table)\s+([A-Z]|\d+)((?:\.\d+)*)$")
_KINDS = {"Fig.": "figure", "Figure": "figure"}


def _expected_number(env: Any, target: str, anchor: str, word: str) -> str | None:
    """The number the target of a reference has, in the form a text would print it, or None if unknown."""
    if word in ("Chapter", "Appendix"):
        secnum = env.toc_secnumbers.get(target, {}).get("")
        if secnum:
            return ".".join(map(str, secnum))
        letter = appendix_letter(env.titles[target].astext()) if target in env.titles else None
        return letter
    kind = _KINDS.get(word, word.lower())
    number = env.toc_fignumbers.get(target, {}).get(kind, {}).get(anchor)
    return ".".join(map(str, number)) if number else None


def _check_numbered_references(app: Any, doctree: Any, docname: str) -> None:
    if app.builder.name != "html":  # the multi-page site; the single-page one (the PDF's) has the same texts
        return
    env = app.env
    here = app.builder.get_target_uri(docname)
    by_uri = {app.builder.get_target_uri(d): d for d in env.all_docs}
    for ref in doctree.findall(nodes.reference):
        if not ref.get("internal"):
            continue
        text = ref.astext().strip()
        match = _NUMBERED_TEXT.match(text)
        if not match:
            continue
        uri = ref.get("refuri")
        if uri is None:
            target, anchor = docname, ref.get("refid", "")
        else:
            path, _, anchor = uri.partition("#")
            target = by_uri.get(posixpath.normpath(posixpath.join(posixpath.dirname(here), path))) if path \
                else docname
        word, claimed = match.group(1), match.group(2) + match.group(3)
        expected = _expected_number(env, target, anchor, word) if target else None
        if expected != claimed:
            logger.warning(f"the reference text {text!r} does not match its target "
                           f"({target}#{anchor}: {word} {expected})", location=ref)


def _write_executed_notebooks(app: Any, exception: Exception | None) -> None:
    """Replace each page's downloadable .ipynb by the executed notebook edition of the chapter."""
    if exception is not None or app.builder.name != "html" or not app.config.html_copy_source:
        return
    import nbformat

    cache = getattr(app.config, "nb_execution_cache_path", None) or None
    for docname in sorted(app.env.found_docs):
        if not notebook_edition.is_notebook(Path(app.env.doc2path(docname)).read_text()):
            continue
        nb = execute.executed_notebook(docname, cache)
        if nb is None:
            logger.warning(f"{docname}: no executed notebook in the cache for the download", location=docname)
            continue
        out = Path(app.outdir) / "_sources" / f"{docname}.ipynb"
        out.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, out)


def _single_page_handlers(app: Any) -> None:
    """The single-page HTML builder (the PDF's source) translates every node the multi-page one does.

    Sphinx looks up node handlers by builder name first and by format only when the name has none; an extension
    that registers a ``singlehtml`` handler (sphinx-exercise does) thus hides every ``html`` one (sphinx-proof's
    definition boxes): copy the missing ones over.
    """
    handlers = app.registry.translation_handlers
    if app.builder.name == "singlehtml" and "html" in handlers:
        single = handlers.setdefault("singlehtml", {})
        for node, visitors in handlers["html"].items():
            single.setdefault(node, visitors)


def _register_round_citations() -> None:
    """Author-year citations with round brackets: "Yu et al. (2026)", "(Yu et al., 2026)"."""
    from dataclasses import dataclass, field

    import sphinxcontrib.bibtex.plugin
    from sphinxcontrib.bibtex.style.referencing import BracketStyle
    from sphinxcontrib.bibtex.style.referencing.author_year import AuthorYearReferenceStyle

    def round_brackets() -> BracketStyle:
        return BracketStyle(left="(", right=")")

    @dataclass
    class RoundAuthorYear(AuthorYearReferenceStyle):
        bracket_parenthetical: BracketStyle = field(default_factory=round_brackets)
        bracket_textual: BracketStyle = field(default_factory=round_brackets)
        bracket_author: BracketStyle = field(default_factory=round_brackets)
        bracket_label: BracketStyle = field(default_factory=round_brackets)
        bracket_year: BracketStyle = field(default_factory=round_brackets)

    sphinxcontrib.bibtex.plugin.register_plugin("sphinxcontrib.bibtex.style.referencing", "author_year_round",
                                                RoundAuthorYear)


def _attribute_comment_docs(app: Any, what: str, name: str, obj: Any, options: Any, lines: list[str]) -> None:
    """A constant re-exported by a subpackage keeps the ``#:`` comment of the private module that defines it.

    autodoc reads ``#:`` comments from the module it is pointed at (the subpackage's ``__init__``), finds none, and
    falls back to the docstring of the value's type (``dict``'s, which is not even valid reST).
    """
    if what != "data" or not name.startswith("resntk."):
        return
    from sphinx.pycode import ModuleAnalyzer

    attr = name.rpartition(".")[2]
    for modname, module in sorted(sys.modules.items()):
        if not modname.startswith("resntk.") or getattr(module, attr, None) is not obj:
            continue
        try:
            docs = ModuleAnalyzer.for_module(modname).find_attr_docs()
        except Exception:  # a module without source: keep looking
            continue
        if ("", attr) in docs:
            lines[:] = list(docs[("", attr)])
            return


def _register_author_year_bibliography() -> None:
    """The bibliography labelled author-year ("[Yu et al., 2026]"), sorted by author, like the citations."""
    import pybtex.plugin
    from pybtex.style.formatting.unsrt import Style as Unsrt
    from pybtex.style.labels import BaseLabelStyle

    class AuthorYearLabels(BaseLabelStyle):
        def format_labels(self, sorted_entries):
            seen: dict[str, int] = {}
            for entry in sorted_entries:
                people = entry.persons.get("author") or entry.persons.get("editor") or []
                last = [notebook_edition.Text.from_latex(" ".join(p.prelast_names + p.last_names)).render_as("text")
                        for p in people]
                authors = (f"{last[0]} et al." if len(last) >= 3 else " and ".join(last)) or entry.key
                label = f"{authors}, {entry.fields.get('year', '')}"
                seen[label] = seen.get(label, 0) + 1
                yield label if seen[label] == 1 else f"{label}{chr(ord('a') + seen[label] - 1)}"

    class AuthorYearStyle(Unsrt):
        default_label_style = "resntk_author_year"
        default_sorting_style = "author_year_title"

    pybtex.plugin.register_plugin("pybtex.style.labels", "resntk_author_year", AuthorYearLabels)
    pybtex.plugin.register_plugin("pybtex.style.formatting", "resntk_author_year", AuthorYearStyle)


#: The whole-book PDFs (``book/_ext/pdf.py`` writes them at the site's root): (file, label) per edition.
PDF_LINKS = {"teacher": ("resntk-book.pdf", "The book as a PDF (teacher edition: proofs and solutions)"),
             "student": ("resntk-book-student.pdf", "The book as a PDF (student edition: no solutions)")}


def _link_the_pdfs(app: Any, pagename: str, templatename: str, context: dict, doctree: Any) -> None:
    """Every page links the whole-book PDFs (the student edition only its own) in the sidebar's icon links."""
    editions = ["student"] if app.config.resntk_edition == "student" else ["teacher", "student"]
    links = list(context.get("theme_icon_links") or [])
    for edition in editions:
        name, label = PDF_LINKS[edition]
        links.append({"name": label, "url": context["pathto"](name, 1), "icon": "fa-solid fa-file-pdf",
                      "type": "fontawesome"})
    context["theme_icon_links"] = links


def _tag_edition(app: Any, config: Any) -> None:
    """``resntk_edition = "student"`` sets the tag ``student`` for ``{only}`` blocks (e.g. in the preface)."""
    if config.resntk_edition:
        app.tags.add(config.resntk_edition)


def setup(app: Any) -> dict:
    app.add_config_value("resntk_edition", "", "env")
    app.setup_extension("sphinx.ext.autodoc")
    app.connect("autodoc-process-docstring", _attribute_comment_docs)
    app.connect("config-inited", _tag_edition)
    _register_round_citations()
    _register_author_year_bibliography()
    app.connect("html-page-context", _link_the_pdfs)
    app.connect("source-read", _source_for_the_build)
    app.connect("builder-inited", _single_page_handlers)
    app.add_role("eval", _make_eval_role(), override=True)
    app.connect("doctree-resolved", _check_numbered_references)
    app.connect("build-finished", _write_executed_notebooks)
    app.connect("html-page-context", _drop_duplicate_scripts, priority=900)
    app.connect("env-get-updated", _number_appendices, priority=900)
    app.setup_extension("sphinx_exercise")
    app.add_node(hidden_solution_start)
    app.add_directive("solution-start", _make_solution_start_directive(), override=True)
    app.add_transform(RemoveHiddenGatedSolutions)
    return {"version": "1.2", "parallel_read_safe": True, "parallel_write_safe": True}
