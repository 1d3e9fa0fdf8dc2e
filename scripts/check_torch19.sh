#!/usr/bin/env bash
# Run the torch-only tests of the AFA blocks under the paper's PyTorch (1.9.0, Python 3.8) on CPU: the explicit
# attention path, parameter and token counts, shapes. The paper's mmcv/mmdet cannot be built here; this checks
# the part of the necks that depends on torch alone. Skipped (exit 0) when no Python 3.8 is installed.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv="$repo/.venv-torch19"
py=${AFA_PY38:-}
if [[ -z $py ]]; then
    root=$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")
    py=$(find "$root/versions" -maxdepth 3 -path '*/3.8*/bin/python3.8' 2>/dev/null | sort | tail -n 1)
fi
if [[ -z $py || ! -x $py ]]; then
    echo "[torch19] no Python 3.8 found (set AFA_PY38 to one): check skipped"
    exit 0
fi
if [[ ! -x $venv/bin/python ]]; then
    echo "[torch19] creating $venv with $("$py" --version) and torch 1.9.0 (an 830 MB wheel)"
    "$py" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check torch==1.9.0 "numpy==1.24.4" pytest==7.4.4 \
    pyyaml==6.0.1
cd "$repo"
"$venv/bin/python" -m pytest -q -p no:cacheprovider tests/test_layers.py tests/test_neck_cost.py
