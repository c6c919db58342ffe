"""bokeh-jax: depth-aware blending of smoothed images for bokeh rendering (Dutta, 2021) in JAX."""

__version__ = "0.1.0"


def load_model(path, **kwargs):
    """Loads a converted or trained bokeh_jax checkpoint folder; see :mod:`bokeh_jax.model_io`."""
    from bokeh_jax.model_io import load_model as _load

    return _load(path, **kwargs)


__all__ = ["load_model", "__version__"]
