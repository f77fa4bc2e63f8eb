"""Tests of the project's own set-up: the Binder environment, the book's configuration and table of contents."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]

# PyPI name -> conda-forge name, where they differ.
CONDA_NAMES = {"torch": "pytorch-cpu", "matplotlib": "matplotlib-base"}


def _requirement_name(spec: str) -> str:
    return re.split(r"[<>=!~\[; ]", spec, maxsplit=1)[0].strip().lower()


def _environment_names() -> set[str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    names: set[str] = set()
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            names |= {_requirement_name(p) for p in dep.get("pip", [])}
        else:
            names.add(_requirement_name(dep))
    return names


def test_environment_names_every_runtime_dependency():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = {_requirement_name(s) for s in project["dependencies"]}
    assert runtime, "pyproject.toml lists no runtime dependency"
    env = _environment_names()
    missing = sorted(CONDA_NAMES.get(n, n) for n in runtime if CONDA_NAMES.get(n, n) not in env)
    assert not missing, f"environment.yml lacks runtime dependencies of pyproject.toml: {missing}"


def test_environment_is_conda_forge_only_with_cpu_torch():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert [c for c in env["channels"] if c != "nodefaults"] == ["conda-forge"]
    flat = [d for d in env["dependencies"] if isinstance(d, str)]
    assert any(d.startswith("pytorch-cpu") for d in flat)
    assert not any(re.match(r"pytorch(-gpu)?([<>=]|$)", d) for d in flat), "a non-CPU pytorch would pull CUDA"
    assert {"jupytext", "jupyterlab-myst"} <= _environment_names()


def test_jupyter_book_is_pinned_to_1x():
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    (jb,) = [s for s in extras["book"] if _requirement_name(s) == "jupyter-book"]
    assert ">=1.0.4.post1" in jb and "<2" in jb


def test_toc_lists_existing_chapters_under_book():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]] + [ch["file"] for part in toc["parts"] for ch in part["chapters"]]
    for f in files:
        assert f.startswith("book/"), f"{f} is outside book/"
        assert (ROOT / f"{f}.md").exists(), f"{f}.md is listed in _toc.yml but missing"
    chapters = sorted(p.relative_to(ROOT).with_suffix("").as_posix() for p in (ROOT / "book").glob("*.md"))
    assert sorted(files) == chapters, "every book/*.md must be in _toc.yml, and only those"


def test_config_has_strict_cached_execution_and_offline_mathjax():
    cfg = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert cfg["execute"]["execute_notebooks"] == "cache"
    assert cfg["execute"]["allow_errors"] is False
    assert cfg["execute"]["timeout"] > 0
    ext = cfg["sphinx"]["extra_extensions"]
    for e in ("sphinx_proof", "sphinx_exercise", "sphinx_togglebutton",
              "sphinx-mathjax-offline"):
        assert e in ext
    assert not cfg["sphinx"]["config"]["mathjax_path"].startswith("http"), "MathJax must ship with the site"
    assert set(cfg["parse"]["myst_enable_extensions"]) >= {"amsmath", "dollarmath", "colon_fence", "deflist",
                                                           "substitution"}


def test_every_cited_key_is_in_the_bibliography():
    bib = (ROOT / "book" / "references.bib").read_text()
    keys = set(re.findall(r"@\w+\{([^,]+),", bib))
    for key in ("yu2026branch", "lai2023residual", "cheng2026depth", "huang2020resnet", "belfer2021spectral",
                "tirer2021kernel"):
        assert key in keys
    for chapter in (ROOT / "book").glob("*.md"):
        for group in re.findall(r"\{cite(?::[pt])?\}`([^`]+)`", chapter.read_text()):
            for key in group.split(","):
                assert key.strip() in keys, f"{chapter.name} cites unknown key {key!r}"


def test_cache_guard_fingerprint_tracks_package_code(tmp_path):
    import sys

    sys.path.insert(0, str(ROOT / "book" / "_ext"))
    from cache_guard import fingerprint

    (tmp_path / "resntk").mkdir()
    (tmp_path / "pyproject.toml").write_text("[project]\nname='x'\n")
    (tmp_path / "resntk" / "a.py").write_text("x = 1\n")
    first = fingerprint(tmp_path)
    assert fingerprint(tmp_path) == first
    (tmp_path / "resntk" / "a.py").write_text("x = 2\n")
    assert fingerprint(tmp_path) != first
