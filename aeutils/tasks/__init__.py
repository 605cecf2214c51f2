"""One module per trainable task, each with its hparams per profile, data, losses, training,
evaluation, shipping and its `main(argv)` behind `aeutils train TASK`: the compressive autoencoder of
the seven experiments (`cae`), damage repair (`repair`, with `holes`, which finds holes when no mask is
given), colorization (`colorize`) and super-resolution (`superres`). A task imports the core, the
networks of `aeutils.models`, `aeutils.datasets` and `aeutils.benchmark`; only the demo imports a task,
and the command line reaches one by name (`aeutils.train_cli`, `aeutils.cli`), never by import."""
