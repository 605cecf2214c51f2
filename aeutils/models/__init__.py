"""Networks only: the building blocks (`layers`), the entropy models and their coding tables
(`entropy`), the compressive autoencoder (`cae`), the codec's mean-scale hyperprior (`hyperprior`),
the repair, colorization and super-resolution networks (`repair`, `colorize`, `sr`) and the frozen
pretrained feature encoder (`features`). Modules here import only the core (`zoo` and `checkpoint` to
rebuild shipped weights, `color`) and each other; everything above them may import them, and they
import nothing above."""
