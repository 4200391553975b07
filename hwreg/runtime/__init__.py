"""The host runtime: the prologue/epilogue around the accelerator (:mod:`.host`) and label-free
registration of NIfTI pairs with a trained model (:mod:`.register`, ``hwreg register``)."""
