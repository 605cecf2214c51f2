"""Damage repair (notebook 09, docs/repair.md), one concern per module: `hparams` the settings per profile
(the study's architectures and training, the wide models') and per damage; `mosaic` finding a mosaic
(the default and the mosaic model run only where there is one); `infer` tiled inference, the default
`AutoRepair` and loading the shipped models; `holes` finding holes when no mask is given; `data` the
training pairs and the fixed evaluation cases; `evaluate` the test tables against the classical
baselines; `figures` the notebook's plots; `train` the trainers and `main(argv)` behind `aeutils train
repair`; `ship` the model cards; `cli` the `aeutils repair` command. Each module imports only those
listed before it, directly (never through this `__init__`), and no other task; this `__init__`
re-exports what the notebook, the scripts, the tests and the demo use (`from aeutils.tasks import
repair`) and declares the task's contract (`TASK`)."""
from __future__ import annotations

from aeutils.task import Task
from aeutils.tasks.repair.data import WidePairs
from aeutils.tasks.repair.evaluate import evaluate, markdown_table, save_results
from aeutils.tasks.repair.figures import BEST, damage_figure, example_figure, val_curves
from aeutils.tasks.repair.hparams import (
    INPUTS,
    INPUTS_TOLD,
    JPEG_KINDS,
    JPEG_TRAIN,
    JPEG_VAL,
    MODELS,
    WIDE_SCALE,
    study_hparams,
    wide_arch,
    wide_hparams,
)
from aeutils.tasks.repair.infer import (
    BLUR_GATE,
    EVEN_NOISE_RAMP,
    EVEN_RAMP,
    GIVEN_CAP,
    GIVEN_RAMPS,
    GREY_BELOW,
    GREY_RAMP,
    JPEG_FILL_RADIUS,
    JPEG_LEAVE_ABOVE,
    JPEG_NOISE_RAMP,
    NOISE_LIMITS,
    NOISE_RAMPS,
    SPREAD_RAMP,
    AutoRepair,
    blur_repairable,
    chroma_spread,
    colourfulness,
    denoise,
    denoise_given,
    estimate_noise,
    evenness,
    first_ramp,
    given_level,
    is_grey,
    leave_as_is,
    load,
    load_model,
    mark,
    model_for,
    noise_level,
    noise_ramp,
    noise_share,
    prefill,
    repair_array,
    repair_known,
    repair_region,
    run_told,
    spread_share,
    unmosaic,
)
from aeutils.tasks.repair.jpeg_noise import estimate_jpeg_noise
from aeutils.tasks.repair.mosaic import MOSAIC_GATE, Region, find_mosaic, find_region, mosaic_gaps, mosaic_grid
from aeutils.tasks.repair.ship import card, model_card, wide_model_card
from aeutils.tasks.repair.train import (
    LOSS,
    blind_model,
    compare_architectures,
    main,
    specialist_models,
    train_model,
    train_wide,
)

__all__ = [
    "AutoRepair", "BEST", "BLUR_GATE", "EVEN_NOISE_RAMP", "EVEN_RAMP", "GIVEN_CAP", "GIVEN_RAMPS", "GREY_BELOW",
    "GREY_RAMP", "INPUTS", "INPUTS_TOLD", "JPEG_FILL_RADIUS", "JPEG_KINDS", "JPEG_LEAVE_ABOVE", "JPEG_NOISE_RAMP",
    "JPEG_TRAIN", "JPEG_VAL", "LOSS", "MODELS", "MOSAIC_GATE", "NOISE_LIMITS", "NOISE_RAMPS", "Region", "SPREAD_RAMP",
    "TASK", "WIDE_SCALE", "WidePairs", "blind_model", "blur_repairable", "card", "chroma_spread", "colourfulness",
    "compare_architectures", "damage_figure", "denoise", "denoise_given", "estimate_jpeg_noise", "estimate_noise",
    "evaluate", "evenness", "example_figure", "find_mosaic", "find_region", "first_ramp", "given_level", "is_grey",
    "leave_as_is", "load", "load_model", "main", "mark", "markdown_table", "model_card", "model_for", "mosaic_gaps",
    "mosaic_grid", "noise_level", "noise_ramp", "noise_share", "prefill", "repair_array", "repair_known",
    "repair_region", "run_told", "save_results", "specialist_models", "spread_share", "study_hparams", "train_model",
    "train_wide", "unmosaic", "val_curves", "wide_arch", "wide_hparams", "wide_model_card",
]

TASK = Task("repair", main=main, load=load, card=card)
