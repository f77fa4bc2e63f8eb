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
"""

from __future__ import annotations

import re
from typing import Any

from docutils import nodes
from sphinx.transforms import SphinxTransform


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


def setup(app: Any) -> dict:
    app.connect("html-page-context", _drop_duplicate_scripts, priority=900)
    app.connect("env-get-updated", _number_appendices, priority=900)
    app.setup_extension("sphinx_exercise")
    app.add_node(hidden_solution_start)
    app.add_directive("solution-start", _make_solution_start_directive(), override=True)
    app.add_transform(RemoveHiddenGatedSolutions)
    return {"version": "1.2", "parallel_read_safe": True, "parallel_write_safe": True}
