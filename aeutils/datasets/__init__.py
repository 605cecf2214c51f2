"""Where the images come from: the face data sets split by identity (`sources`), photo-like training
crops and validation faces from several sources (`photos`), the compilers that turn VoxCeleb2 clips or an
image folder into PNGs plus a manifest (`compile`), the tiny VoxCeleb2-shaped fixture for CI
(`fixtures`) and the seeded synthetic damage the repair models learn to undo (`damage`). Modules here
import only the core (`aeutils.config`, `images`, `errors`); the codec, benchmark, tasks and demo
import them."""
