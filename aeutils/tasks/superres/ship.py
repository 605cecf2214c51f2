"""Shipping: the validated generators copied to weights/, each with a model card that says how it
was trained and what the test measured of it."""
from __future__ import annotations

from pathlib import Path

from aeutils import config, zoo
from aeutils.models.sr import SRResNet
from aeutils.tasks.superres.generators import FINAL_CHECKPOINT, load, load_generator_weights
from aeutils.tasks.superres.hparams import DEVICE_NOTE, LR_NOTE, NAME, PHOTO_LR_NOTE, PHOTO_SCALE, VARIANTS


def ship(scale: int, profile: str, results: dict, run_root: Path | None = None, weights_dir: Path | None = None,
         exclusive: bool = False) -> list[Path]:
    """Copy each validated variant of `scale` that `results` measured to weights/sr-x{scale}-{variant}.pt
    with a model card (`exclusive`: refuse to replace an existing .pt)."""
    run_root = run_root or config.RUNS_DIR / "superres"
    weights_dir = weights_dir or config.WEIGHTS_DIR
    written = []
    for variant, phase in VARIANTS.items():
        run_dir = run_root / f"{profile}-x{scale}-{variant}"
        if variant not in results["runs"]:
            continue
        info = results["runs"][variant]
        hp = info["hparams"]
        g = SRResNet(scale, hp["channels"], hp["blocks"])
        load_generator_weights(g, run_dir / FINAL_CHECKPOINT[phase])
        name = f"sr-x{scale}-{variant}"
        zoo.save_shipped(weights_dir / f"{name}.pt", NAME, g.arch(), g, metrics=results["methods"][variant],
                         exclusive=exclusive, phase=phase, variant=variant,
                         perceptual_source=hp.get("perceptual_source"), profile=profile)
        (weights_dir / f"{name}.md").write_text(model_card(weights_dir / f"{name}.pt", results))
        written.append(weights_dir / f"{name}.pt")
    return written


# when `aeutils upscale` runs a variant unasked (cli.variant_for), as its card says
USE = {"srresnet": "the default of `aeutils upscale` for lossless inputs (PNG, ...), and for JPEG inputs at x8; ",
       "photo": "the default of `aeutils upscale` for JPEG inputs; "}


def model_card(weights: Path, results: dict) -> str:
    """The model card of a generator shipped by `ship`: its file, and the measurement `evaluate_test`
    made of it (`results`: its run's hparams and validation numbers, and the test table beside bicubic
    and Lanczos)."""
    ck = zoo.load_shipped(str(weights), task=NAME)
    g, phase, variant, name = load(ck), ck["phase"], ck["variant"], weights.stem
    info = results["runs"][variant]
    test = {m: results["methods"][m] for m in ("bicubic", "lanczos", variant)}
    hp = info["hparams"]
    n_params = sum(p.numel() for p in g.parameters())
    loss = ("L1 pixel loss" if phase == "srresnet" else
            f"{hp['pixel_weight']} x L1 + {hp['perceptual_weight']} x perceptual (relative feature distance, "
            f"features: {hp.get('perceptual_source')}) + {hp['adversarial_weight']} x adversarial (BCE, "
            f"discriminator of {hp['d_channels']} base channels)")
    rows = "\n".join(f"| {m} | {v['psnr']:.2f} | {v['ssim']:.4f} | {v['grad_ratio']:.3f} | "
                     f"{v.get('feature_dist', float('nan')):.4f} |" for m, v in test.items())
    minutes = (info.get("train_seconds") or 0) / 60
    method = {"srresnet": "SRResNet (PSNR-oriented)",
              "photo": "SRResNet (PSNR-oriented), trained on photo-like, mostly JPEG inputs",
              "srgan": "SRGAN (perceptual + adversarial fine-tuning of the SRResNet)"}[variant]
    chosen = ("the best validation PSNR" if phase == "srresnet"
              else "the last one (a distortion-type validation score would pick the least adversarial checkpoint)")
    terms = ("CelebA is for non-commercial research only (Liu et al., ICCV 2015); these weights inherit\n"
             "  that restriction.")
    if hp.get("data", "celeba") == "celeba":
        data = (f"CelebA aligned faces, training identities 0-159, random {hp['crop']}x{hp['crop']} crops with\n  "
                f"flips; low-resolution input: {LR_NOTE}.")
        val = (f"on CelebA validation identities 160-169 ({hp['val_images']} centre crops); validation PSNR\n  "
               f"{info['val']['psnr']:.2f} dB, grad_ratio {info['val']['grad_ratio']:.3f}.")
    else:
        data = (f"photo-like {hp['crop']}x{hp['crop']} crops (`superres.PhotoPairs` over `photos.PhotoCrops`, "
                f"scale {PHOTO_SCALE}:\n  anywhere in the image, flipped, brightness / contrast / colour jitter) "
                "of CelebA training identities 0-159 and of VoxCeleb2\n  dev-identity frames sampled once a second "
                f"(`data/voxceleb2-dense`; {hp.get('train_data')}), never lfw-val; low-resolution input:\n  "
                f"{PHOTO_LR_NOTE}.")
        val = (f"on a sweep of {hp['val_images']} whole validation faces per source (CelebA identities 160-169, "
               "VoxCeleb2\n  validation identities, even-numbered lfw-val), each small input as PNG and as JPEG "
               "q90 / q75 / q50 (`photo_scores`):\n  "
               "mean PSNR {psnr:.2f} dB (PNG {png:.2f}, JPEG {jpeg:.2f}), {gain:+.2f} dB over the better of "
               "bicubic and Lanczos.".format(**info["val"]))
        terms += " VoxCeleb2 is CC BY 4.0 (Chung, Nagrani, Zisserman, Interspeech 2018)."
    ensemble = ("\n- Run as a flip self-ensemble (`superres.forward`: the mean of its output and of its output on the "
                "mirrored input,\n  mirrored back), also in the test numbers below; validation chose the checkpoint "
                "run once." if g.mirrored else "")
    return f"""# {name}

x{g.scale} face super-resolution, {method}.
Use: {USE.get(variant, "")}`aeutils upscale IN OUT --scale {g.scale} --model {name}`.

- Architecture: `aeutils.models.sr.SRResNet(scale={g.scale}, channels={g.channels}, blocks={g.blocks})`:
  residual blocks without batch norm, sub-pixel x2 stages, global residual over bicubic;
  {n_params:,} parameters (stored in float16).
- Training data: {data}
- Loss: {loss}.
- Optimiser: Adam, lr {hp['lr']:g}, batch {hp['batch']}; {info.get('steps')} steps, {minutes:.1f} minutes of
  training ({hp['profile']} profile) on a {DEVICE_NOTE}. Started from: {hp.get('init')}.
- Checkpoint: {chosen}
  {val} Wall time is of a 2-core CPU shared with other jobs.{ensemble}
- Terms: {terms}

## Test numbers
{results['images']} CelebA test-identity images (identities 170-199), {results['crop']} crops, x{g.scale}.
PSNR/SSIM on 8-bit RGB. grad_ratio: {results['sharpness_labels']['grad_ratio']}.
feature_dist: {results['sharpness_labels']['feature_dist']}.

| method | PSNR (dB) | SSIM | grad_ratio | feature_dist |
|---|---|---|---|---|
{rows}

Small inputs saved as PNG or JPEG, on faces of three sources (CelebA, VoxCeleb2, lfw-val):
`python scripts/robustness.py --kinds none --upscale` (`resources/superres/robustness.json`, docs/superres.md).
"""
