"""The API reference (book/appendix-api.md) documents every public name of resntk, and nothing else.

The page is written by hand, one autodoc directive per name, grouped by the module that defines the name. These
tests keep it in step with the code:

* every name in ``resntk.__all__`` and in the ``__all__`` of every public module is documented on the page, in
  the section of the module that defines it, with the directive that fits its kind (function, class, data);
* every name the page documents exists, is public (in its module's ``__all__``) and is defined in that module;
* every public module has a section with an ``automodule`` directive (its docstring), and nothing is documented
  twice.

A *public module* is one that defines a name of ``resntk.__all__``: when a new module is re-exported from
``resntk/__init__.py``, these tests fail until the page documents it.
"""

from __future__ import annotations

import importlib
import inspect
import re
from collections import Counter
from pathlib import Path

import pytest
import yaml

import resntk

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "book" / "appendix-api.md"
DIRECTIVE = re.compile(r"^\.\. (auto(?:module|function|class|data|exception))::\s*(\S+)\s*$", re.M)
SECTION = re.compile(r"^## `(resntk(?:\.\w+)*)`", re.M)

def _page() -> str:
    return PAGE.read_text()


def _sections() -> dict[str, str]:
    """Page text of each ``## `module` ...`` section, keyed by the module name."""
    text = _page()
    starts = [(m.start(), m.group(1)) for m in SECTION.finditer(text)]
    return {name: text[start:end] for (start, name), (end, _) in zip(starts, starts[1:] + [(len(text), "")])}


def _documented() -> list[tuple[str, str, str]]:
    """``(section module, directive, target)`` for every autodoc directive of the page."""
    return [(module, kind, target) for module, body in _sections().items()
            for kind, target in DIRECTIVE.findall(body)]


def _public_home(module: str) -> str:
    """The public module a name defined in ``module`` belongs to: private submodules (``_x``) are cut off."""
    parts = module.split(".")
    while len(parts) > 1 and parts[-1].startswith("_"):
        parts.pop()
    return ".".join(parts)


def _public_modules() -> dict[str, list[str]]:
    """Each public module: the subpackages in ``resntk.__all__`` and the modules that define its other names."""
    modules: dict[str, list[str]] = {}
    for name in resntk.__all__:
        if name == "__version__":
            continue
        obj = getattr(resntk, name)
        if inspect.ismodule(obj):
            modules[obj.__name__] = list(obj.__all__)
            continue
        module = getattr(obj, "__module__", None)
        assert module and module.startswith("resntk."), f"resntk.{name} has no defining resntk module"
        module = _public_home(module)
        mod = importlib.import_module(module)
        assert hasattr(mod, "__all__"), f"{module} defines public names but has no __all__"
        modules[module] = list(mod.__all__)
    return modules


def _kind(obj: object) -> str:
    if inspect.isclass(obj):
        return "autoexception" if issubclass(obj, BaseException) else "autoclass"
    if callable(obj):
        return "autofunction"
    return "autodata"


def test_page_exists_with_its_label():
    text = _page()
    assert text.startswith("(app-api)=\n# "), "the page must open with the label (app-api)= and its title"
    assert DIRECTIVE.search(text), "the page has no autodoc directive"


def test_every_public_name_is_documented_in_its_module_section():
    documented = {(module, target) for module, _, target in _documented()}
    missing = []
    for module, names in _public_modules().items():
        for name in names:
            if (module, f"{module}.{name}") not in documented:
                missing.append(f"{module}.{name}")
    for name in resntk.__all__:
        if name == "__version__" or inspect.ismodule(getattr(resntk, name)):
            continue
        module = _public_home(getattr(resntk, name).__module__)
        if (module, f"{module}.{name}") not in documented:
            missing.append(f"{module}.{name} (exported as resntk.{name})")
    assert not missing, f"public names missing from {PAGE.name}: {sorted(set(missing))}"


def test_every_documented_name_exists_and_is_public():
    public = _public_modules()
    problems = []
    for section, kind, target in _documented():
        if kind == "automodule":
            if target != section:
                problems.append(f"automodule {target} sits in the section of {section}")
            if target not in public:
                problems.append(f"automodule {target} is not a public module")
            continue
        module, _, name = target.rpartition(".")
        if module != section:
            problems.append(f"{target} is documented in the section of {section}")
            continue
        try:
            mod = importlib.import_module(module)
        except ImportError:
            problems.append(f"{target}: no module {module}")
            continue
        if not hasattr(mod, name):
            problems.append(f"{target} does not exist")
            continue
        if name not in getattr(mod, "__all__", ()):
            problems.append(f"{target} is not in {module}.__all__")
        obj = getattr(mod, name)
        defined_in = _public_home(getattr(obj, "__module__", module)) if _kind(obj) != "autodata" else module
        # A name defined in a private module may be re-exported by any public module below that module's home.
        if defined_in != module and not (module + ".").startswith(defined_in + "."):
            problems.append(f"{target} is defined in {defined_in}, not {module}")
        if _kind(obj) != kind:
            problems.append(f"{target} is documented with {kind}, expected {_kind(obj)}")
    assert not problems, "\n".join(problems)


def test_every_public_module_has_a_section_and_its_docstring():
    sections = _sections()
    automodules = {target for _, kind, target in _documented() if kind == "automodule"}
    for module in _public_modules():
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
