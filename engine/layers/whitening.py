"""A first layer that whitens small patches: a convolution whose weights come from the data.

airbench's first layer (Jordan 2024, after Page's and tysam-code's fast CIFAR-10 work): the
covariance of all k x k x C patches of some training images is eigen-decomposed; each
eigenvector, divided by sqrt(eigenvalue + eps), becomes a filter, once as it is and once
negated (so a following GELU or ReLU loses no sign), giving 2 k^2 C filters. The filters
never train; the bias does, for ``bias_epochs`` epochs (a training callback freezes it).
"""

from __future__ import annotations

import numpy as np

from engine.layers.conv import Conv2D

# Images per chunk when accumulating the patch covariance: 500 CIFAR images give 480,500
# patches of 12 values, 46 MB in float64, instead of 460 MB for 5,000 at once.
_FIT_CHUNK = 500


class PatchWhitening(Conv2D):
    """Conv2D(C, 2 k^2 C, k, stride 1, no padding) with data-derived, frozen weights.

    Shapes: x (N, H, W, C) -> (N, H - k + 1, W - k + 1, 2 k^2 C). ``W`` (k, k, C, 2 k^2 C) is
    always in ``frozen``. Until :meth:`fit` runs, the filters are the ± pixel basis (the
    whitening of uncorrelated unit-variance pixels), so an unfitted layer is still a valid
    layer. ``bias_epochs``: epochs the bias trains before it is frozen (None: always).
    """

    def __init__(self, in_channels: int, kernel_size: int = 2, eps: float = 5e-4,
                 bias_epochs: int | None = 3) -> None:
        if isinstance(eps, bool) or not isinstance(eps, int | float) or not eps > 0:
            raise ValueError(f"eps must be a positive number, got {eps!r}")
        if bias_epochs is not None and (
            isinstance(bias_epochs, bool) or not isinstance(bias_epochs, int) or bias_epochs < 0
        ):
            raise ValueError(f"bias_epochs must be a whole number >= 0 or null, got "
                             f"{bias_epochs!r}")
        if isinstance(kernel_size, bool) or not isinstance(kernel_size, int) or kernel_size < 1:
            raise ValueError(f"kernel_size must be a positive integer, got {kernel_size!r}")
        patch = kernel_size * kernel_size * in_channels
        super().__init__(in_channels, 2 * patch, kernel_size, stride=1, padding=0)
        self.eps = float(eps)
        self.bias_epochs = bias_epochs
        basis = np.eye(patch).reshape(kernel_size, kernel_size, in_channels, patch)
        self.params["W"][...] = np.concatenate([basis, -basis], axis=-1)
        self.frozen.add("W")

    def fit(self, x: np.ndarray) -> np.ndarray:
        """Set the filters from images x (N, H, W, C), normalised as the network's input.

        Returns the eigenvalues of the (uncentred) patch covariance, largest first, (k^2 C,).
        """
        x = np.asarray(x)
        k, c = self.kh, self.in_channels
        if x.ndim != 4 or x.shape[-1] != c or min(x.shape[1:3]) < k or len(x) == 0:
            raise ValueError(f"whitening needs images (N, H, W, {c}) of at least {k}x{k}, "
                             f"got {x.shape}")
        patch = k * k * c
        cov = np.zeros((patch, patch))
        count = 0
        for start in range(0, len(x), _FIT_CHUNK):
            patches = patches_of(x[start:start + _FIT_CHUNK].astype(np.float64), k)
            cov += patches.T @ patches
            count += len(patches)
        eigenvalues, eigenvectors = np.linalg.eigh(cov / count)
        eigenvalues, eigenvectors = eigenvalues[::-1], eigenvectors[:, ::-1]
        filters = eigenvectors / np.sqrt(eigenvalues + self.eps)
        W = np.concatenate([filters, -filters], axis=1).reshape(k, k, c, 2 * patch)
        self.params["W"][...] = W
        return eigenvalues

    def __repr__(self) -> str:
        return (f"PatchWhitening({self.in_channels}, kernel_size={self.kh}, eps={self.eps:g}, "
                f"bias_epochs={self.bias_epochs})")


def patches_of(x: np.ndarray, k: int) -> np.ndarray:
    """All k x k windows at stride 1 of x (N, H, W, C), as rows (N (H-k+1) (W-k+1), k k C)
    ordered (row, column, channel) like a kernel (k, k, C, ...) flattened."""
    c = x.shape[-1]
    windows = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(1, 2))
    # windows: (N, H-k+1, W-k+1, C, k, k) -> (..., k, k, C)
    return np.ascontiguousarray(windows.transpose(0, 1, 2, 4, 5, 3)).reshape(-1, k * k * c)


# airbench computes its whitening from 5,000 training images.
FIT_IMAGES = 5000


def fitting_sample(num_images: int, seed: int) -> np.ndarray:
    """Sorted indices of up to :data:`FIT_IMAGES` training images drawn at random (by ``seed``).

    airbench takes the first 5,000 of CIFAR-10's official order, where the classes are mixed;
    an image-folder dataset comes sorted by class, and its first 5,000 are all airplanes,
    whose patches whiten for sky rather than for CIFAR-10."""
    rng = np.random.default_rng([seed, 5000])
    return np.sort(rng.permutation(num_images)[:FIT_IMAGES])


def fit_whitening_layers(model, x: np.ndarray) -> int:
    """Fit every :class:`PatchWhitening` layer of ``model`` (an engine Sequential) on the first
    :data:`FIT_IMAGES` of x (N, *input_shape), the normalised training images, passed through
    the layers before it in evaluation mode. Returns how many layers were fitted."""
    whitening = [i for i, layer in enumerate(model.layers) if isinstance(layer, PatchWhitening)]
    a = x[:FIT_IMAGES]
    for i, layer in enumerate(model.layers[:whitening[-1] + 1] if whitening else []):
        if i in whitening:
            layer.fit(a)
        a = layer.forward(a, training=False)
    return len(whitening)
