"""The demo: all three phases on the synthetic dataset, on a CPU, in minutes.

    python train.py --config demo --workdir runs/demo

Generates the synthetic_bokeh dataset if it is not built yet (small: 96x144), trains from
random weights (no MegaDepth checkpoint is available offline; pass
--config.init_checkpoint=megadepth.pth to start from it), evaluates against the baselines
on the validation split into runs/demo/eval/, scores the real EBB! sample pairs (when
``../shared/data`` is beside the checkout; never used for training or checkpoint choice)
into runs/demo/eval_real/ and renders the real sample photos into runs/demo/renders/.
"""

from bokeh_jax.configs import common


def get_config():
    config = common.get_config()
    config.dataset = "synthetic_bokeh"
    # 96x144: the last phases train at the dataset's own size, so the pairs' blur radii (in
    # pixels, calibrated to EBB! at full size: docs/synthetic_data.md) meet the kernels
    # 25/45/75 unscaled, as a full-size photo's do under the "fullres" policy.
    config.synthetic.update(height=96, width=144, num_train=480, num_val=48, seed=0)
    config.train_split = "train"
    config.val_split = "validation"
    config.num_workers = 0  # decoding 96x144 PNGs is cheaper than starting workers
    config.phases = (1, 2, 3)
    # Scaled-down phases: the paper's progression (L1, then negative SSIM, a learning rate
    # falling from 1e-3) at sizes a 2-core CPU trains in minutes. The network runs at 64x96
    # in every phase and the pairs are blended and scored at their own 96x144, as the
    # fullres policy renders a photo (blend_resolution):
    # - blended at 64x96 (the paper's training) the pairs' blur shrinks by 1.5 while the
    #   kernels stay 25/45/75, which teaches too small a blur: phase 1's validation PSNR
    #   rose from 25.0 to 25.5 dB with the blend at 96x144;
    # - moving the network to 96x144 for phases 2-3 (the paper's small -> larger step)
    #   changes the scale of its input and cost 0.5 dB there; the loss already sees the
    #   full 96x144. docs/synthetic_data.md has the runs.
    # 160 + 64 + 64 steps: with 100 + 24 + 16 the model did not beat the global blurs on the
    # synthetic validation split.
    blend = dict(blend_resolution=(96, 144))
    config.phase1 = common.phase((64, 96), "l1", 1e-3, 3e-4, 160, eval_every=80,
                                 checkpoint_every=80, **blend)
    config.phase2 = common.phase((64, 96), "l1", 3e-4, 1e-4, 64, eval_every=32,
                                 checkpoint_every=32, **blend)
    config.phase3 = common.phase((64, 96), "ssim", 1e-4, 3e-5, 64, eval_every=32,
                                 checkpoint_every=32, **blend)
    # The focus loss (bokeh_jax.data.focus_labels): the synthetic pairs' depth says where the
    # subject is, which the image loss says only at textured pixels. Chosen on the
    # synthetic validation split (48 images, final model): weight 0 gave 25.16 dB / 0.8633,
    # 0.1 gave 25.27 / 0.8754, 1.0 gave 25.10 / 0.8691 (docs/synthetic_data.md).
    config.focus_loss_weight = 0.1
    config.val_images = 24
    # The pairs' blur is in full-size pixels: a real photo is rendered by blending it at
    # full size with the upsampled weights, as the validation pairs are (96x144, the
    # network at 64x96) and as training blends them. Recorded in the checkpoint; eval and
    # render default to it.
    config.val_policy = "fullres"
    config.log_every = 10
    config.eval_at_end = True
    config.render_at_end = True
    return config
