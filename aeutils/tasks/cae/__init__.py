"""The seven compression experiments of the original report (seed-report.md), shared by notebooks 01-07
and `aeutils train cae --experiment N`, one concern a module: `hparams` (each experiment's `Hparams` per
profile and the model they build), `data` (training crops, validation and test images), `evaluate`
(reconstructions, PSNR/SSIM, the latent's bpp, JPEG 2000 at the same rate, the one test evaluation),
`runs` (where a run and its results JSON live; a trained experiment read back and shipped), `train`
(`train_experiment`, on one device or under torchrun, and `main`) and `figures` (the notebooks' figures
and tables). The modules import each other directly, never this file, which re-exports what notebooks,
tests and scripts call (`from aeutils.tasks import cae; cae.hparams(7)`) and declares the task. Inside
the package only the demo may import a task; the command line and the zoo reach it by module name
(`aeutils.task`)."""
from aeutils.task import Task
from aeutils.tasks.cae.evaluate import latent_bpp
from aeutils.tasks.cae.figures import checkerboard_figure, hparams_table, reconstruction_figure, results_table
from aeutils.tasks.cae.hparams import CPU_LR_FINAL_SHARE, GPU_SCHEDULE, GPU_VAL_SIZE, build_model, hparams
from aeutils.tasks.cae.runs import RESULTS_DIR, load, load_results, results_path, run_dir_for, ship_experiment
from aeutils.tasks.cae.train import main, pick_device, train_experiment, training_threads

__all__ = [
    "CPU_LR_FINAL_SHARE", "GPU_SCHEDULE", "GPU_VAL_SIZE", "RESULTS_DIR", "TASK", "build_model", "checkerboard_figure",
    "hparams", "hparams_table", "latent_bpp", "load", "load_results", "main", "pick_device", "reconstruction_figure",
    "results_path", "results_table", "run_dir_for", "ship_experiment", "train_experiment", "training_threads",
]

TASK = Task("cae", main=main, load=load)  # the model card of cae-exp7 is written by hand
