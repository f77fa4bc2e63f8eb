"""What makes a chapter read the same as a notebook (JupyterLab + jupyterlab-myst) and as a page of the built book.

A chapter is a MyST Markdown notebook. JupyterLab renders it with jupyterlab-myst, which sees nothing of the book's
``_config.yml``; the book is built by Jupyter Book (MyST-NB and Sphinx). Four conventions let one source serve both:

1. **Macros and numbering** come from one source, ``_config.yml`` (``sphinx.config.mathjax3_config.tex.macros``)
   and ``_toc.yml`` (the chapter's number). The first Markdown cell of every chapter starts with a front-matter
   block generated from them (``math:`` macros and ``numbering.enumerator``), which jupyterlab-myst reads; the book
   build strips the block (MathJax gets the macros from the configuration) and fails when it is out of date.
   ``python book/_ext/notebook_edition.py --write`` regenerates the blocks.
2. **Numbers in the prose** are MyST inline expressions, ``{eval}`expr```. jupyterlab-myst evaluates them when a
   cell runs; the book's executor (``book/_ext/execute.py``) evaluates them the same way and the build prints the
   stored values.
3. **Citations** are links to the bibliography, ``[Yu et al. (2026)](bibliography.md#yu2026branch)`` (textual) or
   ``([Yu et al., 2026](bibliography.md#yu2026branch); [...](...))`` (parenthetical): text in a notebook, and a
   real ``{cite:t}``/``{cite:p}`` citation in the book, which checks that the text matches the bibliography.
4. **Cross-references to other chapters** carry their text, e.g. ``{prf:ref}`Theorem 5.2 <label>``` or
   ``[Chapter 5](constant-scaling-degenerates.md)``; the build checks every number such a text claims.

This module holds the parts shared by the Sphinx extension, the executor and the tests.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

import yaml
from pybtex.richtext import Text

ROOT = Path(__file__).resolve().parents[2]
BOOK = ROOT / "book"

#: jupytext's header of a MyST Markdown notebook: ``---\njupytext: ...\n---``.
_HEADER = re.compile(r"\A---\n(?:.*\n)*?---\n", re.M)
_APPENDIX_TITLE = re.compile(r"^#\s+Appendix ([A-Z])\b", re.M)


# --------------------------------------------------------------------------------------------- the book's files
def toc_files(root: Path = ROOT) -> list[str]:
    """Every file of the table of contents, root first, as paths without suffix (``book/preface``)."""
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    return [toc["root"]] + [ch["file"] for part in toc["parts"] for ch in part["chapters"]]


def is_notebook(text: str) -> bool:
    """Whether a Markdown source is a MyST notebook (a jupytext header with a kernelspec)."""
    match = _HEADER.match(text)
    return bool(match) and "kernelspec:" in match.group(0)


def notebook_chapters(root: Path = ROOT) -> list[str]:
    """The table of contents' notebooks (files with code), as paths without suffix, in book order."""
    return [f for f in toc_files(root) if is_notebook((root / f"{f}.md").read_text())]


def chapter_enumerators(root: Path = ROOT) -> dict[str, str]:
    """The number that prefixes a chapter's numbered items: ``"4"`` for chapter 4, ``"A"`` for appendix A.

    Chapters of numbered parts are numbered in order across parts (Jupyter Book's multitoc numbering); appendices,
    in an unnumbered part, take the letter of their title ``# Appendix X...`` (the book's extension numbers their
    items X.1, X.2, ...). Unnumbered pages (the preface) are absent.
    """
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    numbers: dict[str, str] = {}
    count = 0
    for part in toc["parts"]:
        for ch in part["chapters"]:
            if part.get("numbered"):
                count += 1
                numbers[ch["file"]] = str(count)
            else:
                match = _APPENDIX_TITLE.search((root / f"{ch['file']}.md").read_text())
                if match:
                    numbers[ch["file"]] = match.group(1)
    return numbers


# ------------------------------------------------------------------------------------------------------- macros
@lru_cache(maxsize=4)
def book_macros(root: Path = ROOT) -> dict[str, str]:
    """The book's TeX macros as jupyterlab-myst wants them: ``{"\\\\norm": "\\\\left\\\\lVert #1 \\\\right\\\\rVert"}``.

    Read from ``_config.yml`` (MathJax form: a definition, or ``[definition, number of arguments]``).
    """
    config = yaml.safe_load((root / "_config.yml").read_text())
    macros = config["sphinx"]["config"]["mathjax3_config"]["tex"]["macros"]
    out = {}
    for name, value in macros.items():
        definition = value[0] if isinstance(value, list) else value
        out["\\" + name] = definition
    return out


