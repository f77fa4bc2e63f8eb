# resntk: two commands do all the set-up.
#   make book   build the executed HTML book into _build/html (strict: a failing cell or a warning fails it)
#   make test   run the test suite
#   make lab    open the chapters as notebooks in JupyterLab
# Both create .venv when it is missing and install what they need; a second run with nothing changed
# reinstalls nothing (the stamp files below record what is installed, keyed on pyproject.toml).

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PY     := $(BIN)/python
PIP    := $(PY) -m pip --disable-pip-version-check
# The CPU wheel of PyTorch. Any other torch requirement makes pip pull several GB of CUDA packages,
# so it is installed first, alone, and everything after it sees the requirement already satisfied.
TORCH  := torch==2.13.0
BOOK_FLAGS ?= -n -W --keep-going
PYTEST_ARGS ?=
# Test files run on this many processes (pytest-xdist, one file per process at a time).
PYTEST_JOBS ?= 2

.PHONY: all deps cache-guard execute book book-student pdf test lab assignments bench bench-quick clean clean-book help

all: test book

help:
	@echo "make book          build the executed HTML book (strict) into _build/html"
	@echo "make book-student  the same book with every solution hidden, into _build/student/_build/html"
	@echo "make pdf           the whole book as two PDFs (teacher and student editions) into _build/html"
	@echo "make test          run the test suite (pytest)"
	@echo "make lab           open the chapters as notebooks in JupyterLab (installs it into .venv)"
	@echo "make execute       run every chapter as a notebook into the execution cache (make book does it)"
	@echo "make assignments   build student and autograder versions of assignments/ into dist/"
	@echo "make bench         run every benchmark and print one table of ratios (~10 min)"
	@echo "make bench-quick   the same at small sizes, without the book builds (<1 min)"
	@echo "make clean         remove the build and the virtual environment"

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(VENV)/.stamp-torch: | $(PY)
	$(PIP) install --quiet "$(TORCH)"
	@touch $@

$(VENV)/.stamp-deps: pyproject.toml $(VENV)/.stamp-torch
	$(PIP) install --quiet -e ".[book,test,classroom,lab]"
	@$(PY) -c "import torch, sys; v = torch.__version__; sys.exit(0 if v.startswith('2.13.0') and '+cu' not in v else 'torch %s was replaced: expected the 2.13.0 CPU wheel' % v)"
	@touch $@

deps: $(VENV)/.stamp-deps

# Executed chapters are cached on their own code only: clear the cache when resntk itself changed.
cache-guard: $(VENV)/.stamp-deps
	@$(PY) book/_ext/cache_guard.py

# Every chapter runs as a plain notebook (jupytext + nbclient, in parallel) into the execution cache, with the values
# of its inline {eval} expressions; the book build then executes nothing.
execute: cache-guard
	$(PY) book/_ext/execute.py

# ---------------------------------------------------------------------------------------------------------
book: execute
	@$(PY) -c "import jupyter_book as jb, sys; sys.exit(0 if jb.__version__.startswith('1.') else 'jupyter-book %s found: the book needs 1.x (2.x ignores _config.yml/_toc.yml)' % jb.__version__)"
	@rm -rf _build/html/reports
	RESNTK_BOOK_BUILD=1 $(BIN)/jupyter-book build . $(BOOK_FLAGS) || { \
	  status=$$?; \
	  for f in _build/html/reports/*.log; do [ -f "$$f" ] && { echo "==== execution report: $$f"; cat "$$f"; }; done; \
	  exit $$status; }
	@test -f _build/html/index.html || { echo "_build/html/index.html is missing"; exit 1; }
	$(PY) book/_ext/check_site.py _build/html
	@echo "Book built: _build/html/index.html"

# The student edition: the same book with every exercise solution hidden (sphinx-exercise's hide_solutions),
# sharing the execution cache of the main build.
book-student: execute
	$(PY) book/_ext/student_edition.py _build/student/_config.yml
	RESNTK_BOOK_BUILD=1 $(BIN)/jupyter-book build . $(BOOK_FLAGS) --config _build/student/_config.yml \
	  --path-output _build/student
	@test -f _build/student/_build/html/index.html || { echo "student edition missing"; exit 1; }
	@echo "Student edition built: _build/student/_build/html/index.html"

# The whole book as one PDF per edition: the single-page HTML printed by Chromium, then checked with pdftotext
# (book/_ext/pdf.py says why this route). Needs Debian's chromium and poppler-utils; every page links the PDFs.
pdf: execute
	$(PY) book/_ext/pdf.py --out _build/html
	@if [ -d _build/student/_build/html ]; then cp _build/html/resntk-book-student.pdf _build/student/_build/html/; fi

# The chapters run first, in parallel, into the execution cache that the chapter, browser and student-edition
# tests then read (a failing chapter does not stop the tests: tests/test_chapters.py reports it); the test files
# then share the cores.
test: cache-guard
	-$(PY) book/_ext/execute.py
	MPLBACKEND=Agg $(PY) -m pytest -n $(PYTEST_JOBS) --dist loadfile $(PYTEST_ARGS)

# JupyterLab with jupytext and jupyterlab-myst: the chapters (book/*.md) open as notebooks, as on Binder.
$(VENV)/.stamp-lab: pyproject.toml lab-overrides.json $(VENV)/.stamp-torch
	$(PIP) install --quiet -e ".[lab,classroom]"
	@mkdir -p $(VENV)/etc/jupyter/labconfig
	@cp lab-overrides.json $(VENV)/etc/jupyter/labconfig/default_setting_overrides.json
	@touch $@

lab: $(VENV)/.stamp-lab
	$(BIN)/jupyter lab

# Student and autograder versions of every classroom assignment (otter-grader), into dist/.
assignments: $(VENV)/.stamp-deps
	$(BIN)/resntk-assign --out dist

# One table of ratios measured side by side (about 7.5 minutes on 2 cores: full sizes and the book builds);
# bench-quick: small sizes, no full book build (under a minute). Results and bounds: benchmarks/README.md.
bench: $(VENV)/.stamp-deps
	$(PY) benchmarks/run_all.py

bench-quick: $(VENV)/.stamp-deps
	$(PY) benchmarks/run_all.py --quick --no-book

clean-book:
	rm -rf _build

clean: clean-book
	rm -rf $(VENV) dist .pytest_cache .hypothesis
