"""Colorization of grayscale faces (notebook 10, `docs/colorization.md`) in CIE Lab: the model sees the
lightness L and predicts the chroma ab, and the output keeps the input's L (`aeutils.color.combine`).
`hparams` holds the settings per profile; `data` the (L, ab) face pairs, the face splits and the Kodak
images; `model` building, loading and applying a colorizer to images of any size; `evaluate` the metrics,
and for photos from any source (issue #16) the comparison against gray and the bars a model must meet;
`figures` the notebook's and the cards' tables and plots; `train` the aligned-face study, the photo
fine-tune and `main(argv)` behind `aeutils train colorize`; `ship` the shipped file with its chroma
factor and model card; `cli` the `aeutils colorize` command. These modules import each other directly,
never this file, which re-exports what notebooks, tests, scripts and the demo use and declares `TASK`;
no other task imports this folder (the command line and the zoo reach it by module name)."""
from aeutils.task import Task
from aeutils.tasks.colorize.data import LabFaces, faces, kodak_images
from aeutils.tasks.colorize.evaluate import CAST_MAX, against_gray, evaluate, image_metrics, select_score
from aeutils.tasks.colorize.figures import comparison_grid, plot_curves, plot_rows, results_table, sources_table
from aeutils.tasks.colorize.hparams import PhotoConfig, StudyConfig, hparams, photo_hparams
from aeutils.tasks.colorize.model import (
    APPROACHES,
    DEFAULT_MODEL,
    NAME,
    WORK_SIDE,
    build,
    colorize_image,
    colorize_tensor,
    load,
    load_run,
    make_arch,
)
from aeutils.tasks.colorize.ship import (
    CHROMA_FACTORS,
    HUE_TURNS,
    TINT_FACTORS,
    choose_chroma,
    model_card,
    ship,
    training_hue,
    turned,
)
from aeutils.tasks.colorize.train import default_run_dir, main, step_fn, train, train_photos

__all__ = [
    "APPROACHES", "CAST_MAX", "CHROMA_FACTORS", "DEFAULT_MODEL", "HUE_TURNS", "TASK", "WORK_SIDE", "LabFaces",
    "PhotoConfig", "StudyConfig", "against_gray", "build", "choose_chroma", "colorize_image", "colorize_tensor",
    "comparison_grid", "default_run_dir", "evaluate", "faces", "hparams", "image_metrics", "kodak_images", "load",
    "load_run", "main", "make_arch", "model_card", "photo_hparams", "plot_curves", "plot_rows", "results_table",
    "select_score", "ship", "sources_table", "step_fn", "TINT_FACTORS", "train", "train_photos", "training_hue",
    "turned",
]

TASK = Task(NAME, main=main, load=load, card=model_card)
