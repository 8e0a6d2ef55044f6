"""shared/ runs in the browser (Pyodide): it may import the standard library only."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import importlib, json, pathlib, sys
before = set(sys.modules)
sys.path.insert(0, sys.argv[1])
for path in sorted(pathlib.Path(sys.argv[1], "shared").glob("*.py")):
    importlib.import_module("shared." + path.stem)
new = sorted(m.split('.')[0] for m in set(sys.modules) - before)
print(json.dumps([m for m in new if m not in sys.stdlib_module_names and m != 'shared']))
"""


def test_shared_imports_with_the_standard_library_alone():
    # -I: isolated mode, no site-packages, so a third-party import would fail outright.
    out = subprocess.run(
        [sys.executable, "-I", "-c", PROBE, str(ROOT)], capture_output=True, text=True, check=True, timeout=60
    )
    assert json.loads(out.stdout) == []
