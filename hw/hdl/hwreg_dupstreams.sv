// hwreg: copies one AXI-stream to N_OUT output streams (FINN DuplicateStreams).
//
// Each output has a one-beat register; an input beat is taken when every output register is
// free or being read this cycle, so outputs stalled independently never lose or repeat a beat.
// Full throughput when all outputs are ready. Python reference: hwreg/compile/rtl/reference.py
// (duplicate_streams).
module hwreg_dupstreams #(
    parameter int WIDTH = 8,
    parameter int N_OUT = 2
) (
    input  logic clk,
    input  logic rst_n,
    input  logic [WIDTH-1:0] in_data,
    input  logic in_valid,
    output logic in_ready,
    output logic [WIDTH-1:0] out_data [N_OUT],
    output logic [N_OUT-1:0] out_valid,
    input  logic [N_OUT-1:0] out_ready
);
    logic [WIDTH-1:0] data;
    assign in_ready = &(~out_valid | out_ready);
    for (genvar k = 0; k < N_OUT; k++) begin : g_out
        assign out_data[k] = data;
    end

    always_ff @(posedge clk) begin
        if (!rst_n) begin
            out_valid <= '0;
        end else begin
            if (in_valid && in_ready) begin
                out_valid <= '1;
                data <= in_data;
            end else begin
                out_valid <= out_valid & ~out_ready;
            end
        end
    end
endmodule
