"""Image helpers in plain numpy (no Keras, no PIL)."""

from __future__ import annotations

import numpy as np

__all__ = ["resize_images"]


def _pair(v: int | tuple[int, int], what: str) -> tuple[int, int]:
    if isinstance(v, int | np.integer):
        return int(v), int(v)
    try:
        a, b = v
    except (TypeError, ValueError):
        raise ValueError(
            f"{what} must be an int or a pair of ints, got {v!r}"
        ) from None
    return int(a), int(b)


def _weights(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) antialiased linear-interpolation matrix (half-pixel centres)."""
    scale = n_in / n_out
    support = max(scale, 1.0)  # widen the triangle filter when shrinking
    centres = (np.arange(n_out) + 0.5) * scale - 0.5
    w = 1.0 - np.abs(np.arange(n_in)[None, :] - centres[:, None]) / support
    w = np.maximum(w, 0.0)
    return w / w.sum(axis=1, keepdims=True)


def resize_images(
    images: np.ndarray,
    size: int | tuple[int, int],
    pad: int | tuple[int, int] = 0,
    *,
    fill: float = 0.0,
) -> np.ndarray:
    """Resize a batch of images, then pad them with a constant border.

    Resizing is bilinear with antialiasing when shrinking (each output pixel
    averages the input pixels under a triangle filter), done with two small
    matrix products, so it is exact for ``size`` equal to the input size.

    Parameters
    ----------
    images : array (n, H, W) or (n, H, W, C).
    size : output height and width before padding, an int or (h, w).
    pad : pixels added on each side, an int or (vertical, horizontal).
    fill : value of the padding.

    Returns
    -------
    float32 array (n, h + 2 * pad_v, w + 2 * pad_h[, C]).

    Example
    -------
    USPS digits fill their 16x16 frame while MNIST digits sit in a 20x20 box
    centred in 28x28; frame USPS the MNIST way:

    >>> import numpy as np
    >>> from keras_transfer.datasets import resize_images
    >>> usps_like = np.random.default_rng(0).random((5, 16, 16))
    >>> resize_images(usps_like, 20, pad=4).shape
    (5, 28, 28)
    """
    X = np.asarray(images)
    if X.ndim not in (3, 4):
        raise ValueError(f"images must be (n, H, W) or (n, H, W, C), got {X.shape}")
    h, w = _pair(size, "size")
    ph, pw = _pair(pad, "pad")
    if h < 1 or w < 1 or ph < 0 or pw < 0:
        raise ValueError(f"bad size {size!r} or pad {pad!r}")
    squeeze = X.ndim == 3
    if squeeze:
        X = X[..., None]
    X = X.astype(np.float32, copy=False)
    if (h, w) != X.shape[1:3]:
        wh = _weights(X.shape[1], h).astype(np.float32)
        ww = _weights(X.shape[2], w).astype(np.float32)
        X = np.einsum("ih,nhwc,jw->nijc", wh, X, ww, optimize=True)
    if ph or pw:
        X = np.pad(
            X,
            ((0, 0), (ph, ph), (pw, pw), (0, 0)),
            mode="constant",
            constant_values=fill,
        )
    out = X[..., 0] if squeeze else X
    return np.ascontiguousarray(out, dtype=np.float32)
