"""keras_transfer writes nothing outside its cache directory and the user's paths.

A whole session (download into the cache from a local HTTP server, fit,
predict, save, pickle, load, diagnostics plot) runs in a fresh process whose
HOME, working directory and TMPDIR are empty folders. Afterwards the only new
files are in the cache directory (``KERAS_TRANSFER_DATA``) and the paths the
snippet named. Keras and matplotlib keep their own config files in
``KERAS_HOME`` and ``MPLCONFIGDIR``, which the test points elsewhere (they are
theirs, written on import, not ours: see docs/reliability.md).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("KERAS_TRANSFER_DATA", ROOT.parent / "shared" / "data"))
USPS = "digits/usps/usps.mat"

SESSION = """
import functools, http.server, pickle, sys, threading
from pathlib import Path

out, shared = Path(sys.argv[1]), sys.argv[2]
handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=shared)
handler.log_message = lambda *a: None
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
threading.Thread(target=server.serve_forever, daemon=True).start()
url = f"http://127.0.0.1:{server.server_address[1]}"

from keras_transfer import DomainAdaptiveClassifier
from keras_transfer.datasets import fetch, load_usps, make_rotated_moons
from keras_transfer.diagnostics import plot_training_curves

fetch("digits/usps/usps.mat", base_url=url)         # into KERAS_TRANSFER_DATA
X, y = load_usps("test")
Xs, ys, Xt, yt = make_rotated_moons(200, 200, random_state=0)
clf = DomainAdaptiveClassifier("dann", epochs=2, jit_compile=False, random_state=0)
clf.fit((Xs, ys), Xt)
clf.predict(Xt)
clf.save(out / "model.keras")
DomainAdaptiveClassifier.load(out / "model.keras").predict(Xt)
(out / "model.pkl").write_bytes(pickle.dumps(clf))
pickle.loads((out / "model.pkl").read_bytes()).predict_proba(Xt)
plot_training_curves(clf, path=out / "curves.png")
server.shutdown()
print("SESSION OK")
"""


def snapshot(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}


def test_a_session_writes_only_to_the_cache_and_named_paths(tmp_path):
    if not (SHARED / USPS).is_file():
        if os.environ.get("CI"):
            pytest.fail(f"{SHARED / USPS} is missing (CI must have ../shared/data)")
        pytest.skip("../shared/data is not here")
    dirs = {
        name: tmp_path / name
        for name in ("home", "work", "tmp", "cache", "out", "keras_home", "mpl")
    }
    for d in dirs.values():
        d.mkdir()
    env = {
        **os.environ,
        "HOME": str(dirs["home"]),
        "TMPDIR": str(dirs["tmp"]),
        "KERAS_TRANSFER_DATA": str(dirs["cache"]),
        "KERAS_HOME": str(dirs["keras_home"]),
        "MPLCONFIGDIR": str(dirs["mpl"]),
        "MPLBACKEND": "Agg",
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    env.pop("KERAS_TRANSFER_DATA_URL", None)
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(SESSION), str(dirs["out"]), str(SHARED)],
        cwd=dirs["work"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0 and "SESSION OK" in proc.stdout, proc.stderr[-3000:]

    assert snapshot(dirs["cache"]) == {USPS}
    assert snapshot(dirs["out"]) == {"model.keras", "model.pkl", "curves.png"}
    for name in ("home", "work", "tmp"):
        assert snapshot(dirs[name]) == set(), f"files written in {name}"
