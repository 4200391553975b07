"""Open-source synthesis of a build: Yosys on every layer (:mod:`.yosys`, :mod:`.synth`,
``hwreg synth``), MVAUs fully unrolled with constant weights (:mod:`.mvau_const`), each netlist
checked under the Verilator harness (:mod:`hwreg.rtl.harness`) before it is synthesised.

Input: a build folder (``hwreg build``, through ``step_set_folding``); output: per-layer
LUT/FF/BRAM/DSP next to FINN's estimates and the pruning payoff (``synth.json``, ``synth.md``).
"""
