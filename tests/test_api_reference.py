"""The API reference (appendix C) documents every public name of resntk, and nothing else.

Appendix C (``book/appendix-api.md``) is the module map; each public subpackage (``resntk.nets``,
``resntk.kernels``, ...; the code lives in private ``_*.py`` modules) has its own page, ``book/api/<name>.md``,
written by hand with one autodoc directive per name. These tests keep the pages in step with the code:

* every name in the ``__all__`` of every public subpackage is documented on the page, in the section of that
  subpackage, with the directive that fits its kind (function, class, exception, data);
* every name the page documents exists and is in its subpackage's ``__all__``;
* every public subpackage has a section with an ``automodule`` directive (its docstring), and nothing is documented
  twice;
* every name of ``resntk.__all__`` is a subpackage or a re-export of a name documented in a subpackage section.

A *public subpackage* is a module listed in ``resntk.__all__``.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
import types
from collections import Counter
from pathlib import Path

import yaml

import resntk

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "book" / "appendix-api.md"
API_PAGES = sorted((ROOT / "book" / "api").glob("*.md"))
DIRECTIVE = re.compile(r"^\.\. (auto(?:module|function|class|data|exception))::\s*(\S+)\s*$", re.M)
SECTION = re.compile(r"^# `(resntk(?:\.\w+)*)`", re.M)


def _page() -> str:
    """The subpackage pages, one after the other (each opens with ``# `resntk.<name>`: title``)."""
    return "\n".join(p.read_text() for p in API_PAGES)


def _sections() -> dict[str, str]:
    """Text of each subpackage page, keyed by the module name."""
    text = _page()
    starts = [(m.start(), m.group(1)) for m in SECTION.finditer(text)]
    return {name: text[start:end] for (start, name), (end, _) in zip(starts, starts[1:] + [(len(text), "")])}


def _documented() -> list[tuple[str, str, str]]:
    """``(section module, directive, target)`` for every autodoc directive of the page."""
    return [(module, kind, target) for module, body in _sections().items()
            for kind, target in DIRECTIVE.findall(body)]


def _public_subpackages() -> dict[str, list[str]]:
    """Each public subpackage, with its ``__all__``."""
    out = {}
    for name in resntk.__all__:
        obj = getattr(resntk, name)
        if isinstance(obj, types.ModuleType):
            assert hasattr(obj, "__all__"), f"{obj.__name__} has no __all__"
            out[obj.__name__] = list(obj.__all__)
    return out


def _kind(obj: object) -> str:
    if inspect.isclass(obj):
        return "autoexception" if issubclass(obj, BaseException) else "autoclass"
    if callable(obj):
        return "autofunction"
    return "autodata"


def test_subpackages_only_re_export_and_the_top_level_is_small():
    subpackages = _public_subpackages()
    assert set(subpackages) == {f"resntk.{n}" for n in ("nets", "kernels", "spectrum", "regression", "data",
                                                         "expansion", "book")}
    assert len(resntk.__all__) <= 17
    for module in ["resntk", *subpackages]:
        tree = ast.parse(Path(importlib.import_module(module).__file__).read_text())
        for node in tree.body:
            docstring = isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
            dunder = isinstance(node, ast.Assign) and all(isinstance(t, ast.Name) and t.id in ("__all__", "__version__")
                                                          for t in node.targets)
            assert docstring or dunder or isinstance(node, (ast.Import, ast.ImportFrom)), \
                f"{module}/__init__.py does more than re-export (line {node.lineno})"
    for name in resntk.__all__:
        obj = getattr(resntk, name)
        if name == "__version__" or isinstance(obj, types.ModuleType):
            continue
        homes = [m for m, names in subpackages.items()
                 if name in names and getattr(importlib.import_module(m), name) is obj]
        assert homes, f"resntk.{name} is not a re-export of a subpackage's public name"


def test_the_map_links_every_subpackage_page_and_the_toc_lists_them():
    text = PAGE.read_text()
    assert text.startswith("(app-api)=\n# Appendix C"), "the map opens with the label (app-api)= and its title"
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    (entry,) = [ch for part in toc["parts"] for ch in part["chapters"] if ch["file"] == "book/appendix-api"]
    listed = [s["file"] for s in entry["sections"]]
    for page in API_PAGES:
        name = page.stem
        assert f"](api/{name}.md)" in text, f"the module map does not link {page.name}"
        assert f"book/api/{name}" in listed, f"_toc.yml does not list book/api/{name}"
        assert page.read_text().startswith(f"(api-{name})=\n# `resntk.{name}`"), page.name
        assert DIRECTIVE.search(page.read_text()), f"{page.name} has no autodoc directive"
    assert len(API_PAGES) == len(_public_subpackages())


def test_every_public_name_is_documented_in_its_subpackage_section():
    documented = {(module, target) for module, _, target in _documented()}
    missing = [f"{module}.{name}" for module, names in _public_subpackages().items() for name in names
               if (module, f"{module}.{name}") not in documented]
    assert not missing, f"public names missing from {PAGE.name}: {sorted(missing)}"


def test_every_documented_name_exists_and_is_public():
    public = _public_subpackages()
    problems = []
    for section, kind, target in _documented():
        if kind == "automodule":
            if target != section or target not in public:
                problems.append(f"automodule {target} in the section of {section} is not a public subpackage")
            continue
        module, _, name = target.rpartition(".")
        if module != section:
            problems.append(f"{target} is documented in the section of {section}")
            continue
        if module not in public:
            problems.append(f"{target}: {module} is not a public subpackage")
            continue
        if name not in public[module]:
            problems.append(f"{target} is not in {module}.__all__")
            continue
        obj = getattr(importlib.import_module(module), name)
        if _kind(obj) != kind:
            problems.append(f"{target} is documented with {kind}, expected {_kind(obj)}")
    assert not problems, "\n".join(problems)


def test_every_public_subpackage_has_a_section_and_its_docstring():
    sections = _sections()
    automodules = {target for _, kind, target in _documented() if kind == "automodule"}
    for module in _public_subpackages():
        assert module in sections, f"{PAGE.name} has no section for {module}"
        assert module in automodules, f"the section of {module} lacks '.. automodule:: {module}'"


def test_nothing_is_documented_twice():
    counts = Counter(target for _, _, target in _documented())
    twice = sorted(t for t, c in counts.items() if c > 1)
    assert not twice, f"documented more than once: {twice}"


def test_book_config_loads_autodoc_and_napoleon():
    extensions = yaml.safe_load((ROOT / "_config.yml").read_text())["sphinx"]["extra_extensions"]
    assert "sphinx.ext.autodoc" in extensions, "the API page is generated by autodoc: load sphinx.ext.autodoc"
    assert "sphinx.ext.napoleon" in extensions, "the docstrings are NumPy style: load sphinx.ext.napoleon"
