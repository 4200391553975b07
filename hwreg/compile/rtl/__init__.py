"""Vivado-free RTL emulation: a multi-stream Verilator harness with a build cache
(:mod:`.harness`), Python references of the stream ops FINN offers only as HLS
(:mod:`.reference`), their FINN-interface tops (:mod:`.tops`) and per-layer (L4) simulation of a
build's hardware graph (:mod:`.layers`)."""
