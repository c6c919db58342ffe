"""Shared training configuration: the paper's recipe with our documented defaults.

    python train.py --config phase1 --workdir runs/ebb --config.init_checkpoint=megadepth_jax/

Not a runnable phase by itself: phase1/phase2/phase3/demo import it and override what
differs. What the paper fixes (docs/method.md): three phases (L1, L1, negative SSIM), Adam, a
learning rate from 1e-3 decreasing to 1e-5, horizontal and vertical flips, kernels
25/45/75. What it leaves open, with our choice: phase resolutions (256x384, then 384x576),
Adam betas (0.9, 0.999), batch size (8), step counts, the schedule's shape (geometric),
the head's kernel (3x3).
"""

import ml_collections

from bokeh_jax.names import PAPER_KERNELS


def phase(resolution, loss, lr_start, lr_end, num_steps, *, global_batch_size=8,
          eval_every=2000, checkpoint_every=1000, warmup_steps=0, blend_resolution=()):
    return ml_collections.ConfigDict(dict(
        resolution=tuple(resolution),  # (H, W) the network is trained at; multiples of 16
        # (H, W) the pairs are read, blended (Eq. 1) and scored at, the network's weights
        # upsampled to it: the "fullres" test policy, in training. Empty: `resolution` (the
        # paper's training, the blend at the network's size).
        blend_resolution=tuple(blend_resolution),
        loss=loss,  # "l1" or "ssim" (negative dm-pix SSIM)
        lr_start=lr_start, lr_end=lr_end, warmup_steps=warmup_steps,
        num_steps=num_steps, global_batch_size=global_batch_size,
        eval_every=eval_every, checkpoint_every=checkpoint_every))


def get_config() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    # Data: a dataset prepared with `python -m bokeh_jax.data.prepare`.
    c.dataset = "ebb"
    c.data_dir = ""  # empty: TFDS's default (~/tensorflow_datasets or $TFDS_DATA_DIR)
    c.train_split = "train"
    c.val_split = "val294"
    c.num_workers = 2  # grain worker processes for decoding and resizing
    c.synthetic = ml_collections.ConfigDict(dict(
        height=256, width=384, num_train=2000, num_val=200, seed=0))  # synthetic_bokeh only

    # Model.
    c.kernel_sizes = PAPER_KERNELS
    c.head_kernel = 3
    # The hourglass's depth: 4 is MegaDepth (the paper; MegaDepth's weights need it). 1-3
    # keep only its outer levels: a smaller network from random weights (docs/network.md).
    c.hourglass_levels = 4
    # The blurred copies' kernel: the paper's "gaussian"; "disk" or "polygon" (blades,
    # rotation in degrees) are the paper's future work (configs ablation_disk/_polygon).
    c.aperture = "gaussian"
    c.blades = 6
    c.rotation = 0.0
    c.init_checkpoint = ""  # phase 1: converted MegaDepth folder or its .pth; empty: random
    c.head_init = "depth-prior"  # weight head when starting from a MegaDepth .pth
    c.bn_mode = "train"  # "train": update BN statistics; "frozen": keep the converted ones
    # Activations and convolutions: "float32", or "bfloat16" mixed precision for GPUs/TPUs
    # (float32 parameters, optimizer state, BatchNorm statistics, losses and blend).
    c.dtype = "float32"

    # Loss: each phase's image loss (L1 or -SSIM, below), plus this weight times the focus
    # loss, a cross-entropy of the sharp weight against in-focus labels from the pairs'
    # depth (synthetic_bokeh only; bokeh_jax.data.focus_labels). 0: the paper's loss.
    c.focus_loss_weight = 0.0

    # Optimiser (per-phase learning rates below).
    c.adam_b1 = 0.9
    c.adam_b2 = 0.999
    c.grad_clip_norm = 0.0  # 0: no clipping

    # Phases: which to run, and each one's settings (override as --config.phase2.num_steps=...).
    c.phases = (1,)
    c.phase1 = phase((256, 384), "l1", 1e-3, 2e-4, 20_000)
    c.phase2 = phase((384, 576), "l1", 2e-4, 5e-5, 10_000)
    c.phase3 = phase((384, 576), "ssim", 5e-5, 1e-5, 5_000)

    # Validation, checkpoints, logs.
    c.val_images = 0  # validation images per evaluation; 0: the whole split
    c.val_policy = "paper"  # "paper" (resize, run, resize back) or "fullres"
    c.keep_checkpoints = 2
    c.log_every = 50
    c.seed = 0
    # Several processes (docs/multihost.md): True auto-detects them with
    # jax.distributed.initialize() (SLURM, Open MPI, TPU); or give train.py
    # --coordinator_address, --num_processes, --process_id.
    c.multihost = False
    c.eval_at_end = False  # run eval.py's evaluation (with baselines) after the last phase
    c.render_at_end = False  # render the sample photos with the final model
    return c
