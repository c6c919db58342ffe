"""Data: the EBB! and synthetic bokeh datasets (TFDS builders) and the grain input pipeline.

Modules: ``prepare`` (CLI building the datasets), ``ebb`` and ``synthetic_builder`` (TFDS
builders), ``synthetic`` (the thin-lens scene renderer) with ``textures``, ``catalog``
(finding built datasets), ``images`` (decoding), ``pipeline`` (training / evaluation
input) and ``pairs_dir`` (pairs read straight from a folder).
"""
