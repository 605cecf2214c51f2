"""The task contract (`aeutils.task`) and the one zoo loader: every registered task declares a loader,
the trainers `aeutils train` runs are the tasks' own, and every shipped file loads through `zoo.load`
into the model its task runs, in eval mode, with the file's weights exactly; the model cards the
card writers make from the shipped files are the committed ones."""
from __future__ import annotations

import json

import pytest
import torch

from aeutils import config, task, train_cli, zoo
from aeutils.errors import UserError

SHIPPED = sorted(p.stem for p in config.WEIGHTS_DIR.glob("*.pt"))


@pytest.mark.parametrize("name", sorted(task.REGISTRY))
def test_every_registered_task_declares_its_contract(name):
    t = task.get(name)
    assert isinstance(t, task.Task) and t.name == name and callable(t.load)
    assert (t.main is not None) == (name in task.TRAINED)  # `aeutils train` runs exactly the trainers
    assert t.card is None or callable(t.card)


def test_aeutils_train_runs_the_tasks_trainers():
    assert train_cli.TASKS == task.TRAINED
    with pytest.raises(UserError, match="unknown task 'bogus'"):
        task.get("bogus")


def _network(model) -> torch.nn.Module:
    return model if isinstance(model, torch.nn.Module) else model.model  # a codec holds its network


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_file_loads_through_the_zoo(name):
    """The file's weights (float16, back in float32) are the model's, bit for bit, in their order."""
    ck = zoo.load_shipped(name)
    network = _network(zoo.load(name))
    assert not network.training
    loaded = iter(network.state_dict().values())
    for key, value in ck["state_dict"].items():
        assert any(torch.equal(value, t) for t in loaded), f"{name}: {key} is not the file's"


def test_a_file_of_another_task_is_refused_in_one_line():
    with pytest.raises(UserError, match="is a codec model, not a repair model"):
        zoo.load("face-codec", task="repair")
    with pytest.raises(UserError, match="unknown model 'no-such-model'"):
        zoo.load("no-such-model")


@pytest.mark.skipif("colorize-faces" not in SHIPPED, reason="no shipped colorizer")
def test_the_shipped_colorizer_card_is_its_card_writer_s():
    weights = config.WEIGHTS_DIR / "colorize-faces.pt"
    assert task.get("colorize").card(weights) == weights.with_suffix(".md").read_text()


@pytest.mark.parametrize("scale", [4, 8])
def test_the_shipped_super_resolution_cards_are_their_card_writer_s(scale):
    results = config.RESOURCES_DIR / "superres" / f"results_x{scale}.json"
    if not results.is_file():
        pytest.skip("no measured super-resolution results")
    for variant in ("srresnet", "srgan", "photo"):
        weights = config.WEIGHTS_DIR / f"sr-x{scale}-{variant}.pt"
        if weights.is_file():
            card = task.get("superres").card(weights, json.loads(results.read_text()))
            assert card == weights.with_suffix(".md").read_text()
