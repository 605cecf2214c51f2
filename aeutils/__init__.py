"""aeutils: helpers shared by the face-autoencoder notebooks and the `aeutils` command line.

This level holds the core every folder may import, and which imports none of them: profiles and
folders (`config`), the one user-facing error (`errors`), images in and out (`images`, `color`), metrics,
TensorBoard (`tb`), the notebooks' inline figures (`notebook`), checkpoints and shipped models
(`checkpoint`, `zoo`), the training loop (`train`), tiled inference (`tiles`), folders of inputs
(`batch`), and the command line (`cli`, `train_cli`), which reaches the folders' commands by module
name only. Above it, each folder imports only those below: `models` and `datasets`, then `codec`,
`benchmark`, `tasks`, and `demo` on top.
"""

__version__ = "0.1.0"
