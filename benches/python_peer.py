#!/usr/bin/env python3
"""The peer gatewatch is measured against: what one would write in Python without it.

OpenCV decodes the clip (cv2.VideoCapture), onnxruntime runs NanoDet-m 416 with the same
pre/post-processing as gatewatch (resize, mean/std, GFL decode, per-class NMS; see
tests/fixtures/make_nanodet_reference.py), one frame after another. Prints one JSON object:
end-to-end fps (decode + detect every frame) and inference-only fps (detect on frames decoded
beforehand), with the same ONNX Runtime thread count as the edge.

    benches/setup-peer.sh   # once: a venv with pinned onnxruntime, numpy, opencv
    benches/.venv/bin/python benches/python_peer.py --clip media/vtest.avi \
        --model models/nanodet-m-416.onnx --threads 2
"""
import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests/fixtures"))
from make_nanodet_reference import detect  # noqa: E402  (the same pre/post-processing)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clip", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--inference-frames", type=int, default=200)
    a = ap.parse_args()

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = a.threads
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(a.model, opts, providers=["CPUExecutionProvider"])

    cap = cv2.VideoCapture(a.clip)
    ok, first = cap.read()
    if not ok:
        sys.exit(f"cannot read {a.clip}")
    detect(sess, first)  # warm-up, not counted
    frames, t0, cpu0 = 1, time.perf_counter(), time.process_time()
    keep = [first]
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        detect(sess, frame)
        frames += 1
        if len(keep) < 64:
            keep.append(frame)
    e2e_s, e2e_cpu = time.perf_counter() - t0, time.process_time() - cpu0

    t0, cpu0 = time.perf_counter(), time.process_time()
    for i in range(a.inference_frames):
        detect(sess, keep[i % len(keep)])
    inf_s, inf_cpu = time.perf_counter() - t0, time.process_time() - cpu0

    print(json.dumps({
        "onnxruntime": ort.__version__,
        "opencv": cv2.__version__,
        "e2e": {"frames": frames, "seconds": e2e_s, "fps": frames / e2e_s, "cpu_pct": 100 * e2e_cpu / e2e_s},
        "inference_only": {"frames": a.inference_frames, "seconds": inf_s, "fps": a.inference_frames / inf_s,
                           "cpu_pct": 100 * inf_cpu / inf_s},
    }))


if __name__ == "__main__":
    main()