def frontmatter_block(chapter: str, root: Path = ROOT) -> str:
    """The front-matter block that opens the first Markdown cell of ``chapter`` (``book/<name>``)."""
    lines = ["---",
             "# Generated from _config.yml and _toc.yml by book/_ext/notebook_edition.py --write: do not edit.",
             "# It gives JupyterLab (jupyterlab-myst) the book's macros and the chapter's numbering."]
    enumerator = chapter_enumerators(root).get(chapter)
    if enumerator is not None:
        lines += ["numbering:", f'  enumerator: "{enumerator}.%s"']
    lines.append("math:")
    for name, definition in book_macros(root).items():
        quoted = definition.replace("'", "''")
        lines.append(f"  '{name}': '{quoted}'")
    lines.append("---")
    return "\n".join(lines) + "\n"


def split_frontmatter(text: str) -> tuple[str, str | None, str]:
    """Split a notebook source into its jupytext header, its front-matter block (or None) and the rest."""
    match = _HEADER.match(text)
    if not match:
        raise ValueError("not a MyST notebook: no jupytext header")
    header, rest = match.group(0), text[match.end():]
    lead = re.match(r"\n*", rest).group(0)
    body = rest[len(lead):]
    block = re.match(r"---\n(?:.*\n)*?---\n", body)
    if not block:
        return header, None, rest
    return header + lead, block.group(0), body[block.end():]


def with_frontmatter(text: str, chapter: str, root: Path = ROOT) -> str:
    """``text`` with its front-matter block replaced by (or given) the generated one."""
    header, _, rest = split_frontmatter(text)
    if not header.endswith("\n\n"):
        header += "\n"
    return header + frontmatter_block(chapter, root) + ("" if rest.startswith("\n") else "\n") + rest


#: A macro use: a backslash and a name of letters.
_MACRO_USE = re.compile(r"\\([A-Za-z]+)")


def math_spans(markdown: str) -> Iterator[str]:
    """The TeX of every ``$...$``, ``$$...$$`` and ``{math}`` block in a Markdown text."""
    no_code = re.sub(r"```(?!\{math\}).*?```", "", markdown, flags=re.S)
    yield from re.findall(r"\$\$(.+?)\$\$", no_code, flags=re.S)
    yield from re.findall(r"(?<![\\$])\$(?!\$)(.+?)(?<![\\$])\$", re.sub(r"\$\$.+?\$\$", "", no_code, flags=re.S))
    yield from re.findall(r"```\{math\}.*?\n(.*?)```", markdown, flags=re.S)


def macros_used(markdown: str, root: Path = ROOT) -> set[str]:
    """The book macros (``\\norm``, ...) that ``markdown`` uses inside maths."""
    known = book_macros(root)
    return {"\\" + m for span in math_spans(markdown) for m in _MACRO_USE.findall(span) if "\\" + m in known}


# ------------------------------------------------------------------------------------------ inline expressions
_EVAL = re.compile(r"\{eval\}`([^`]+)`")


def inline_expressions(markdown: str) -> list[str]:
    """The expressions of the ``{eval}`...``` roles of a Markdown cell, in order."""
    return _EVAL.findall(markdown)


# ----------------------------------------------------------------------------------------------------- solutions
_GATED = re.compile(r"````\{solution-start\}.*?````\n(.*?)````\{solution-end\}", re.S)
_PLAIN = re.compile(r":::\{solution\}[^\n]*\n(?::[^\n]*\n)*(.*?)\n:::", re.S)


def solution_snippets(md: str) -> list[str]:
    """Distinctive lines of every exercise solution in a chapter's source (code lines and prose lines).

    Only lines that appear nowhere else in the chapter, longer than 25 characters, and free of maths, roles and
    links (which render differently) identify a solution: the student editions are checked to hold none of them.
    """
    bodies = _GATED.findall(md) + _PLAIN.findall(md)
    lines = [ln.strip() for body in bodies for ln in body.splitlines()]
    outside = _PLAIN.sub("", _GATED.sub("", md))
    elsewhere = {ln.strip() for ln in outside.splitlines()}
    return [ln for ln in lines if len(ln) > 25 and not ln.startswith(("```", ":::", "$$"))
            and "$" not in ln and "{" not in ln and "](" not in ln and ln not in elsewhere]


