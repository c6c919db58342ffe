"""A loaded model: :func:`load_model` and :class:`BokehModel` (``bokeh_jax.load_model``)."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from bokeh_jax.inference.learned import Rendered, render_photo
from bokeh_jax.names import PAPER
from bokeh_jax.network.checkpoint import load_variables, model_from_metadata
from bokeh_jax.network.models import BokehNet, check_input, compute_dtype


@partial(jax.jit, static_argnums=(0,))
def _maps(module: BokehNet, variables: dict, images: jax.Array):
    return module.apply(variables, images, method=BokehNet.maps)


class BokehModel:
    """A bokeh_jax model: the Flax module, its variables and its checkpoint metadata."""

    def __init__(self, module: BokehNet, variables: dict, metadata: dict):
        self.module = module
        self.variables = variables
        self.metadata = metadata

    @property
    def kernel_sizes(self) -> tuple[int, ...]:
        return tuple(self.module.kernel_sizes)

    @property
    def resolution(self) -> tuple[int, int]:
        """(H, W) the network runs at under either test policy."""
        return tuple(self.metadata["resolution"])

    @property
    def policy(self) -> str:
        """The test policy the model was trained for (its config's ``val_policy``): what
        :meth:`render`, eval and the render CLI use unless told otherwise."""
        return self.metadata.get("policy", PAPER)

    @property
    def has_depth_head(self) -> bool:
        return bool(self.metadata.get("has_depth_head", True))

    def _checked(self, images) -> jax.Array:
        x = jnp.asarray(images, jnp.float32)
        check_input(x)
        return x

    def predict_depth(self, images) -> jax.Array:
        """(N,H,W,3) RGB in [0,1], H and W multiples of 16 -> (N,H,W,1) log-depth."""
        if not self.has_depth_head:
            raise ValueError("this checkpoint has no depth head (it was converted from a "
                             "bokeh model, whose last layer replaced MegaDepth's)")
        return _maps(self.module, self.variables, self._checked(images))[1]

    def weights(self, images) -> jax.Array:
        """(N,H,W,3) RGB in [0,1], H and W multiples of 16 -> (N,H,W,K+1) blend weights."""
        return _maps(self.module, self.variables, self._checked(images))[0]

    def render(self, image, policy: str | None = None, return_aux: bool = False,
               alpha: np.ndarray | None = None):
        """Renders one (H,W,3) image of any size (float in [0,1] or uint8).

        policy "paper": resize to :attr:`resolution` (turned to the image's orientation),
        run the network, resize the rendered image back (bilinear). "fullres": upsample the
        weight maps instead and blend at the input's size; None: :attr:`policy`. Returns the
        (H,W,3) float32 bokeh image, or a :class:`~bokeh_jax.inference.learned.Rendered`
        with the upsampled weights, log-depth and disparity if ``return_aux``.
        ``alpha``: (H,W) uint8 or None.
        """
        image = np.asarray(image)
        if image.ndim != 3 or image.shape[-1] != 3:
            raise ValueError(f"expected one (H,W,3) image, got shape {image.shape}")
        if image.dtype == np.uint8:
            image = image.astype(np.float32) / 255.0
        out = render_photo(self.module, self.variables, self.resolution, image, alpha,
                           policy=policy or self.policy, with_weights=return_aux,
                           with_depth=return_aux and self.has_depth_head)
        return out if return_aux else out.bokeh


def load_model(path: str | Path, dtype: str = "float32") -> BokehModel:
    """Loads a checkpoint folder (converted or trained) as a :class:`BokehModel`.

    ``dtype``: the network's activations, "float32" or "bfloat16" (mixed precision: faster
    on GPUs and TPUs; the weights stay float32 and the blend runs in float32).
    """
    compute_dtype(dtype)  # a ValueError naming the choices before any file is read
    variables, meta = load_variables(path)
    return BokehModel(model_from_metadata(meta, dtype=dtype),
                      jax.tree.map(jnp.asarray, variables), meta)


__all__ = ["BokehModel", "Rendered", "load_model"]
