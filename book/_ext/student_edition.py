"""Write the Jupyter Book configuration of the student edition: the book with every exercise solution hidden.

Usage: ``python book/_ext/student_edition.py OUT_CONFIG`` (the Makefile's ``book-student`` target runs it).
The student edition shares the main build's execution cache, hides solutions (sphinx-exercise's
``hide_solutions``), and offers no download, source, repository or edit button, which would hand out the chapter
sources with their solutions; no launch button either (a Binder session opens the repository, solutions included).
The Sphinx tag ``student`` is set, so that pages can say what differs (``{only} student``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def book_config(root: Path = ROOT) -> dict:
    """The book's configuration with absolute paths and the main build's execution cache.

    For builds that write elsewhere (``--path-output``) with ``--config`` pointing at a copy: the student edition
    and the single-page editions of the PDF (``pdf.py``).
    """
    config = yaml.safe_load((root / "_config.yml").read_text())
    config["execute"]["cache"] = os.fspath(root / "_build" / ".jupyter_cache")
    config["html"]["favicon"] = os.fspath(root / config["html"]["favicon"])
    config["bibtex_bibfiles"] = [os.fspath(root / f) for f in config["bibtex_bibfiles"]]
    sphinx = config["sphinx"]
    sphinx["local_extensions"] = {k: os.fspath(root / v) for k, v in sphinx["local_extensions"].items()}
    sphinx["config"]["html_static_path"] = [os.fspath(root / p) for p in sphinx["config"]["html_static_path"]]
    return config


def student_config(root: Path = ROOT) -> dict:
    config = book_config(root)
    config["title"] = f"{config['title']} (student edition)"
    config["html"]["use_edit_page_button"] = False
    config["html"]["use_repository_button"] = False
    config["html"]["use_issues_button"] = False
    sphinx = config["sphinx"]
    sphinx["config"]["hide_solutions"] = True
    sphinx["config"]["resntk_edition"] = "student"
    sphinx["config"]["html_copy_source"] = False
    sphinx["config"]["html_show_sourcelink"] = False
    sphinx["config"]["html_theme_options"].update(use_download_button=False, use_source_button=False)
    config["launch_buttons"]["binderhub_url"] = ""
    return config


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: student_edition.py OUT_CONFIG")
    out = Path(sys.argv[1])
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(yaml.safe_dump(student_config(), sort_keys=False))
