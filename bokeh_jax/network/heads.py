"""Initial weight heads for a converted MegaDepth: ``random`` and ``depth-prior``.

The paper replaces MegaDepth's last conv (64 -> 1, log-depth) by a conv with N+1 outputs and
a softmax (Eq. 2). ``depth-prior`` builds that conv from the depth head itself, so that before
any training near pixels put their weight on the sharp image and far pixels on the strongest
blur:

    logit_i(x) = s * (i * d(x) - sum_{j<=i} t_j),   i = 0..N,   d = depth head output

Consecutive logits differ by ``s * (d - t_i)``: channel i wins between thresholds t_i and
t_{i+1}, and the expected blur index increases monotonically with log-depth. Because d is a
linear function of the features, so is every logit: the head is an exact 3x3 conv (kernel
``s * i * W_d``, bias ``s * (i * b_d - sum t_j)``). MegaDepth's log-depth has an arbitrary
offset (scale-invariant training), so the thresholds are calibrated once: they split the
5th..95th percentile range of the network's log-depth on a few natural photos (scikit-image's
samples) evenly, and ``s`` makes neighbouring channels differ by 2 logits at each channel's
centre.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from bokeh_jax.network.models import MegaDepth

# The weight heads a MegaDepth source can start with (a bokeh source brings its own).
HEAD_INITS = ("depth-prior", "random")
CALIBRATION_PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry")


def depth_prior_head(depth_kernel: np.ndarray, depth_bias: np.ndarray, num_kernels: int,
                     lo: float, hi: float) -> dict[str, np.ndarray]:
    """Weight-head conv (kernel (k,k,C,N+1), bias (N+1,)) derived from the depth head.

    lo, hi: the log-depth range to spread the N+1 channels over (near -> channel 0).
    """
    step = max((hi - lo) / num_kernels, 1e-3)  # centre spacing of consecutive channels
    s = 4.0 / step  # logit gap of 2 between a channel and its neighbours at its centre
    thresholds = lo + (np.arange(1, num_kernels + 1) - 0.5) * step
    i = np.arange(num_kernels + 1, dtype=np.float64)
    cum = np.concatenate([[0.0], np.cumsum(thresholds)])
    kernel = s * depth_kernel.astype(np.float64)[..., :1] * i  # (k,k,C,1) * (N+1,)
    bias = s * (i * float(np.asarray(depth_bias).reshape(-1)[0]) - cum)
    return {"kernel": kernel.astype(np.float32), "bias": bias.astype(np.float32)}


def random_head(key: jax.Array, cin: int, num_outputs: int, k: int = 3) -> dict[str, np.ndarray]:
    """A freshly initialised head, as flax.linen.Conv would (LeCun normal, zero bias)."""
    kernel = jax.nn.initializers.lecun_normal()(key, (k, k, cin, num_outputs), jnp.float32)
    return {"kernel": np.asarray(kernel), "bias": np.zeros((num_outputs,), np.float32)}


def calibration_images(resolution: tuple[int, int] = (256, 384)) -> np.ndarray:
    """A few natural photos from scikit-image, centre-cropped to the aspect and resized."""
    import skimage.data
    from PIL import Image

    h, w = resolution
    out = []
    for name in CALIBRATION_PHOTOS:
        img = getattr(skimage.data, name)()
        ih, iw = img.shape[:2]
        ch, cw = (ih, round(ih * w / h)) if iw * h >= ih * w else (round(iw * h / w), iw)
        top, left = (ih - ch) // 2, (iw - cw) // 2
        crop = Image.fromarray(img[top:top + ch, left:left + cw, :3])
        out.append(np.asarray(crop.resize((w, h), Image.BILINEAR), np.float32) / 255.0)
    return np.stack(out)


def calibrate_log_depth(variables: dict, images: np.ndarray) -> tuple[float, float]:
    """5th and 95th percentiles of the depth head's output on ``images`` (N,H,W,3)."""
    mega = {"params": {k: variables["params"][k] for k in ("trunk", "depth_head")},
            "batch_stats": variables["batch_stats"]}
    out = jax.jit(lambda v, x: MegaDepth().apply(v, x))(mega, jnp.asarray(images))
    lo, hi = np.percentile(np.asarray(out), [5.0, 95.0])
    return float(lo), float(hi)


def complete_heads(variables: dict, kernel_sizes: Sequence[int], head_init: str,
                   seed: int = 0) -> tuple[dict, dict]:
    """Adds the head the source lacks; returns (BokehNet variables, metadata to record).

    head_init: "depth-prior" or "random" (a MegaDepth source: the weight head is new) or
    "source" (a bokeh source: the weight head is given and the depth head is unknown; it is
    filled with zeros and the checkpoint records ``has_depth_head: false``).
    """
    params = dict(variables["params"])
    num = len(kernel_sizes)
    extra: dict = {}
    if head_init == "source":
        params["depth_head"] = {"kernel": np.zeros((3, 3, 64, 1), np.float32),
                                "bias": np.zeros((1,), np.float32)}
    elif head_init == "random":
        params["weight_head"] = random_head(jax.random.key(seed), 64, num + 1)
    elif head_init == "depth-prior":
        lo, hi = calibrate_log_depth(variables, calibration_images())
        d = params["depth_head"]
        params["weight_head"] = depth_prior_head(np.asarray(d["kernel"]), np.asarray(d["bias"]),
                                                 num, lo, hi)
        extra["depth_prior"] = {"log_depth_lo": lo, "log_depth_hi": hi,
                                "calibration": list(CALIBRATION_PHOTOS)}
    else:
        raise ValueError(f"unknown head init {head_init!r}")
    return {"params": params, "batch_stats": variables["batch_stats"]}, extra
