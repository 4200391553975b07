// hwreg: synchronous AXI-stream FIFO (between the layers of the stitched accelerator).
//
// DEPTH entries (any number up to 2**ADDR_BITS; default 2**ADDR_BITS), first-word
// fall-through: out_valid as soon as an entry is stored. The memory holds exactly DEPTH
// entries (the slots wrap at DEPTH, not at 2**ADDR_BITS): a skip connection's FIFO of 154,112
// 4-bit entries takes 38 ECP5 EBRs instead of the 64 of 2**18 entries. STYLE asks the synthesis
// tool for the memory the build's estimate chose (hwreg/compile/fifos.py fifo_memory): 0 its
// own choice, 1 LUT RAM (ram_style "distributed"), 2 block RAM (ram_style "block"); Yosys and
// Vivado read the attribute (without it Yosys puts even a 64-entry FIFO into an ECP5 EBR).
// FINN's fifo.sv does not build under Verilator (constant function INIT_ABITS).
// In simulation it records the highest fill level and prints it at the end
// ("hwreg_fifo_fill <instance> <n>"): L5 sizes the FIFOs from that (hwreg/compile/rtl/stitch.py).
module hwreg_fifo #(
    parameter int WIDTH = 8,
    parameter int ADDR_BITS = 5,
    parameter int DEPTH = 1 << ADDR_BITS,
    parameter int STYLE = 0
) (
    input  logic clk,
    input  logic rst_n,
    input  logic [WIDTH-1:0] in_data,
    input  logic in_valid,
    output logic in_ready,
    output logic [WIDTH-1:0] out_data,
    output logic out_valid,
    input  logic out_ready
);
    logic [ADDR_BITS-1:0] wa, ra;                 // write / read slot, 0 .. DEPTH-1
    logic [ADDR_BITS:0] fill;                     // entries stored
    logic push, pop;
    assign in_ready = fill < (ADDR_BITS + 1)'(DEPTH);
    assign out_valid = fill != '0;
    assign push = in_valid && in_ready;
    assign pop = out_valid && out_ready;

    always_ff @(posedge clk) begin
        if (!rst_n) begin
            wa <= '0;
            ra <= '0;
            fill <= '0;
        end else begin
            if (push) wa <= wa == ADDR_BITS'(DEPTH - 1) ? '0 : wa + 1'b1;
            if (pop) ra <= ra == ADDR_BITS'(DEPTH - 1) ? '0 : ra + 1'b1;
            fill <= fill + (ADDR_BITS + 1)'(push) - (ADDR_BITS + 1)'(pop);
        end
    end
    if (STYLE == 1) begin : g_lut
        (* ram_style = "distributed" *) logic [WIDTH-1:0] mem [DEPTH];
        always_ff @(posedge clk) if (push) mem[wa] <= in_data;
        assign out_data = mem[ra];
    end else if (STYLE == 2) begin : g_block
        (* ram_style = "block" *) logic [WIDTH-1:0] mem [DEPTH];
        always_ff @(posedge clk) if (push) mem[wa] <= in_data;
        assign out_data = mem[ra];
    end else begin : g_auto
        logic [WIDTH-1:0] mem [DEPTH];
        always_ff @(posedge clk) if (push) mem[wa] <= in_data;
        assign out_data = mem[ra];
    end
`ifndef SYNTHESIS
    logic [ADDR_BITS:0] max_fill = '0;
    always_ff @(posedge clk) if (fill > max_fill) max_fill <= fill;
    final $display("hwreg_fifo_fill %m %0d", max_fill);
`endif
endmodule
