#!/usr/bin/env bash
# A virtual environment for the Python peer (benches/python_peer.py), pinned, from PyPI.
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/pip install -q --disable-pip-version-check onnxruntime==1.31.1 numpy==2.3.5 opencv-python-headless==5.0.0.93
echo "[peer] benches/.venv ready: $(.venv/bin/python -c 'import onnxruntime, cv2; print("onnxruntime", onnxruntime.__version__, "opencv", cv2.__version__)')"
