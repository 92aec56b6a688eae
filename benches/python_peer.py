#!/usr/bin/env python3
"""The peers gatewatch is measured against: what one would write in Python without it.

Both use OpenCV to decode the clip (cv2.VideoCapture) and onnxruntime to run the model with the
same pre/post-processing as gatewatch (letterbox, mean/std, GFL decode, NMS per class group; see
tests/fixtures/make_nanodet_reference.py). They differ in layout:

- ``simple``: one session with all the threads, decoding and detecting in turn, onnxruntime's
  defaults (spin-waiting on): the script one writes first.
- ``pipelined``: laid out like gatewatch's edge: a decode thread hands frames through a small
  queue to ``--workers`` sessions of ``--threads`` thread(s) each, on their own threads,
  spin-waiting off. onnxruntime releases the GIL while it runs, so the sessions overlap.

Prints one JSON object: end-to-end fps (decode + detect every frame, from the first frame
decoded to the last detection, after the sessions are loaded and warmed up) and inference-only
fps (detect on frames decoded beforehand, the same sessions).

    benches/setup-peer.sh   # once: a venv with pinned onnxruntime, numpy, opencv
    benches/.venv/bin/python benches/python_peer.py --clip media/vtest.avi \
        --model models/nanodet-m-416.onnx --layout pipelined --workers 2 --threads 1
"""
import argparse
import json
import queue
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np  # noqa: F401  (onnxruntime's inputs)
import onnxruntime as ort

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests/fixtures"))
from make_nanodet_reference import detect  # noqa: E402  (the same pre/post-processing)


def session(model: str, threads: int, spinning: bool) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    if not spinning:
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])


def run(label, work):
    t0, cpu0 = time.perf_counter(), time.process_time()
    frames = work()
    s, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    return {"frames": frames, "seconds": s, "fps": frames / s, "cpu_pct": 100 * cpu / s, "layout": label}


def simple(a, first, keep_frames):
    sess = session(a.model, a.threads * a.workers, spinning=True)
    detect(sess, first)  # warm-up, not counted
    cap = cv2.VideoCapture(a.clip)

    def e2e():
        n = 0
        while True:
            ok, frame = cap.read()
            if not ok:
                return n
            detect(sess, frame)
            n += 1
            if len(keep_frames) < 64:
                keep_frames.append(frame)

    def inference():
        for i in range(a.inference_frames):
            detect(sess, keep_frames[i % len(keep_frames)])
        return a.inference_frames

    out = {"e2e": run("simple", e2e)}
    out["inference_only"] = run("simple", inference)
    return out


def pipelined(a, first, keep_frames):
    sessions = [session(a.model, a.threads, spinning=False) for _ in range(a.workers)]
    for s in sessions:
        detect(s, first)  # warm-up, not counted
    cap = cv2.VideoCapture(a.clip)

    def e2e():
        frames = queue.Queue(maxsize=a.workers + 1)
        done = [0] * a.workers

        def decoder():
            while True:
                ok, frame = cap.read()
                if not ok:
                    break
                if len(keep_frames) < 64:
                    keep_frames.append(frame)
                frames.put(frame)
            for _ in sessions:
                frames.put(None)

        def worker(i):
            while (frame := frames.get()) is not None:
                detect(sessions[i], frame)
                done[i] += 1

        threads = [threading.Thread(target=decoder)] + [threading.Thread(target=worker, args=(i,)) for i in range(a.workers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return sum(done)

    out = {"e2e": run("pipelined", e2e)}

    def inference():
        def worker(i):
            for j in range(i, a.inference_frames, a.workers):
                detect(sessions[i], keep_frames[j % len(keep_frames)])

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(a.workers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return a.inference_frames

    out["inference_only"] = run("pipelined", inference)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clip", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--layout", choices=["simple", "pipelined"], default="simple")
    ap.add_argument("--workers", type=int, default=2, help="sessions (pipelined); simple uses one")
    ap.add_argument("--threads", type=int, default=1, help="threads per session; simple uses workers x threads")
    ap.add_argument("--inference-frames", type=int, default=200)
    a = ap.parse_args()

    cap = cv2.VideoCapture(a.clip)
    ok, first = cap.read()
    if not ok:
        sys.exit(f"cannot read {a.clip}")
    cap.release()
    keep_frames = []
    out = (simple if a.layout == "simple" else pipelined)(a, first, keep_frames)
    out.update({"onnxruntime": ort.__version__, "opencv": cv2.__version__})
    print(json.dumps(out))


if __name__ == "__main__":
    main()
