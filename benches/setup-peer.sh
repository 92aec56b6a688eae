#!/usr/bin/env bash
# A virtual environment for the Python peer (benches/python_peer.py) and the int8 model
# (models/quantize.py), pinned, from PyPI; then the int8 model, unless it is already there.
# Run after deploy/setup.sh (it needs models/nanodet-m-416.onnx and media/vtest.avi).
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/pip install -q --disable-pip-version-check onnxruntime==1.31.1 numpy==2.3.5 opencv-python-headless==5.0.0.93 onnx==1.23.2
echo "[peer] benches/.venv ready: $(.venv/bin/python -c 'import onnxruntime, cv2; print("onnxruntime", onnxruntime.__version__, "opencv", cv2.__version__)')"
if [ ! -f ../models/nanodet-m-416-int8.onnx ]; then
  echo "[peer] making models/nanodet-m-416-int8.onnx (about a minute)"
  .venv/bin/python ../models/quantize.py 2>&1 | grep '^\[quantize\]'
fi
