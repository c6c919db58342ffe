"""The network and its weights.

- ``models``: the MegaDepth hourglass and BokehNet (Flax Linen); the architecture as data;
- ``conv``: the network's convolution, with a fast CPU weight gradient (custom VJP);
- ``heads``: the initial weight heads of a converted MegaDepth (random, depth-prior);
- ``convert``: the strict PyTorch -> bokeh_jax converter (``bokeh-jax convert``);
- ``checkpoint``: the checkpoint folder format (atomic save, metadata, variables).
"""
