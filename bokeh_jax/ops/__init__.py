"""The rendering ops of the paper, the one public place to import them from.

- the Gaussian blur stack G_k(I) of Eq. 1, OpenCV-exact (:mod:`bokeh_jax.ops.blur`), and
  the same stack with disk and polygon apertures (:mod:`bokeh_jax.ops.aperture`);
- occlusion-aware layered depth of field (:mod:`bokeh_jax.ops.layered`);
- the blend of Eq. 1, alpha-aware for photos with transparency, and blend weights computed
  from a depth map instead of the learned head (:mod:`bokeh_jax.ops.blend`).

All are jnp code: jit them with the kernel sizes static, differentiate through them freely.
"""

from bokeh_jax.ops.aperture import APERTURES, aperture_kernel, radius_kernel
from bokeh_jax.ops.blend import TAU_FRACTION, blend, blend_photo, weights_from_depth
from bokeh_jax.ops.blur import (
           METHODS,
           METHODS_2D,
           blur_stack,
           default_method,
           filter_2d,
           gaussian_blur,
)
from bokeh_jax.ops.gaussian import gaussian_kernel, gaussian_sigma

__all__ = ["APERTURES", "METHODS", "METHODS_2D", "TAU_FRACTION", "aperture_kernel", "blend",
           "blend_photo", "blur_stack", "default_method", "filter_2d", "gaussian_blur",
           "gaussian_kernel", "gaussian_sigma", "radius_kernel", "weights_from_depth"]
