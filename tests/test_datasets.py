"""Tests of keras_transfer.datasets: loaders on the real files, integrity checks,
the download path (against a local HTTP server) and the toy sets.

The real files are read from ``<repo>/../shared/data``.  When that directory is
missing the tests that need it are skipped, except under ``CI=true`` where they
fail.  No test touches the network beyond 127.0.0.1.
"""

from __future__ import annotations

import functools
import gzip
import http.server
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from keras_transfer import datasets as D
from keras_transfer.datasets import _files, _readers

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"

USPS = "digits/usps/usps.mat"
T10K_LABELS = "digits/mnist/t10k-labels-idx1-ubyte.gz"
T10K_IMAGES = "digits/mnist/t10k-images-idx3-ubyte.gz"
KITCHEN_TRAIN = "amazon_reviews/kitchen_train.svmlight"


@pytest.fixture(scope="session")
def shared() -> Path:
    """The shared data directory; skip without it (fail under CI=true)."""
    if not (SHARED / USPS).is_file():
        msg = f"shared benchmark data not found at {SHARED}"
        if os.environ.get("CI", "").strip().lower() == "true":
            pytest.fail(msg + " (required when CI=true)")
        pytest.skip(msg)
    return SHARED


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch, tmp_path_factory):
    """Never read ~/.keras_transfer nor reach the internet from these tests."""
    monkeypatch.setenv(_files.DATA_DIR_ENV, str(tmp_path_factory.mktemp("nodata")))
    # port 9 (discard) on localhost: any accidental download fails fast
    monkeypatch.setenv(_files.DATA_URL_ENV, "http://127.0.0.1:9")


def _copy(shared: Path, name: str, data_dir: Path) -> Path:
    dest = data_dir / name
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(shared / name, dest)
    return dest


# --------------------------------------------------------------------- loaders

AMAZON_TEST_SIZES = {"books": 4465, "dvd": 3586, "electronics": 5681, "kitchen": 5945}


@pytest.mark.parametrize("domain", D.AMAZON_DOMAINS)
@pytest.mark.parametrize("split", ["train", "test"])
def test_load_amazon(shared, domain, split):
    X, y = D.load_amazon(domain, split, data_dir=shared)
    n = 2000 if split == "train" else AMAZON_TEST_SIZES[domain]
    assert X.format == "csr" and X.dtype == np.float32 and X.shape == (n, 5000)
    assert y.dtype == np.int64 and y.shape == (n,)
    assert set(np.unique(y).tolist()) == {0, 1}
    if split == "train":
        assert np.bincount(y).tolist() == [1000, 1000]
    assert X.data.min() > 0 and np.all(X.data == np.round(X.data))  # counts


def test_load_amazon_aliases_and_all(shared):
    Xk, yk = D.load_amazon("K", "all", data_dir=shared)
    Xtr, ytr = D.load_amazon("kitchen", "train", data_dir=shared)
    assert Xk.shape == (2000 + 5945, 5000)
    assert (Xk[:2000] != Xtr).nnz == 0 and np.array_equal(yk[:2000], ytr)
    with pytest.raises(ValueError, match="domain must be one of"):
        D.load_amazon("music", data_dir=shared)
    with pytest.raises(ValueError, match="split must be one of"):
        D.load_amazon("books", "valid", data_dir=shared)


@pytest.fixture(scope="module")
def mnist_t10k(shared):
    return D.load_mnist("t10k", data_dir=shared)


def test_load_mnist(shared, mnist_t10k):
    X, y = mnist_t10k
    assert X.shape == (10000, 28, 28) and X.dtype == np.float32
    assert y.dtype == np.int64 and y.min() == 0 and y.max() == 9
    assert X.min() == 0.0 and X.max() == 1.0
    X5, y5 = D.load_mnist("5k", data_dir=shared)
    assert X5.shape == (5000, 28, 28) and np.bincount(y5).tolist() == [500] * 10
    Xa, ya = D.load_mnist("all", data_dir=shared)
    assert Xa.shape == (15000, 28, 28)
    assert np.array_equal(Xa[:5000], X5) and np.array_equal(ya[5000:], y)
    with pytest.raises(ValueError, match="subset"):
        D.load_mnist("60k", data_dir=shared)


@pytest.fixture(scope="module")
def usps_train(shared):
    return D.load_usps("train", data_dir=shared)


