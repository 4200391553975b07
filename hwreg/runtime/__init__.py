"""The host runtime: the prologue/epilogue around the accelerator (:mod:`.host`), label-free
registration of NIfTI pairs with a trained model (:mod:`.register`, ``hwreg register``) and its
batch mode over a CSV of pairs (:mod:`.batch`, ``hwreg register --pairs``), the driver of a
packaged accelerator with its ``pynq`` and ``verilator`` transports (:mod:`.driver`, copied into
every ``hwreg package``) and registration on a package (:mod:`.board`, ``--device
verilator|pynq --package PKG``)."""