# ----------------------------------------------------------------------------------------------------- citations
_CITE_LINK = r"\[([^\[\]$]+)\]\(bibliography\.md#([\w:-]+)\)"
_CITE_GROUP = re.compile(r"\((" + _CITE_LINK + r"(?:;\s+" + _CITE_LINK + r")*)\)")
_CITE_ONE = re.compile(_CITE_LINK)


@lru_cache(maxsize=4)
def bibliography(root: Path = ROOT) -> dict[str, tuple[str, str]]:
    """``key -> (authors, year)`` of every entry of ``book/references.bib``, authors as cited in the text."""
    from pybtex.database import parse_file

    entries = parse_file(str(root / "book" / "references.bib"), bib_format="bibtex").entries
    out = {}
    for key, entry in entries.items():
        people = entry.persons.get("author") or entry.persons.get("editor") or []
        last = [Text.from_latex(" ".join(p.prelast_names + p.last_names)).render_as("text") for p in people]
        if len(last) >= 3:
            authors = f"{last[0]} et al."
        elif len(last) == 2:
            authors = f"{last[0]} and {last[1]}"
        else:
            authors = last[0] if last else key
        out[key.lower()] = (authors, entry.fields.get("year", ""))
    return out


def citation_text(key: str, kind: str, root: Path = ROOT) -> str:
    """How a citation of ``key`` reads: ``kind="t"`` gives ``Yu et al. (2026)``, ``kind="p"`` ``Yu et al., 2026``."""
    authors, year = bibliography(root)[key.lower()]
    return f"{authors} ({year})" if kind == "t" else f"{authors}, {year}"


def citations_to_roles(markdown: str, root: Path = ROOT) -> tuple[str, list[str]]:
    """Turn the citation links of ``markdown`` into ``{cite:t}``/``{cite:p}`` roles.

    Returns the new text and a list of problems (unknown keys, link texts that do not match the bibliography,
    citation links outside the two forms).
    """
    problems: list[str] = []

    def check(text: str, key: str, kind: str) -> None:
        if key.lower() not in bibliography(root):
            problems.append(f"citation of {key!r}: no such entry in book/references.bib")
        elif text != citation_text(key, kind, root):
            problems.append(f"citation of {key!r} reads {text!r}; the bibliography gives "
                            f"{citation_text(key, kind, root)!r}")

    def group(match: re.Match) -> str:
        keys = []
        for text, key in _CITE_ONE.findall(match.group(1)):
            check(text, key, "p")
            keys.append(key)
        return "{cite:p}`" + ",".join(keys) + "`"

    def single(match: re.Match) -> str:
        text, key = match.group(1), match.group(2)
        if not re.fullmatch(r".+ \(\d{4}[a-z]?\)", text):
            problems.append(f"citation link [{text}](bibliography.md#{key}) is neither 'Author (Year)' nor inside "
                            "a parenthesised group of 'Author, Year' links")
        check(text, key, "t")
        return "{cite:t}`" + key + "`"

    markdown = _CITE_GROUP.sub(group, markdown)
    markdown = _CITE_ONE.sub(single, markdown)
    return markdown, problems


def for_the_build(text: str, chapter: str, root: Path = ROOT) -> tuple[str, list[str]]:
    """The source the book build parses: front matter checked and blanked, citation links made citations.

    The block is replaced by as many empty lines, so that line numbers in build messages stay those of the file.
    """
    problems: list[str] = []
    if is_notebook(text):
        header, block, rest = split_frontmatter(text)
        expected = frontmatter_block(chapter, root)
        if block != expected:
            problems.append("the notebook front matter is missing or out of date: run "
                            "'.venv/bin/python book/_ext/notebook_edition.py --write'")
        if block is not None:
            text = header + "\n" * block.count("\n") + rest
    text, cite_problems = citations_to_roles(text, root)
    return text, problems + cite_problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Check or rewrite the chapters' generated front matter.")
    parser.add_argument("--write", action="store_true", help="rewrite the blocks that are out of date")
    args = parser.parse_args(argv)
    stale = []
    for chapter in notebook_chapters():
        path = ROOT / f"{chapter}.md"
        text = path.read_text()
        new = with_frontmatter(text, chapter)
        if new != text:
            stale.append(chapter)
            if args.write:
                path.write_text(new)
    verb = "rewrote" if args.write else "out of date"
    for chapter in stale:
        print(f"{verb}: {chapter}.md")
    return 0 if args.write or not stale else 1


if __name__ == "__main__":
    sys.exit(main())
