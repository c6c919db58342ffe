"""The rendering ops of the paper, the one public place to import them from.

- the Gaussian blur stack G_k(I) of Eq. 1, OpenCV-exact (:mod:`bokeh_jax.ops.blur`);
- the blend of Eq. 1, alpha-aware for photos with transparency, and blend weights computed
  from a depth map instead of the learned head (:mod:`bokeh_jax.ops.blend`).

All are jnp code: jit them with the kernel sizes static, differentiate through them freely.
"""

from bokeh_jax.ops.blend import TAU_FRACTION, blend, blend_photo, weights_from_depth
from bokeh_jax.ops.blur import (
    METHODS,
    blur_stack,
    default_method,
    gaussian_blur,
    gaussian_kernel,
    gaussian_sigma,
)

__all__ = ["METHODS", "TAU_FRACTION", "blend", "blend_photo", "blur_stack", "default_method",
           "gaussian_blur", "gaussian_kernel", "gaussian_sigma", "weights_from_depth"]
