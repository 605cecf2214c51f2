"""`aeutils train TASK --help` lists the same common options for every task (declared once, in
`aeutils.options.add_training_options`), and a bad one is one line and exit status 2."""
from __future__ import annotations

import pytest

from aeutils import cli, train_cli

COMMON = ("--profile", "--run-dir", "--steps", "--minutes", "--threads", "--no-progress")


@pytest.mark.parametrize("task", sorted(train_cli.TASKS))
def test_every_trainer_lists_the_common_options(task, capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["train", task, "--help"])
    assert e.value.code == 0
    usage = capsys.readouterr().out
    assert [o for o in COMMON if o not in usage] == []


@pytest.mark.parametrize("task", sorted(train_cli.TASKS))
def test_a_bad_profile_is_one_line_for_every_trainer(task, capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["train", task, "--profile", "bogus"])
    err = capsys.readouterr().err
    assert e.value.code == 2 and len(err.strip().splitlines()) == 1 and "unknown profile 'bogus'" in err
