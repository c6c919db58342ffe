"""The demo's recipe at the paper's sizes, for a GPU: 20,000 synthetic pairs at 384x576.

    python train.py --config synthetic_full --workdir runs/synthetic_full

What the demo does (three phases on ``synthetic_bokeh`` calibrated to EBB!, the
``fullres`` policy, the focus loss, the real-pairs check at the end), with the paper's resolutions
(phase 1 at 256x384, phases 2-3 at the dataset's 384x576) and common.py's step counts
(20,000 + 10,000 + 5,000 at batch 8). The dataset is built first if missing
(``python -m bokeh_jax.data.prepare synthetic_bokeh --height 384 --width 576
--num-train 20000 --num-val 1000 --workers N`` builds it ahead, in parallel). Expected
times are in docs/synthetic_data.md ("The full recipe"). Starts from random weights;
``--config.init_checkpoint=megadepth.pth`` starts from MegaDepth as the paper does.
"""

from bokeh_jax.configs import common


def get_config():
    config = common.get_config()
    config.dataset = "synthetic_bokeh"
    config.synthetic.update(height=384, width=576, num_train=20_000, num_val=1_000, seed=0)
    config.train_split = "train"
    config.val_split = "validation"
    config.num_workers = 4  # decoding and resizing 384x576 PNGs: keep the GPU fed
    config.phases = (1, 2, 3)
    # The pairs' blur is in full-size pixels (docs/synthetic_data.md): render real photos
    # at full size with the upsampled weights. Recorded in the checkpoint.
    config.val_policy = "fullres"
    config.phase1.blend_resolution = (384, 576)  # network at 256x384, blend at the pairs' size
    config.phase2.resolution = (384, 576)
    config.phase3.resolution = (384, 576)
    config.focus_loss_weight = 0.1  # as the demo (chosen there, on the synthetic split)
    config.val_images = 200
    config.eval_at_end = True
    config.render_at_end = True
    return config
