"""The architecture as a test: the import contracts of pyproject.toml, and a light ``import brainkit``.

The contracts (``[tool.importlinter]``) say which part of the package may import which: the layer
order (no cycles between the parts), the library never importing the command line or streamlit,
explanations never reading a corpus, exports never running a model. ``lint-imports`` checks them
over the whole import graph, imports inside functions included.
"""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_hold():
    lint = Path(sys.executable).with_name("lint-imports")
    if not lint.exists():
        pytest.fail(f"{lint} is missing: `make test` installs import-linter (requirements-test.txt)")
    # --no-cache: nothing written into the working tree
    res = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    report = res.stdout + res.stderr
    assert res.returncode == 0, report[report.find("Broken contracts"):] or report
    assert "0 broken" in report


def test_import_brainkit_stays_light():
    """``import brainkit`` loads neither torch, streamlit nor mne (STYLE.md: modules load when used)."""
    code = ("import sys, brainkit; "
            "print(' '.join(m for m in ('torch', 'streamlit', 'mne') if m in sys.modules))")
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "", f"import brainkit loaded: {res.stdout.strip()}"
