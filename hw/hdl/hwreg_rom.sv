// hwreg: read-only memory with a synchronous, enabled read (weights and thresholds of
// hwreg_mvau / hwreg_thresholding), contents from INIT_FILE by $readmemh (one hex word per line).
// BLOCK asks for block RAM (rom_style "block", read by Yosys and Vivado), else the synthesis
// tool chooses (small memories: LUTs). No vendor primitive.
module hwreg_rom #(
    parameter int WIDTH = 8,
    parameter int DEPTH = 16,
    parameter int ADDR_BITS = 4,
    parameter INIT_FILE = "rom.dat",
    parameter bit BLOCK = 0
) (
    input  logic clk,
    input  logic en,
    input  logic [ADDR_BITS-1:0] addr,
    output logic [WIDTH-1:0] data
);
    if (BLOCK) begin : g_block
        (* rom_style = "block" *) logic [WIDTH-1:0] mem [DEPTH];
        initial $readmemh(INIT_FILE, mem);
        always_ff @(posedge clk) if (en) data <= mem[addr];
    end else begin : g_auto
        logic [WIDTH-1:0] mem [DEPTH];
        initial $readmemh(INIT_FILE, mem);
        always_ff @(posedge clk) if (en) data <= mem[addr];
    end
endmodule