def test_load_usps(shared, usps_train):
    X, y = usps_train
    assert X.shape == (7291, 16, 16) and X.dtype == np.float32
    assert 0.0 <= X.min() and X.max() <= 1.0
    assert y.dtype == np.int64 and sorted(np.unique(y).tolist()) == list(range(10))
    assert np.bincount(y)[0] == 1194  # the file's label 10 (digit 0)
    Xte, yte = D.load_usps("test", data_dir=shared)
    assert Xte.shape == (2007, 16, 16) and yte.shape == (2007,)
    Xa, _ = D.load_usps("all", data_dir=shared)
    assert np.array_equal(Xa[7291:], Xte)


@pytest.mark.parametrize(
    "direction, ns, nt",
    [("mnist_to_usps", 2000, 1800), ("usps_to_mnist", 1800, 2000)],
)
def test_load_mnist_usps_protocol(shared, direction, ns, nt):
    Xs, ys, Xt, yt = D.load_mnist_usps_protocol(direction, data_dir=shared)
    assert Xs.shape == (ns, 16, 16) and Xt.shape == (nt, 16, 16)
    assert Xs.dtype == Xt.dtype == np.float32
    for X, y in [(Xs, ys), (Xt, yt)]:
        assert 0.0 <= X.min() and X.max() <= 1.0
        assert y.dtype == np.int64 and sorted(np.unique(y).tolist()) == list(range(10))


def test_protocol_directions_are_swapped(shared):
    a = D.load_mnist_usps_protocol("mnist_to_usps", data_dir=shared)
    b = D.load_mnist_usps_protocol("usps_to_mnist", data_dir=shared)
    for u, v in zip(a, b[2:] + b[:2]):
        assert np.array_equal(u, v)
    with pytest.raises(ValueError, match="direction"):
        D.load_mnist_usps_protocol("mnist_to_mnistm", data_dir=shared)


def _class_means(X, y):
    return np.stack([X[y == k].mean(0).ravel() for k in range(10)])


def _mean_corr(A, B):
    A = A - A.mean(1, keepdims=True)
    B = B - B.mean(1, keepdims=True)
    return float(
        np.mean((A * B).sum(1) / np.linalg.norm(A, axis=1) / np.linalg.norm(B, axis=1))
    )


def _orientation_scores(X, y, ref):
    """Correlation of per-digit mean images with the reference, by orientation."""
    variants = {
        "as is": X,
        "transposed": X.transpose(0, 2, 1),
        "flipped": X[:, ::-1],
        "mirrored": X[:, :, ::-1],
    }
    return {k: _mean_corr(_class_means(v, y), ref) for k, v in variants.items()}


def test_digit_images_are_upright(shared, mnist_t10k, usps_train):
    """Mean digits match MNIST's own (idx, upright) digits only as returned."""
    X, y = mnist_t10k
    ref_frame = _class_means(D.resize_images(X, 16), y)  # whole 28x28 frame
    ref_box = _class_means(D.resize_images(X[:, 4:24, 4:24], 16), y)  # 20x20 box
    Xs, ys, Xt, yt = D.load_mnist_usps_protocol("mnist_to_usps", data_dir=shared)
    for (Xd, yd), ref in [
        ((Xs, ys), ref_frame),
        ((Xt, yt), ref_box),
        (usps_train, ref_box),
    ]:
        scores = _orientation_scores(Xd, yd, ref)
        best_other = max(v for k, v in scores.items() if k != "as is")
        assert scores["as is"] > 0.75 and scores["as is"] > best_other + 0.1, scores


def test_load_mnistm_like(shared, mnist_t10k):
    X, y = D.load_mnistm_like(data_dir=shared)
    assert X.shape == (10000, 28, 28, 3) and X.dtype == np.float32
    assert 0.0 <= X.min() and X.max() <= 1.0
    assert np.array_equal(y, mnist_t10k[1])  # same order as MNIST t10k


