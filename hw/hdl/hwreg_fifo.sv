// hwreg: synchronous AXI-stream FIFO (between the layers of the stitched accelerator).
//
// DEPTH entries (any number up to 2**ADDR_BITS; default 2**ADDR_BITS), first-word
// fall-through: out_valid as soon as an entry is stored. FINN's fifo.sv does not build under Verilator (constant function INIT_ABITS).
// In simulation it records the highest fill level and prints it at the end
// ("hwreg_fifo_fill <instance> <n>"): L5 sizes the FIFOs from that (hwreg/compile/rtl/stitch.py).
module hwreg_fifo #(
    parameter int WIDTH = 8,
    parameter int ADDR_BITS = 5,
    parameter int DEPTH = 1 << ADDR_BITS
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
    logic [WIDTH-1:0] mem [1 << ADDR_BITS];
    logic [ADDR_BITS:0] wr, rd;
    assign in_ready = (wr - rd) < (ADDR_BITS + 1)'(DEPTH);
    assign out_valid = wr != rd;
    assign out_data = mem[rd[ADDR_BITS-1:0]];

    always_ff @(posedge clk) begin
        if (!rst_n) begin
            wr <= '0;
            rd <= '0;
        end else begin
            if (in_valid && in_ready) begin
                mem[wr[ADDR_BITS-1:0]] <= in_data;
                wr <= wr + 1'b1;
            end
            if (out_valid && out_ready) rd <= rd + 1'b1;
        end
    end
`ifndef SYNTHESIS
    logic [ADDR_BITS:0] max_fill = '0;
    always_ff @(posedge clk) if (wr - rd > max_fill) max_fill <= wr - rd;
    final $display("hwreg_fifo_fill %m %0d", max_fill);
`endif
endmodule
