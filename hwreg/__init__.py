"""hwreg: hardware co-design toolkit for learned, quantized 3D medical image registration.

Stages (each a module with an in-memory API, a file API and a thin ``hwreg <stage>`` command):
``data`` (NIfTI loading, datasets, synthetic default data, model grid), ``warp`` (DDF
convention and warping), ``metrics`` (Dice, TRE, Jacobian folding).
"""

__version__ = "0.1.0"