@pytest.mark.parametrize("split, n", [("train", 60000), ("test", 10000)])
def test_load_fashion_mnist(shared, split, n):
    X, y = D.load_fashion_mnist(split, data_dir=shared)
    assert X.shape == (n, 28, 28) and X.dtype == np.float32
    assert 0.0 <= X.min() and X.max() <= 1.0
    assert y.dtype == np.int64 and np.bincount(y).tolist() == [n // 10] * 10


def test_data_dir_from_env(shared, monkeypatch):
    monkeypatch.setenv(_files.DATA_DIR_ENV, str(shared))
    assert D.get_data_dir() == shared
    assert D.get_data_dir("/elsewhere") == Path("/elsewhere")
    assert D.fetch(USPS) == shared / USPS
    monkeypatch.delenv(_files.DATA_DIR_ENV)
    assert D.get_data_dir() == Path("~/.keras_transfer/data").expanduser()


def test_registry_matches_shared_readme(shared):
    """Every registered file is in the shared copy with the README's SHA-256."""
    readme = (shared / "README.md").read_text()
    for name in D.list_files():
        spec = _files.REGISTRY[name]
        assert f"{spec.sha256}  {name}" in readme
        assert (shared / name).stat().st_size == spec.size
        assert all(u.startswith("http") for u in spec.urls)
    assert _files.REGISTRY["digits/mnistm_like/mnistm_like_t10k.npz"].urls == ()


# -------------------------------------------------------------- file integrity


def test_fetch_unknown_name():
    with pytest.raises(ValueError, match="unknown data file"):
        D.fetch("digits/svhn.mat")


def test_checksum_mismatch(shared, tmp_path):
    dest = _copy(shared, USPS, tmp_path)
    data = bytearray(dest.read_bytes())
    data[len(data) // 2] ^= 0xFF
    dest.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="SHA-256 .*expected") as info:
        D.fetch(USPS, data_dir=tmp_path)
    msg = str(info.value)
    assert str(dest) in msg and "KERAS_TRANSFER_DATA" in msg and "delete it" in msg
    with pytest.raises(ValueError, match="SHA-256"):
        D.load_usps(data_dir=tmp_path)


def test_verification_cache_sees_changes(shared, tmp_path):
    dest = _copy(shared, T10K_LABELS, tmp_path)
    assert D.fetch(T10K_LABELS, data_dir=tmp_path) == dest
    assert D.fetch(T10K_LABELS, data_dir=tmp_path) == dest  # cached, still fine
    st = dest.stat()
    data = bytearray(dest.read_bytes())
    data[-1] ^= 0x01
    dest.write_bytes(bytes(data))
    os.utime(dest, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    with pytest.raises(ValueError, match="SHA-256"):
        D.fetch(T10K_LABELS, data_dir=tmp_path)


def test_truncated_gzip(shared, tmp_path):
    for name in (T10K_IMAGES, T10K_LABELS):
        dest = _copy(shared, name, tmp_path)
        dest.write_bytes(dest.read_bytes()[: dest.stat().st_size // 2])
    with pytest.raises(_readers.DataFileError, match="truncated gzip"):
        _readers.read_idx(tmp_path / T10K_LABELS)
    # with verification (the default) the checksum catches it first...
    with pytest.raises(ValueError, match="SHA-256"):
        D.load_mnist("t10k", data_dir=tmp_path)
    # ...and without it the reader does
    with pytest.raises(_readers.DataFileError, match="truncated"):
        D.load_mnist("t10k", data_dir=tmp_path, verify=False)


def test_idx_size_mismatch(tmp_path):
    path = tmp_path / "x-idx1-ubyte.gz"
    header = bytes([0, 0, 8, 1]) + (10).to_bytes(4, "big")
    with gzip.open(path, "wb") as f:
        f.write(header + bytes(9))  # one byte short
    with pytest.raises(_readers.DataFileError, match="IDX header says"):
        _readers.read_idx(path)
    with gzip.open(path, "wb") as f:
        f.write(b"\x00\x00\x0d\x01" + bytes(8))  # float IDX, not uint8
    with pytest.raises(_readers.DataFileError, match="not an IDX file"):
        _readers.read_idx(path)


def test_corrupt_csv(tmp_path):
    path = tmp_path / "bad.csv.gz"
    with gzip.open(path, "wt") as f:
        f.write("0,0,3\n1,2\n")
    with pytest.raises(_readers.DataFileError, match="bad CSV"):
        _readers.read_digits_csv(path, 2)
    with gzip.open(path, "wt") as f:
        f.write("0,0,12\n")
    with pytest.raises(_readers.DataFileError, match="labels outside"):
        _readers.read_digits_csv(path, 2)


@pytest.mark.parametrize(
    "name, load",
    [
        (USPS, lambda d: D.load_usps(data_dir=d, verify=False)),
        (
            "digits/mnist_usps_jda/MNIST_vs_USPS.mat",
            lambda d: D.load_mnist_usps_protocol(data_dir=d, verify=False),
        ),
        (
            "digits/mnistm_like/mnistm_like_t10k.npz",
            lambda d: D.load_mnistm_like(data_dir=d, verify=False),
        ),
        (KITCHEN_TRAIN, lambda d: D.load_amazon("kitchen", data_dir=d, verify=False)),
    ],
)
def test_truncated_files_give_clear_errors(shared, tmp_path, name, load):
    dest = tmp_path / name
    dest.parent.mkdir(parents=True)
    with open(shared / name, "rb") as f:
        dest.write_bytes(f.read(_files.REGISTRY[name].size * 2 // 3))
    with pytest.raises(ValueError, match="SHA-256"):
        D.fetch(name, data_dir=tmp_path)
    with pytest.raises(_readers.DataFileError, match=f"cannot read {dest}"):
        load(tmp_path)


def test_svmlight_cut_at_a_line_boundary(shared, tmp_path):
    dest = _copy(shared, KITCHEN_TRAIN, tmp_path)
    lines = dest.read_bytes().splitlines(keepends=True)
    dest.write_bytes(b"".join(lines[:-1]))
    with pytest.raises(_readers.DataFileError, match="1999 reviews, expected 2000"):
        D.load_amazon("kitchen", data_dir=tmp_path, verify=False)
    dest.write_bytes(b"".join(lines)[:-1])  # last line cut after a full pair
    with pytest.raises(_readers.DataFileError, match="no final newline"):
        D.load_amazon("kitchen", data_dir=tmp_path, verify=False)


def test_wrong_content_is_rejected(tmp_path):
    """A well-formed file with the wrong content never loads silently."""
    import scipy.io

    dest = tmp_path / USPS
    dest.parent.mkdir(parents=True)
    bad = {"traindata": np.full((256, 3), 2.0), "trainlabel": np.array([[1, 2, 3]])}
    scipy.io.savemat(dest, bad)
    with pytest.raises(_readers.DataFileError, match="values outside"):
        D.load_usps(data_dir=tmp_path, verify=False)
    bad = {"traindata": np.zeros((256, 3)), "trainlabel": np.array([[0, 2, 3]])}
    scipy.io.savemat(dest, bad)
    with pytest.raises(_readers.DataFileError, match="unexpected labels"):
        D.load_usps(data_dir=tmp_path, verify=False)
    npz = tmp_path / "digits/mnistm_like/mnistm_like_t10k.npz"
    npz.parent.mkdir(parents=True)
    np.savez(npz, x=np.zeros((2, 28, 28), np.uint8), y=np.zeros(2, np.uint8))
    with pytest.raises(_readers.DataFileError, match="expected uint8"):
        D.load_mnistm_like(data_dir=tmp_path, verify=False)


def test_missing_file_without_download(tmp_path, monkeypatch):
    monkeypatch.delenv(_files.DATA_URL_ENV)
    with pytest.raises(FileNotFoundError) as info:
        D.fetch(USPS, data_dir=tmp_path, download=False)
    msg = str(info.value)
    assert str(tmp_path / USPS) in msg
    assert "https://raw.githubusercontent.com/cselm/ELM/" in msg
    assert "KERAS_TRANSFER_DATA" in msg
    with pytest.raises(FileNotFoundError, match="usps.mat"):
        D.load_usps(data_dir=tmp_path, download=False)
    assert not (tmp_path / "digits").exists()


def test_mnistm_like_has_no_download(tmp_path, monkeypatch):
    monkeypatch.delenv(_files.DATA_URL_ENV)  # a mirror may hold it, nothing else
    with pytest.raises(FileNotFoundError, match="no public download"):
        D.load_mnistm_like(data_dir=tmp_path)


# -------------------------------------------------------------------- download


class _Handler(http.server.SimpleHTTPRequestHandler):
    requests: list[str] = []

    def log_message(self, *args):  # keep test output clean
        pass

    def do_GET(self):
        type(self).requests.append(self.path)
        super().do_GET()


@pytest.fixture
def serve():
    """serve(directory) -> base URL of a threaded HTTP server on 127.0.0.1."""
    servers = []

    def start(directory: Path) -> str:
        handler = functools.partial(_Handler, directory=str(directory))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        ).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    _Handler.requests = []
    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def test_download_from_local_server(shared, tmp_path, serve):
    url = serve(shared)
    for name in (USPS, KITCHEN_TRAIN, T10K_LABELS):
        path = D.fetch(name, data_dir=tmp_path, base_url=url)
        assert path == tmp_path / name
        assert path.read_bytes() == (shared / name).read_bytes()
    assert len(_Handler.requests) == 3
    D.fetch(USPS, data_dir=tmp_path, base_url=url)  # present: no new request
    assert len(_Handler.requests) == 3
    assert not list(tmp_path.rglob("*.part"))
    assert (tmp_path / USPS).stat().st_mode & 0o444 == 0o444
    X, y = D.load_usps("test", data_dir=tmp_path)
    assert X.shape == (2007, 16, 16)


def test_download_via_env_url_in_a_loader(shared, tmp_path, serve, monkeypatch):
    monkeypatch.setenv(_files.DATA_URL_ENV, serve(shared) + "/")
    monkeypatch.setenv(_files.DATA_DIR_ENV, str(tmp_path))
    Xs, ys, Xt, yt = D.load_mnist_usps_protocol("usps_to_mnist")
    assert Xs.shape == (1800, 16, 16)
    assert (tmp_path / "digits/mnist_usps_jda/USPS_vs_MNIST.mat").is_file()


def test_download_with_wrong_checksum(shared, tmp_path, serve):
    mirror = tmp_path / "mirror"
    bad = _copy(shared, T10K_LABELS, mirror)
    data = bytearray(bad.read_bytes())
    data[-1] ^= 0xFF
    bad.write_bytes(bytes(data))
    data_dir = tmp_path / "data"
    with pytest.raises(ValueError, match="SHA-256"):
        D.fetch(T10K_LABELS, data_dir=data_dir, base_url=serve(mirror))
    assert not (data_dir / T10K_LABELS).exists()
    assert not [p for p in data_dir.rglob("*") if p.is_file()]  # no partial file


def test_download_not_found(tmp_path, serve):
    url = serve(tmp_path / "empty_mirror")
    (tmp_path / "empty_mirror").mkdir()
    with pytest.raises(OSError, match="(?s)could not download .*404") as info:
        D.fetch(USPS, data_dir=tmp_path / "data", base_url=url)
    assert f"{url}/{USPS}" in str(info.value)
    assert not (tmp_path / "data" / USPS).exists()


def test_cli_verifies_files(shared, capsys):
    from keras_transfer.datasets.__main__ import main

    assert main(["--data-dir", str(shared), "--no-download", USPS]) == 0
    assert "ok" in capsys.readouterr().out
    assert main(["--list"]) == 0
    assert KITCHEN_TRAIN in capsys.readouterr().out


# -------------------------------------------------------------------- toy sets


def test_make_rotated_moons_deterministic():
    a = D.make_rotated_moons(300, 200, angle=30, random_state=0)
    b = D.make_rotated_moons(300, 200, angle=30, random_state=0)
    c = D.make_rotated_moons(300, 200, angle=30, random_state=1)
    for u, v in zip(a, b):
        assert np.array_equal(u, v)
    assert not np.array_equal(a[0], c[0])
    Xs, ys, Xt, yt = a
    assert Xs.shape == (300, 2) and Xt.shape == (200, 2) and Xs.dtype == np.float32
    assert ys.dtype == np.int64 and np.bincount(ys).tolist() == [150, 150]
    assert np.bincount(yt).tolist() == [100, 100]
    g = D.make_rotated_moons(10, 10, random_state=np.random.default_rng(3))
    assert g[0].shape == (10, 2)


def test_make_rotated_moons_geometry():
    angle = 50.0
    Xs, ys, Xt, yt = D.make_rotated_moons(
        500, 500, angle=angle, noise=0.0, random_state=2
    )
    a = np.deg2rad(-angle)
    back = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    centre = np.array([0.5, 0.25])
    Xb = (Xt.astype(np.float64) - centre) @ back.T + centre
    for X, y in [(Xs.astype(np.float64), ys), (Xb, yt)]:
        upper, lower = X[y == 0], X[y == 1]
        np.testing.assert_allclose(np.hypot(*upper.T), 1.0, atol=1e-5)
        assert upper[:, 1].min() > -1e-5
        np.testing.assert_allclose(
            np.hypot(lower[:, 0] - 1, lower[:, 1] - 0.5), 1.0, atol=1e-5
        )
        assert lower[:, 1].max() < 0.5 + 1e-5
    # the rotation actually moved the target away from the source law
    assert np.abs(Xt[yt == 0].mean(0) - Xs[ys == 0].mean(0)).max() > 0.2


def test_load_digits_shift():
    a = D.load_digits_shift(random_state=0)
    b = D.load_digits_shift(random_state=0)
    c = D.load_digits_shift(random_state=1)
    for u, v in zip(a, b):
        assert np.array_equal(u, v)
    assert not np.array_equal(a[0], c[0])
    Xs, ys, Xt, yt = a
    assert Xs.shape == (899, 8, 8) and Xt.shape == (898, 8, 8)
    assert Xs.dtype == Xt.dtype == np.float32 and ys.dtype == yt.dtype == np.int64
    for X in (Xs, Xt):
        assert 0.0 <= X.min() and X.max() <= 1.0
    assert abs(float(Xt.mean() - Xs.mean())) > 0.05  # there is a shift
    # identity transform: the target is the other half of the same digits
    Xs0, ys0, Xt0, yt0 = D.load_digits_shift(
        shift=0, contrast=1.0, brightness=0.0, noise=0.0, random_state=0
    )
    assert np.array_equal(Xs0, Xs)
    all_imgs = {x.tobytes() for x in np.concatenate([Xs0, Xt0])}
    assert len(all_imgs) >= 1700  # disjoint halves (sklearn has a few duplicates)
    shifted = D.load_digits_shift(
        shift=(1, 0), contrast=1.0, brightness=0.0, noise=0.0, random_state=0
    )[2]
    assert np.array_equal(shifted[:, 1:], Xt0[:, :-1])
    assert not shifted[:, 0].any()


# ---------------------------------------------------------------------- images


def test_resize_images():
    rng = np.random.default_rng(0)
    X = rng.random((4, 16, 16))
    assert np.allclose(D.resize_images(X, 16), X, atol=1e-6)  # identity
    const = np.full((2, 16, 16), 0.7)
    np.testing.assert_allclose(D.resize_images(const, (7, 30)), 0.7, rtol=1e-6)
    framed = D.resize_images(X, 20, pad=4)
    assert framed.shape == (4, 28, 28) and framed.dtype == np.float32
    assert not framed[:, :4].any() and not framed[:, :, -4:].any()
    assert 0.0 <= framed.min() and framed.max() <= 1.0
    colour = rng.random((3, 28, 28, 3))
    small = D.resize_images(colour, 14)
    assert small.shape == (3, 14, 14, 3)
    # 2x downscaling with antialiasing keeps the mean
    np.testing.assert_allclose(small.mean((1, 2)), colour.mean((1, 2)), atol=0.02)
    padded = D.resize_images(X, 16, pad=(1, 2), fill=1.0)
    assert padded.shape == (4, 18, 20) and padded[:, 0].min() == 1.0
    with pytest.raises(ValueError):
        D.resize_images(X[0], 8)
    with pytest.raises(ValueError):
        D.resize_images(X, (8, 8, 8))


# --------------------------------------------------------------- package hygiene


def test_import_does_not_load_backends():
    """The datasets package itself imports no keras/backend/sklearn.

    The parent package is stubbed so that only this subpackage is measured.
    """
    code = (
        "import sys, types\n"
        "pkg = types.ModuleType('keras_transfer')\n"
        f"pkg.__path__ = [{str(REPO / 'keras_transfer')!r}]\n"
        "sys.modules['keras_transfer'] = pkg\n"
        "import keras_transfer.datasets\n"
        "heavy = ('keras', 'tensorflow', 'torch', 'jax', 'sklearn', 'h5py')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


def test_public_loaders_have_examples():
    """Their examples run in tests/test_docs.py::test_docstring_examples."""
    assert D.load_fashion_mnist.__doc__ and ">>>" in D.load_fashion_mnist.__doc__
    for public in D.__all__:
        obj = getattr(D, public)
        if callable(obj) and not isinstance(obj, type):
            assert ">>>" in (obj.__doc__ or ""), public


def test_load_digits_shift_defaults_leave_room_above_chance():
    """The old defaults (a one-pixel shift on both axes) put every method at
    chance, a logistic regression included (0.10): the example looked broken."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_score

    for seed in (0, 1):
        Xs, ys, Xt, yt = D.load_digits_shift(random_state=seed)
        Xs, Xt = Xs.reshape(len(Xs), -1), Xt.reshape(len(Xt), -1)
        source_only = LogisticRegression(max_iter=2000).fit(Xs, ys).score(Xt, yt)
        assert source_only > 0.25, source_only  # chance: 0.10; measured 0.34-0.43
        # room for adaptation: the target itself is learnable (labels used
        # here only to measure that room)
        in_domain = cross_val_score(LogisticRegression(max_iter=2000), Xt, yt, cv=3)
        assert in_domain.mean() > source_only + 0.3, (in_domain, source_only)
