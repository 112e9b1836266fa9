"""Benchmark data sets for domain adaptation, as plain numpy arrays.

File-backed loaders (:func:`load_amazon`, :func:`load_mnist`, :func:`load_usps`,
:func:`load_mnist_usps_protocol`, :func:`load_mnistm_like`,
:func:`load_fashion_mnist`) read from a data directory (``data_dir=`` >
``$KERAS_TRANSFER_DATA`` > ``~/.keras_transfer/data``), check each file's
SHA-256 and download missing files from their public source (or from
``$KERAS_TRANSFER_DATA_URL``).  :func:`make_rotated_moons` and
:func:`load_digits_shift` need no file.  Importing this package does not import
Keras or any backend.

Example
-------
>>> from keras_transfer.datasets import make_rotated_moons
>>> Xs, ys, Xt, yt = make_rotated_moons(random_state=0)
>>> Xs.shape
(2000, 2)
"""

from ._files import (
    DATA_DIR_ENV,
    DATA_URL_ENV,
    DEFAULT_DATA_DIR,
    FileSpec,
    fetch,
    get_data_dir,
    list_files,
)
from ._image import resize_images
from ._loaders import (
    AMAZON_DOMAINS,
    load_amazon,
    load_fashion_mnist,
    load_mnist,
    load_mnist_usps_protocol,
    load_mnistm_like,
    load_usps,
)
from ._readers import DataFileError
from ._toy import load_digits_shift, make_rotated_moons
from .tfds import TFDS_PREFIX, is_tfds_name, load_tfds, parse_tfds_name  # noqa: F401

__all__ = [
    "AMAZON_DOMAINS",
    "DATA_DIR_ENV",
    "DATA_URL_ENV",
    "DEFAULT_DATA_DIR",
    "DataFileError",
    "FileSpec",
    "fetch",
    "get_data_dir",
    "list_files",
    "load_amazon",
    "load_digits_shift",
    "load_fashion_mnist",
    "load_mnist",
    "load_mnist_usps_protocol",
    "load_mnistm_like",
    "load_usps",
    "make_rotated_moons",
    "resize_images",
]
