"""``hwreg bitstream --build B --out DIR``: the build's board top (PLL, UART host link, the whole
stitched accelerator) through Yosys, nextpnr-ecp5 and ecppack (:mod:`hwreg.synth.pnr`) for an
ECP5 board, with the clock constrained at the build's target clock.

``DIR/bitstream.json`` adds to :func:`hwreg.synth.pnr.place_and_route`'s numbers the build's
estimates in the same units, the pairs/s at the achieved Fmax (FINN's bottleneck cycles per
volume) and what the UART link allows (bytes per volume at 115200 baud).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from hwreg.atomic import staged_dir
from hwreg.errors import UserError
from hwreg.synth.pnr import BitstreamError, keep_outputs, place_and_route
from hwreg.synth.top import estimates, load_build, rtl_backend, stitched_top


def link_rate(shape: dict[str, Any], baud: int) -> dict[str, Any]:
    """Bytes per volume each way on the UART link and the pairs/s that allows (10 bits a byte;
    the slower direction decides)."""
    from hwreg.runtime.uart_link import MAX_PAYLOAD

    data = shape["in_beats"] * shape["in_width"] // 8
    frames = -(-data // MAX_PAYLOAD)
    up = data + 4 * frames
    down = shape["out_beats"] * (4 + shape["out_width"] // 8) + 5 * frames
    return {"baud": baud, "bytes_to_board": up, "bytes_from_board": down,
            "pairs_per_s": round(baud / 10 / max(up, down), 4)}


def bitstream_build(build_dir: str | Path, out_dir: str | Path, board: str | None = None,
                    force: bool = False, seed: int = 1, timeout_s: float = 3600.0,
                    backend: str | None = None) -> dict[str, Any]:
    """Write ``out_dir`` (see :mod:`hwreg.synth.pnr`) for ``build_dir`` on ``board`` (default:
    the build's; an ECP5 board), MVAU/Thresholding RTL of ``backend`` (default ``hwreg``:
    :func:`hwreg.synth.top.rtl_backend`). Returns ``bitstream.json``'s content; raises
    BitstreamError (after writing the reports, without a ``.bit``) when the design does not fit
    or misses timing, UserError when the board is not ECP5 or Yosys cannot synthesise the
    build's RTL."""
    from hwreg.compile.boards import BOARDS, Board, board_info
    from hwreg.rtl.board import BAUD, clks_per_bit, write_board, write_fpga_top

    build_dir = Path(build_dir)
    cfg, model = load_build(build_dir)
    b = Board(board) if board is not None else cfg.board
    info = board_info(b)
    if info.ecp5 is None:
        ecp5 = ", ".join(k.value for k, v in BOARDS.items() if v.is_ecp5)
        raise UserError(f"--board {b.value}: bitstreams are made here for ECP5 boards only "
                        f"({ecp5}); a Xilinx part stops at `hwreg synth --top`")
    backend = rtl_backend(cfg, info, backend)
    clock_mhz = 1000.0 / cfg.clock_ns
    name = build_dir.resolve().name
    failure: BitstreamError | None = None
    with staged_dir(out_dir, force) as stage:
        hdl = stage / "hdl"
        files, runtime, shape = stitched_top(model, build_dir, hdl, info.finn_part, cfg.clock_ns,
                                             backend)
        pll, pll_mhz = write_fpga_top(hdl, info.ecp5.clk_mhz, clock_mhz)
        clks = clks_per_bit(pll_mhz * 1e6)
        files += write_board(hdl, shape["in_width"], shape["out_width"], clks) + pll[1:]
        run = stage / "run"
        run.mkdir()
        for f in runtime:
            shutil.copyfile(f, run / f.name)
        try:
            result = place_and_route(files, "hwreg_fpga", info, clock_mhz, run, name, seed,
                                     timeout_s, primitives=pll[:1])
        except BitstreamError as e:
            failure, result = e, e.result
        except RuntimeError as e:
            if "yosys failed" in str(e):
                raise UserError(f"{build_dir}: Yosys cannot synthesise the build's RTL "
                                f"({backend} MVAU/Thresholding): {e}") from e
            raise
        est = estimates(build_dir)
        result.update(build=str(build_dir), board=b.value, rtl_backend=backend, pll_MHz=pll_mhz,
                      uart={**link_rate(shape, BAUD), "clks_per_bit": clks}, stitched=shape,
                      estimate={k: est["totals"][k] for k in ("LUT", "BRAM_18K", "DSP")}
                      if est else None,
                      finn_estimate_layers_only={k: est["totals_layers"][k] for k in
                                                 ("LUT", "BRAM_18K", "DSP")} if est else None,
                      bottleneck_cycles=est["bottleneck_cycles"] if est else None,
                      error=str(failure) if failure else None)
        if est and result.get("fmax_MHz"):  # a pair takes the model's passes (cascade, flips)
            passes = result["passes_per_s_at_fmax"] = round(
                result["fmax_MHz"] * 1e6 / est["bottleneck_cycles"], 2)
            result["passes_per_pair"] = est.get("passes_per_pair", 1)
            result["pairs_per_s_at_fmax"] = round(passes / result["passes_per_pair"], 2)
        keep_outputs(run, stage)
        shutil.rmtree(run)
        (stage / "bitstream.json").write_text(json.dumps(result, indent=2) + "\n")
    if failure is not None:
        raise failure
    return result


__all__ = ["bitstream_build", "link_rate"]
