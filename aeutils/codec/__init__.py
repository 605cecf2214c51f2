"""The learned face codec as a file format: the byte layout with its CRC (`bitstream`), the coder that
turns an image into such a file and back with a shipped model, plus the `compress`, `decompress` and
`models` commands (`coder`), and the codec's rate-distortion training (`train`, `aeutils train codec`).
Modules here import the core, `aeutils.models` and `aeutils.datasets`; the benchmark and the demo
import them, the networks in `aeutils.models` never do."""
