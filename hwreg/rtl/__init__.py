"""Vivado-free RTL emulation: the one Verilator harness (build cache, flags, run;
:mod:`.harness`), Python references of the stream ops FINN offers only as HLS
(:mod:`.reference`), their FINN-interface tops (:mod:`.tops`), per-layer simulation of a build's
hardware graph (L4, :mod:`.layers`) and the stitched accelerator (L5, :mod:`.stitch`).

Input: a folded FINN hardware graph (``BUILD/intermediate_models/step_set_folding.onnx``) and its
L3 execution context; output: per-layer and whole-accelerator exactness, cycles and speed.
"""
