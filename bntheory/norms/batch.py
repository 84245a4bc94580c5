r"""The batch-normalization transform of Ioffe & Szegedy (2015), written once against the array API.

Layout: inputs are ``(m, d)`` (samples in rows, one feature per column) or ``(N, C, *spatial)``
(channel axis 1). The statistics of a channel are taken over every axis but the channel axis, so a
``(N, C, H, W)`` input has an effective batch of :math:`m = N H W` per channel (Ioffe & Szegedy 2015, §3.2).

Every function accepts NumPy, CuPy or PyTorch arrays (and anything else with an array-API namespace)
and returns arrays of the same namespace, dtype and device. On NumPy, the training forward and
backward go to a fused, blocked kernel (:mod:`bntheory.norms._batch_kernels`) that computes the same
formulas with fewer passes over memory, or, for large ``(m, C)`` batches where numba is installed (the ``fast``
extra), to its compiled two-pass form (:mod:`bntheory.norms._batch_fused`; :mod:`bntheory.norms._compiled`
says when, and ``BNTHEORY_NUMBA=0`` in the environment switches it off); everywhere else the portable path
below runs. The training transform, its backward pass and the inference network follow [1]_; the running
statistics follow PyTorch [2]_ and Keras [3]_.

References
----------
.. [1] S. Ioffe and C. Szegedy, "Batch Normalization: Accelerating Deep Network Training by Reducing
   Internal Covariate Shift", ICML 2015, arXiv:1502.03167. Algorithm 1 (training transform),
   §3 (back-propagation), Algorithm 2 (inference network).
.. [2] PyTorch documentation, ``torch.nn.BatchNorm1d`` (running statistics, ``momentum``).
.. [3] Keras 3 documentation, ``keras.layers.BatchNormalization`` (``moving_mean``, ``moving_variance``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any, Literal, NamedTuple

import numpy as np
from array_api_compat import array_namespace, is_array_api_obj, is_numpy_namespace

from bntheory._validation import (
    NonFiniteError,
    check_choice,
    check_float_array,
    check_momentum,
    check_nonnegative,
    check_same_backend,
    check_same_dtype,
    check_statistics,
    check_vector,
)
from bntheory.norms import _batch_kernels as _numpy_kernels
from bntheory.norms import _compiled
from bntheory.norms._layout import channel_shape, reduction_axes, values_per_channel

__all__ = [
    "Cache",
    "backward",
    "forward",
    "fuse_conv",
    "fuse_linear",
    "inference",
    "inference_affine",
    "population_stats",
    "update_running_stats",
]

Array = Any


class Cache(NamedTuple):
    r"""What :func:`backward` needs from :func:`forward`.

    The cache keeps a reference to the input (as PyTorch's autograd does), not a normalized copy:
    modifying `x` in place between :func:`forward` and :func:`backward` invalidates it.

    Attributes
    ----------
    x : array
        The forward input.
    mean : array
        Batch mean :math:`\mu_{\mathcal B}` per channel, shape ``(C,)``.
    var : array
        Biased batch variance :math:`\sigma^2_{\mathcal B}` per channel, shape ``(C,)``.
    inv_std : array
        :math:`1/\sqrt{\sigma^2_{\mathcal B} + \epsilon}` per channel, shape ``(C,)``.
    gamma : array
        The scale :math:`\gamma` used in the forward pass, shape ``(C,)``.
    """

    x: Array
    mean: Array
    var: Array
    inv_std: Array
    gamma: Array

    @property
    def x_hat(self) -> Array:
        r"""The normalized input :math:`\hat x = (x-\mu_{\mathcal B})/\sqrt{\sigma^2_{\mathcal B}+\epsilon}`."""
        xp = array_namespace(self.x)
        shape = channel_shape(self.x.ndim, self.x.shape[1])
        return (self.x - xp.reshape(self.mean, shape)) * xp.reshape(self.inv_std, shape)


def forward(x: Array, gamma: Array, beta: Array, *, eps: float = 1e-5, out: Array | None = None) -> tuple[Array, Cache]:
    r"""Training-mode BN: normalize each channel with its batch statistics (Algorithm 1 of [1]_).

    .. math::

        \mu_{\mathcal B} = \frac1m\sum_{i=1}^m x_i,\quad
        \sigma^2_{\mathcal B} = \frac1m\sum_{i=1}^m (x_i-\mu_{\mathcal B})^2,\quad
        \hat x_i = \frac{x_i-\mu_{\mathcal B}}{\sqrt{\sigma^2_{\mathcal B}+\epsilon}},\quad
        y_i = \gamma\hat x_i + \beta .

    Parameters
    ----------
    x : array, shape (m, d) or (N, C, \*spatial)
        The mini-batch; statistics are per channel (axis 1) over all other axes.
    gamma, beta : array, shape (C,)
        Scale :math:`\gamma` and shift :math:`\beta`, same dtype as `x`.
    eps : float, keyword-only
        :math:`\epsilon \ge 0`, added to the variance. With ``eps=0`` a constant channel is an error.
    out : array, optional, keyword-only
        Where to write `y`: an array of the shape, dtype and backend of `x` that shares no memory with `x`,
        `gamma` or `beta` (the cache keeps `x`). A loop that reuses one output skips the zeroing of fresh pages
        that a new array of that size costs the operating system (measured on the compiled path, 65536 x 256: 55-63%
        of a copy's bandwidth with a new output, 80-90% with `out`). On error its content is unspecified.

    Returns
    -------
    y : array, shape of `x`
        :math:`\mathrm{BN}_{\gamma,\beta}(x)`; `out` itself when given.
    cache : Cache
        The normalized input and batch statistics, for :func:`backward`.

    Raises
    ------
    ValueError
        On a shape mismatch, fewer than 2 values per channel (the batch variance is then 0 and
        training-mode BN is degenerate), negative `eps`, or ``eps=0`` with a constant channel.
        :class:`~bntheory._validation.NonFiniteError` (a ValueError) on NaN or inf in `x`, `gamma` or
        `beta`, or on batch statistics that overflow the dtype (values near 1e154 in float64): found from the
        per-channel statistics, so valid input pays nothing for the check.
    TypeError
        On non-floating arrays, mismatched dtypes or arrays of different backends.

    References
    ----------
    .. [1] Ioffe & Szegedy 2015, Algorithm 1, arXiv:1502.03167.

    Examples
    --------
    >>> import numpy as np
    >>> from bntheory import transform
    >>> x = np.array([[1.0, 2.0], [3.0, 6.0]])
    >>> y, cache = transform.forward(x, np.ones(2), np.zeros(2), eps=0.0)
    >>> y
    array([[-1., -1.],
           [ 1.,  1.]])
    """
    if _plain_numpy_batch(x, gamma, beta) and type(eps) is float and 0.0 <= eps < math.inf:
        xp = np  # valid NumPy arguments: skip the generic validation (its cost dominates small batches)
        # gamma and beta are checked with the statistics below (one dot product for both).
    else:
        xp = _check_batch(x, "x")
        channels = x.shape[1]
        check_vector(gamma, "gamma", channels, x)
        check_vector(beta, "beta", channels, x)
        eps = check_nonnegative(eps, "eps")
    if out is not None:
        _check_out(out, x, gamma, beta)
    if is_numpy_namespace(xp):
        # The kernels write into a C-contiguous `out`; any other is filled by a copy afterwards.
        direct = out if out is not None and out.flags.c_contiguous else None
        y, mean, var, inv_std, finite = _kernels(x).forward_screened(x, gamma, beta, eps, out=direct)
        if not finite:
            _raise_non_finite(x, (mean, var), ("gamma", gamma), ("beta", beta), xp=xp)
    else:
        y, mean, var, inv_std = _forward(x, gamma, beta, eps, xp=xp)
        check_statistics(x, "x", (mean, var), xp=xp)
    if out is not None and y is not out:
        out[...] = y
        y = out
    if eps == 0:
        if _has_constant_channel(x, mean, var, xp=xp):
            raise ValueError("x: a channel is constant over the batch, so with eps=0 its x_hat is 0/0; use eps > 0")
        if not bool(xp.all(var > 0)):
            raise NonFiniteError("x: a channel's variance underflows to 0, so with eps=0 its x_hat is x/0; rescale x")
    return y, Cache(x, mean, var, inv_std, gamma)


def backward(dy: Array, cache: Cache) -> tuple[Array, Array, Array]:
    r"""Gradients of the loss through training-mode BN, by the closed forms of [1]_ §3.

    With :math:`\delta_i = \partial\ell/\partial y_i`, :math:`s = \sqrt{\sigma^2_{\mathcal B}+\epsilon}`
    and sums over the :math:`m` values of one channel, the six formulas of the paper collapse to

    .. math::

        \frac{\partial\ell}{\partial\beta} = \sum_i \delta_i,\qquad
        \frac{\partial\ell}{\partial\gamma} = \sum_i \delta_i\hat x_i,\qquad
        \frac{\partial\ell}{\partial x_i} = \frac{\gamma}{s}\Big(\delta_i
            - \frac1m\frac{\partial\ell}{\partial\beta}
            - \frac{\hat x_i}{m}\frac{\partial\ell}{\partial\gamma}\Big),

    i.e. :math:`\nabla_x\ell = \frac{\gamma}{s}(I - \tfrac1m\mathbf 1\mathbf 1^\top
    - \tfrac1m\hat x\hat x^\top)\delta`. The equality with the paper's step-by-step form (including its
    term of :math:`\partial\ell/\partial\mu_{\mathcal B}` that vanishes identically) is checked
    symbolically by the registry entry ``ioffe2015.backprop``; no automatic differentiation is used.

    Parameters
    ----------
    dy : array, shape of the forward input
        Upstream gradient :math:`\partial\ell/\partial y`.
    cache : Cache
        As returned by :func:`forward`.

    Returns
    -------
    dx : array, shape of `dy`
    dgamma, dbeta : array, shape (C,)

    References
    ----------
    .. [1] Ioffe & Szegedy 2015, §3 (back-propagation through BN), arXiv:1502.03167.
    """
    if not isinstance(cache, Cache):
        raise TypeError(
            f"cache: expected the Cache returned by forward(), got {type(cache).__name__}; pass forward()'s cache"
        )
    x = cache.x
    if type(dy) is np.ndarray and type(x) is np.ndarray and (dy.shape, dy.dtype) == (x.shape, x.dtype):
        xp = np  # the forward input passed validation, and dy matches it
    else:
        xp = _check_batch(dy, "dy")
        check_same_backend(dy, "dy", cache.x)
        if tuple(dy.shape) != tuple(cache.x.shape):
            raise ValueError(
                f"dy: expected the forward input's shape {tuple(cache.x.shape)}, got {tuple(dy.shape)}; "
                "pass the gradient of forward()'s output"
            )
        check_same_dtype(dy, "dy", cache.x)
    if is_numpy_namespace(xp):
        # NaN or inf in dy (or an overflow) reaches both per-channel sums: they are screened, not dy.
        dx, dgamma, dbeta, finite = _kernels(dy).backward_screened(dy, *cache)
        if not finite:
            _raise_non_finite(dy, (dgamma, dbeta), name="dy", xp=xp)
        return dx, dgamma, dbeta
    dx, dgamma, dbeta = _backward(dy, cache.x_hat, cache.inv_std, cache.gamma, xp=xp)
    check_statistics(dy, "dy", (dgamma, dbeta), xp=xp)
    return dx, dgamma, dbeta


def update_running_stats(
    running_mean: Array,
    running_var: Array,
    x: Array,
    *,
    momentum: float,
    convention: Literal["pytorch", "keras"] = "pytorch",
) -> tuple[Array, Array]:
    r"""One update of the running (moving) statistics from the batch `x`; returns new arrays.

    The two libraries use opposite meanings of *momentum* and store different variances:

    ``"pytorch"`` (``torch.nn.BatchNorm*``, default momentum 0.1, weight of the **new** batch) [2]_:

    .. math:: r \leftarrow (1-p)\,r + p\,v_{\mathcal B},\qquad
              v_{\mathcal B} = \tfrac{n}{n-1}\,\sigma^2_{\mathcal B}\ \text{(unbiased) for the variance,}

    ``"keras"`` (``keras.layers.BatchNormalization``, default momentum 0.99, weight of the **old**
    value) [3]_:

    .. math:: r \leftarrow p\,r + (1-p)\,v_{\mathcal B},\qquad
              v_{\mathcal B} = \sigma^2_{\mathcal B}\ \text{(biased) for the variance,}

    with :math:`n` the number of values per channel (:math:`N\cdot H\cdot W` for images). Keras 3
    semantics are implemented; legacy ``tf.keras`` fused kernels are not claimed.

    Parameters
    ----------
    running_mean, running_var : array, shape (C,)
        Current estimates (libraries start from 0 and 1).
    x : array, shape (m, C) or (N, C, \*spatial)
        The training batch.
    momentum : float in [0, 1], keyword-only
        The library's momentum, in that library's convention. Required: the defaults of the two
        conventions (0.1 and 0.99) mean nearly opposite things.
    convention : {"pytorch", "keras"}

    Returns
    -------
    running_mean, running_var : array, shape (C,)

    References
    ----------
    .. [2] PyTorch documentation, ``torch.nn.BatchNorm1d``.
    .. [3] Keras 3 documentation, ``keras.layers.BatchNormalization``.
    """
    xp = _check_batch(x, "x")
    check_vector(running_mean, "running_mean", x.shape[1], x)
    check_vector(running_var, "running_var", x.shape[1], x)
    if bool(xp.any(running_var < 0)):
        raise ValueError("running_var: a variance is negative; pass the running variance (it starts at 1)")
    p = check_momentum(momentum)
    check_choice(convention, "convention", ("pytorch", "keras"))
    n = values_per_channel(x)
    mean, var = _batch_moments(x, xp=xp)
    check_statistics(x, "x", (mean, var), xp=xp)
    if convention == "pytorch":
        return (1 - p) * running_mean + p * mean, (1 - p) * running_var + (p * n / (n - 1)) * var
    return p * running_mean + (1 - p) * mean, p * running_var + (1 - p) * var


def population_stats(batches: Iterable[Array]) -> tuple[Array, Array]:
    r"""Population statistics for inference from training mini-batches (Algorithm 2 of [1]_).

    .. math::

        \mathrm E[x] \leftarrow \mathrm E_{\mathcal B}[\mu_{\mathcal B}],\qquad
        \mathrm{Var}[x] \leftarrow \frac{m}{m-1}\,\mathrm E_{\mathcal B}[\sigma^2_{\mathcal B}],

    the factor :math:`m/(m-1)` making the average biased batch variance an unbiased estimate of the
    population variance, since :math:`\mathrm E[\sigma^2_{\mathcal B}] = \frac{m-1}{m}\mathrm{Var}[x]`.

    Parameters
    ----------
    batches : iterable of arrays, each (m, C) or (N, C, \*spatial)
        Mini-batches of one shape (the correction assumes a fixed batch size :math:`m`, counted per
        channel as in :func:`forward`).

    Returns
    -------
    mean, var : array, shape (C,)

    Notes
    -----
    Memory: each batch's moments are streamed over row chunks (see :func:`update_running_stats`), so the
    temporaries are a few hundred kB whatever the batch size, not copies of the batch.

    References
    ----------
    .. [1] Ioffe & Szegedy 2015, Algorithm 2, arXiv:1502.03167.
    """
    if is_array_api_obj(batches) or isinstance(batches, str) or not isinstance(batches, Iterable):
        raise TypeError(
            f"batches: expected an iterable of mini-batches, got {type(batches).__name__}; "
            "wrap a single batch in a list: [x]"
        )
    mean_sum = var_sum = shape = first = None
    k = 0
    for batch in batches:
        name = f"batches[{k}]"
        xp = _check_batch(batch, name)
        if shape is None:
            shape, first = tuple(batch.shape), batch
        elif tuple(batch.shape) != shape:
            raise ValueError(
                f"{name}: shape {tuple(batch.shape)} differs from the first batch's {shape}; "
                "Algorithm 2 assumes one batch size: drop or pad the odd batch"
            )
        else:
            check_same_dtype(batch, name, first)
        mean, var = _batch_moments(batch, xp=xp)
        check_statistics(batch, name, (mean, var), xp=xp)
        mean_sum = mean if mean_sum is None else mean_sum + mean
        var_sum = var if var_sum is None else var_sum + var
        k += 1
    if k == 0:
        raise ValueError("batches: expected at least one mini-batch, got none; pass a non-empty list")
    m = math.prod(shape) // shape[1]
    return mean_sum / k, var_sum * (m / ((m - 1) * k))


def inference_affine(
    gamma: Array, beta: Array, mean: Array, var: Array, *, eps: float = 1e-5
) -> tuple[Array, Array]:
    r"""The per-channel affine map :math:`y = a\odot x + b` that inference-mode BN is (§1.4 of THEORY).

    .. math::

        a = \frac{\gamma}{\sqrt{\mathrm{Var}[x]+\epsilon}},\qquad b = \beta - a\,\mathrm E[x].

    Parameters
    ----------
    gamma, beta, mean, var : array, shape (C,)
        Scale, shift and the population (running) mean and variance.
    eps : float, keyword-only

    Returns
    -------
    a, b : array, shape (C,)

    References
    ----------
    Ioffe & Szegedy 2015, Algorithm 2, step 11, arXiv:1502.03167.
    """
    xp = check_float_array(gamma, "gamma", finite=True)
    if gamma.ndim != 1 or gamma.shape[0] == 0:
        raise ValueError(f"gamma: expected shape (C,) with C >= 1, got {tuple(gamma.shape)}; pass one gain per channel")
    for value, name in ((beta, "beta"), (mean, "mean"), (var, "var")):
        check_vector(value, name, gamma.shape[0], gamma)
    eps = check_nonnegative(eps, "eps")
    if bool(xp.any(var < 0)):
        raise ValueError("var: a variance is negative; pass the running variance, not a difference")
    if eps == 0 and not bool(xp.all(var > 0)):
        raise ValueError("var: a variance is 0, so with eps=0 the scale gamma/sqrt(var) is infinite; use eps > 0")
    a = gamma / xp.sqrt(var + eps)
    return a, beta - a * mean


def inference(
    x: Array, gamma: Array, beta: Array, mean: Array, var: Array, *, eps: float = 1e-5
) -> Array:
    r"""Inference-mode BN with fixed statistics, applied as the affine map of :func:`inference_affine`.

    .. math:: y = \frac{\gamma}{\sqrt{\mathrm{Var}[x]+\epsilon}}\,x
              + \Big(\beta - \frac{\gamma\,\mathrm E[x]}{\sqrt{\mathrm{Var}[x]+\epsilon}}\Big).

    Parameters
    ----------
    x : array, shape (m, C) or (N, C, \*spatial)
        Any batch size, including 1: nothing is estimated from `x`.
    gamma, beta, mean, var : array, shape (C,)
    eps : float, keyword-only

    Returns
    -------
    y : array, shape of `x`

    Raises
    ------
    ValueError
        As :func:`inference_affine`, on a shape mismatch, or on NaN or inf in any argument (`x` is read once more
        for that: inference computes no statistic that would reveal it).

    References
    ----------
    Ioffe & Szegedy 2015, Algorithm 2, arXiv:1502.03167.
    """
    xp = check_float_array(x, "x", min_ndim=2, finite=True)
    check_vector(gamma, "gamma", x.shape[1], x)
    a, b = inference_affine(gamma, beta, mean, var, eps=eps)
    shape = channel_shape(x.ndim, x.shape[1])
    return xp.reshape(a, shape) * x + xp.reshape(b, shape)


def fuse_linear(
    W: Array, b: Array | None, gamma: Array, beta: Array, running_mean: Array, running_var: Array, *,
    eps: float = 1e-5,
) -> tuple[Array, Array]:
    r"""Fold an inference-mode BN into the fully connected layer before it; returns new arrays.

    For :math:`x = Wu + c` followed by BN with :math:`a = \gamma/\sqrt{\mathrm{Var}[x]+\epsilon}`,

    .. math:: W' = \mathrm{diag}(a)\,W,\qquad c' = a\odot(c - \mathrm E[x]) + \beta,

    so that :math:`W'u + c' = \mathrm{BN}_{\text{inference}}(Wu + c)` exactly. Valid only with fixed
    (running) statistics: a training-mode BN depends on the batch and has no such fold.

    Parameters
    ----------
    W : array, shape (out_features, in_features)
    b : array, shape (out_features,), or None for a layer without bias
    gamma, beta, running_mean, running_var : array, shape (out_features,)
    eps : float, keyword-only

    Returns
    -------
    W_fused : array, shape of `W`
    b_fused : array, shape (out_features,)

    References
    ----------
    Ioffe & Szegedy 2015, Algorithm 2 (inference BN is affine), arXiv:1502.03167.
    """
    xp = check_float_array(W, "W", min_ndim=2, finite=True)
    if W.ndim != 2:
        raise ValueError(f"W: expected shape (out_features, in_features), got {tuple(W.shape)}; reshape it")
    return _fuse(W, b, gamma, beta, running_mean, running_var, eps, xp=xp)


def fuse_conv(
    K: Array, b: Array | None, gamma: Array, beta: Array, running_mean: Array, running_var: Array, *,
    eps: float = 1e-5,
) -> tuple[Array, Array]:
    r"""Fold an inference-mode BN into the convolution before it; returns new arrays.

    For a kernel :math:`K \in \mathbb R^{C_{out}\times C_{in}/g\times k_1\times\cdots}` and bias :math:`c`,

    .. math:: K'_{o,\dots} = a_o K_{o,\dots},\qquad c'_o = a_o(c_o - \mathrm E[x_o]) + \beta_o,

    with :math:`a = \gamma/\sqrt{\mathrm{Var}[x]+\epsilon}`; ``b=None`` means :math:`c = 0`.
    Works for 1-D, 2-D and 3-D and grouped convolutions (only the output-channel axis is scaled).

    Parameters
    ----------
    K : array, shape (C_out, C_in / groups, \*kernel_size)
    b : array, shape (C_out,), or None
    gamma, beta, running_mean, running_var : array, shape (C_out,)
    eps : float, keyword-only

    Returns
    -------
    K_fused : array, shape of `K`
    b_fused : array, shape (C_out,)

    References
    ----------
    Ioffe & Szegedy 2015, §3.2 and Algorithm 2, arXiv:1502.03167.
    """
    xp = check_float_array(K, "K", min_ndim=3, finite=True)
    return _fuse(K, b, gamma, beta, running_mean, running_var, eps, xp=xp)


# --- private kernels: array-API standard only, namespace passed explicitly -----------------------


def _forward(x: Array, gamma: Array, beta: Array, eps: float, *, xp: Any) -> tuple[Array, ...]:
    axes = reduction_axes(x.ndim)
    shape = channel_shape(x.ndim, x.shape[1])
    mean = xp.mean(x, axis=axes, keepdims=True)
    centered = x - mean
    # Two-pass variance: the mean is subtracted first, so there is no cancellation for large offsets.
    var = xp.mean(centered * centered, axis=axes, keepdims=True)
    inv_std = 1 / xp.sqrt(var + eps)
    y = centered * (inv_std * xp.reshape(gamma, shape)) + xp.reshape(beta, shape)
    return y, xp.reshape(mean, (-1,)), xp.reshape(var, (-1,)), xp.reshape(inv_std, (-1,))


def _backward(dy: Array, x_hat: Array, inv_std: Array, gamma: Array, *, xp: Any) -> tuple[Array, ...]:
    axes = reduction_axes(dy.ndim)
    shape = channel_shape(dy.ndim, dy.shape[1])
    m = values_per_channel(dy)
    dbeta = xp.sum(dy, axis=axes)
    dgamma = xp.sum(dy * x_hat, axis=axes)
    scale = xp.reshape(gamma * inv_std / m, shape)
    dx = scale * (m * dy - xp.reshape(dbeta, shape) - x_hat * xp.reshape(dgamma, shape))
    return dx, dgamma, dbeta


#: Elements per chunk of :func:`_batch_moments` (512 kB in float64): large enough that the per-chunk call overhead
#: is small against the arithmetic, small enough that the temporaries stay in cache.
_CHUNK_ELEMENTS = 1 << 16


def _batch_moments(x: Array, *, xp: Any) -> tuple[Array, Array]:
    """Per-channel mean and biased variance, two-pass, streamed over chunks of rows.

    The sums are taken chunk by chunk, so the temporaries (``x - mean`` and its square) are one chunk, not two
    copies of `x`; a batch of one chunk gives the same numbers as ``mean`` and ``mean((x - mean)**2)``.
    """
    axes = reduction_axes(x.ndim)
    step = max(1, _CHUNK_ELEMENTS // max(1, math.prod(x.shape[1:])))
    chunks = [x[i : min(i + step, x.shape[0]), ...] for i in range(0, x.shape[0], step)]
    with np.errstate(all="ignore"):  # NaN, inf and overflow show in the statistics, which the callers check
        return _streamed_moments(x, chunks, axes, xp=xp)


def _streamed_moments(x: Array, chunks: list, axes: tuple[int, ...], *, xp: Any) -> tuple[Array, Array]:
    total = None
    for chunk in chunks:
        part = xp.sum(chunk, axis=axes, keepdims=True)
        total = part if total is None else total + part
    mean = total / values_per_channel(x)
    squares = None
    for chunk in chunks:
        centered = chunk - mean
        part = xp.sum(centered * centered, axis=axes)
        squares = part if squares is None else squares + part
    return xp.reshape(mean, (-1,)), squares / values_per_channel(x)


def _fuse(W, b, gamma, beta, running_mean, running_var, eps, *, xp):
    out = W.shape[0]
    check_vector(gamma, "gamma", out, W)
    check_vector(running_mean, "running_mean", out, W)
    check_vector(running_var, "running_var", out, W)
    if b is None:
        b = xp.zeros_like(gamma)
    else:
        check_vector(b, "b", out, W)
    if out == 0:
        raise ValueError(f"W: has no output channels (shape {tuple(W.shape)}); pass a layer with at least one")
    a, shift = inference_affine(gamma, beta, running_mean, running_var, eps=eps)
    a_shape = (out,) + (1,) * (W.ndim - 1)
    return xp.reshape(a, a_shape) * W, a * b + shift


def _kernels(x: np.ndarray) -> Any:
    """The kernel module for the NumPy array `x`: the compiled one for large (m, C) batches, else the reference."""
    return (x.ndim == 2 and _compiled.kernels("_batch_fused", x)) or _numpy_kernels


def _check_out(out: Array, x: Array, gamma: Array, beta: Array) -> None:
    """Refuse an `out` of :func:`forward` that is not a writeable array like `x`, or that overlaps an input."""
    check_float_array(out, "out")
    check_same_dtype(out, "out", x)  # and the backend
    if tuple(out.shape) != tuple(x.shape):
        raise ValueError(f"out: expected the shape of x, {tuple(x.shape)}, got {tuple(out.shape)}; pass empty_like(x)")
    if isinstance(out, np.ndarray):
        if not out.flags.writeable:
            raise ValueError("out: the array is read-only; pass a writeable one")
        for name, value in (("x", x), ("gamma", gamma), ("beta", beta)):
            if np.may_share_memory(out, value):
                raise ValueError(f"out: shares memory with {name} (the cache keeps x for backward); pass another array")


def _plain_numpy_batch(x: Array, gamma: Array, beta: Array) -> bool:
    """Whether `x`, `gamma`, `beta` are valid NumPy arguments of :func:`forward` (checked cheaply, no errors)."""
    return (
        type(x) is np.ndarray
        and type(gamma) is np.ndarray
        and type(beta) is np.ndarray
        and x.dtype.kind == "f"
        and x.ndim >= 2
        and x.shape[1] > 0
        and x.size // x.shape[1] >= 2
        and gamma.shape == beta.shape == (x.shape[1],)
        and gamma.dtype == beta.dtype == x.dtype
    )


def _raise_non_finite(x: Array, stats: tuple[Array, ...], *params: tuple[str, Array], name: str = "x", xp: Any):
    """After a failed screen of the NumPy kernel: raise for the argument at fault, or return (an overflowed dot)."""
    for param_name, p in params:
        if not bool(xp.all(xp.isfinite(p))):
            raise NonFiniteError(f"{param_name}: contains NaN or inf; replace the non-finite entries")
    check_statistics(x, name, stats, xp=xp)


def _has_constant_channel(x: Array, mean: Array, var: Array, *, xp: Any) -> bool:
    r"""Whether a channel of `x` is constant (its maximum equals its minimum), given its batch statistics.

    The computed variance of a constant channel need not be 0: the mean of :math:`m` copies of :math:`c` rounds
    (:math:`c=0.1`, :math:`m=3`) and leaves :math:`x-\mu` of a few ulp. It is at most :math:`(m\,u\,|\mu|)^2`
    (:math:`u` the unit roundoff of the dtype, :math:`m u` bounding the error of any summation order), so the
    exact test, one more pass over `x`, runs only when some channel's variance is that small.
    """
    m = values_per_channel(x)
    if not bool(xp.any(var <= (m * xp.finfo(x.dtype).eps * mean) ** 2)):
        return False
    axes = reduction_axes(x.ndim)
    return bool(xp.any(xp.max(x, axis=axes) == xp.min(x, axis=axes)))


def _check_batch(x: Array, name: str) -> Any:
    """Validate a training batch: floating, rank >= 2, at least 2 values per channel."""
    xp = check_float_array(x, name, min_ndim=2)
    if x.shape[1] == 0 or values_per_channel(x) < 2:
        raise ValueError(
            f"{name}: training-mode BN needs at least 2 values per channel, got shape {tuple(x.shape)}; "
            "use a larger batch, or inference() with running statistics"
        )
    return xp
