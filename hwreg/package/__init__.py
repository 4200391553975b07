"""The board package (``hwreg package``): the stitched RTL of L5, an AXI-stream top for the DMA,
a Vivado Tcl flow for the Zynq boards, the host driver and a manifest (:mod:`.package`,
:mod:`.flow`). The driver itself is :mod:`hwreg.runtime.driver`."""
