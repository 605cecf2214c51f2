"""Super-resolution of faces, SRResNet then SRGAN (Ledig et al. 2017), one concern per module:
`hparams` (SRConfig, the settings per profile, and the notes the records repeat), `data` (the LR inputs,
PhotoPairs, the evaluation images), `losses` (perceptual and adversarial terms, the training step),
`generators` (loading weights, the checkpoint each phase ships, tiled inference), `evaluate` (measuring,
the test table), `train` (one phase's training and `main`, behind `aeutils train superres`), `ship`
(weights/ and the model card), `cli` (`aeutils upscale`) and `figures` (notebook 11's plots and tables).
The modules import each other directly, never through this file, which re-exports the names that
notebooks, tests, scripts and the demo use and declares the task's `TASK`. Like any task, the folder
imports the core, `aeutils.models`, `aeutils.datasets`, `aeutils.codec` and `aeutils.benchmark`, never
another task; only the demo imports it, and the command line and the zoo reach it by module name."""
from __future__ import annotations

from aeutils.task import Task
from aeutils.tasks.superres.data import PhotoPairs, center_crop, downscale, eval_images
from aeutils.tasks.superres.evaluate import classical_methods, evaluate_test, measure, model_method, sharpness_metrics
from aeutils.tasks.superres.figures import plot_comparison, plot_curves, plot_samples_by_step, results_table
from aeutils.tasks.superres.generators import forward, load, mark, upscale_tiled
from aeutils.tasks.superres.hparams import NAME, VARIANTS, SRConfig, hparams
from aeutils.tasks.superres.losses import discriminator_loss, generator_adversarial_loss
from aeutils.tasks.superres.ship import model_card, ship
from aeutils.tasks.superres.train import default_run_dir, main, train

__all__ = [
    "VARIANTS", "PhotoPairs", "SRConfig", "TASK", "center_crop", "classical_methods", "default_run_dir",
    "discriminator_loss", "downscale", "eval_images", "evaluate_test", "forward", "generator_adversarial_loss",
    "hparams", "load", "main", "mark", "measure", "model_card", "model_method", "plot_comparison", "plot_curves",
    "plot_samples_by_step", "results_table", "sharpness_metrics", "ship", "train", "upscale_tiled",
]

TASK = Task(NAME, main=main, load=load, card=model_card)
