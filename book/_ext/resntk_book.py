"""Local Sphinx extension of the resntk book: two fixes to third-party extensions, both seen in a real browser.

1. Jupyter Book 1.x always loads sphinx-thebe, which registers its inline configuration script twice; the second
   copy throws ``Identifier 'THEBE_JS_URL' has already been declared`` in every reader's console. Exact duplicate
   scripts are dropped from each page.
2. With ``hide_solutions = True`` (the student edition), sphinx-exercise drops a *gated* solution's
   ``solution-start`` node but leaves its content -- the solution's code cells -- and an orphan ``solution-end``
   node that no HTML writer knows. Here ``solution-start`` leaves a marker, and everything from the marker to the
   matching ``solution-end`` is removed.
"""

from __future__ import annotations

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
    app.setup_extension("sphinx_exercise")
    app.add_node(hidden_solution_start)
    app.add_directive("solution-start", _make_solution_start_directive(), override=True)
    app.add_transform(RemoveHiddenGatedSolutions)
    return {"version": "1.1", "parallel_read_safe": True, "parallel_write_safe": True}
