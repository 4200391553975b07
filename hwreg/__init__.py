"""hwreg: hardware co-design toolkit for learned, quantized 3D medical image registration.

The walk of one volume pair, stage by stage; each stage has an in-memory API, a file API and a
thin ``hwreg`` command (:mod:`hwreg.cli`, which nothing in the package imports), and imports only
the stages before it:

- :mod:`hwreg.data`: NIfTI loading, datasets, the embedded default data, the model grid;
- :mod:`hwreg.model`, :mod:`hwreg.warp`, :mod:`hwreg.metrics`: the Brevitas 3D DDF network, the
  one DDF convention, Dice / TRE / folding;
- :mod:`hwreg.losses`, :mod:`hwreg.train`, :mod:`hwreg.evaluate`: label-driven training and
  held-out evaluation; :mod:`hwreg.compress`, :mod:`hwreg.prune`: global magnitude pruning;
- :mod:`hwreg.export` (Brevitas -> QONNX), :mod:`hwreg.compile` (QONNX -> FINN hardware layers,
  folding, estimates, HDL), :mod:`hwreg.rtl` (the Verilator harness, L4 per layer, L5 stitched),
  :mod:`hwreg.synth` (Yosys), :mod:`hwreg.runtime` (host prologue/epilogue, registration of NIfTI
  pairs), :mod:`hwreg.emulate` (bit-exact levels L1..L5);
- :mod:`hwreg.studies`: the demo and the bit-width x sparsity sweep, calling the library with
  typed configs.

Configuration: :mod:`hwreg.config` (strict YAML, the one default model grid, ``DataConfig``) and
:mod:`hwreg.run` (``RunConfig``, composed of every stage's section); model files:
:mod:`hwreg.checkpoint`; the two error families: :mod:`hwreg.errors`.
"""

__version__ = "0.1.0"
