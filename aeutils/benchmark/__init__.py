"""What the learned models are measured against, and how: the classical codecs behind one codec
protocol (`classical`), classical restoration that needs no training (`baselines`), the codec
comparison's sweep and results JSON (`compare`) with its figures drawn from those files alone
(`figures`), and the repair models' sweep over every damage strength (`robustness`). Modules here
import the core, `aeutils.models`, `aeutils.datasets` and `aeutils.codec`; the tasks and the demo
import them, never the other way round."""
