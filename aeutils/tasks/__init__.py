"""One folder per trainable task, each with its settings per profile, data, training, evaluation,
shipping, figures and its `main(argv)` behind `aeutils train TASK`: the compressive autoencoder of the
seven experiments (`cae/`), damage repair (`repair/`, with `holes`, which finds holes when no mask is
given), colorization (`colorize/`) and super-resolution (`superres/`). Adding a task is one new folder
and one line in the registry of `aeutils.task`.

Each task's `__init__.py` re-exports what notebooks, scripts, tests and the demo use and declares its
part of the task contract (`aeutils.task`), `TASK = Task(name, load, main, card)`: the name its shipped
files record, `load(ck)` (a shipped file's dict -> the ready model, in eval mode, what `zoo.load`
returns), its trainer, and the writer of its model card. A task imports the core, the networks of
`aeutils.models`, `aeutils.datasets`, `aeutils.codec`, `aeutils.benchmark` and its own folder, never
another task; only the demo imports a task, and the command line (`aeutils.train_cli`, `aeutils.cli`)
and the zoo (`aeutils.task`) reach one by module name, never by import."""
