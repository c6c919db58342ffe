"""Click to focus: a local web app for refocusing photos (``python -m bokeh_jax.app``).

``engine`` does the work without a web framework; ``page`` lays out the Gradio page and wires
its events; ``examples`` writes the sample photos; ``cli`` parses the flags and serves.
"""
