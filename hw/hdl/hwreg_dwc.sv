// hwreg: AXI-stream data-width converter between layers folded differently (FINN's
// StreamingDataWidthConverter). Elements of BITS bits, FINN packing (element i at bits
// [i*BITS, ...)); IN_E elements per input beat, OUT_E per output beat, one a multiple of the
// other. Up-sizing gathers OUT_E/IN_E beats (first beat in the low bits), down-sizing splits.
module hwreg_dwc #(
    parameter int BITS = 4,
    parameter int IN_E = 1,
    parameter int OUT_E = 4
) (
    input  logic clk,
    input  logic rst_n,
    input  logic [IN_E*BITS-1:0] in_data,
    input  logic in_valid,
    output logic in_ready,
    output logic [OUT_E*BITS-1:0] out_data,
    output logic out_valid,
    input  logic out_ready
);
    if (OUT_E >= IN_E) begin : g_up
        localparam int R = OUT_E / IN_E;
        localparam int NB = R > 1 ? $clog2(R) : 1;
        logic [OUT_E*BITS-1:0] buffer;
        logic [NB-1:0] n;  // narrow slot counter: a decoded write, no multiplier in the path
        assign in_ready = !out_valid || out_ready;
        assign out_data = buffer;
        for (genvar k = 0; k < R; k++) begin : g_slot
            always_ff @(posedge clk)
                if (in_valid && in_ready && n == NB'(k))
                    buffer[k*IN_E*BITS +: IN_E*BITS] <= in_data;
        end
        always_ff @(posedge clk) begin
            if (!rst_n) begin
                n <= '0;
                out_valid <= 1'b0;
            end else begin
                if (out_valid && out_ready) out_valid <= 1'b0;
                if (in_valid && in_ready) begin
                    if (n == NB'(R - 1)) begin
                        n <= '0;
                        out_valid <= 1'b1;
                    end else begin
                        n <= n + 1'b1;
                    end
                end
            end
        end
    end else begin : g_down
        localparam int R = IN_E / OUT_E;
        localparam int NB = R > 1 ? $clog2(R) : 1;
        logic [IN_E*BITS-1:0] buffer;  // shifts down by one output beat: no read multiplexer
        logic [NB-1:0] n;
        logic full;
        assign in_ready = !full;
        assign out_valid = full;
        assign out_data = buffer[OUT_E*BITS-1:0];
        always_ff @(posedge clk) begin
            if (!rst_n) begin
                n <= '0;
                full <= 1'b0;
            end else if (!full) begin
                if (in_valid) begin
                    buffer <= in_data;
                    full <= 1'b1;
                    n <= '0;
                end
            end else if (out_ready) begin
                buffer <= buffer >> (OUT_E * BITS);
                if (n == NB'(R - 1)) full <= 1'b0;
                else n <= n + 1'b1;
            end
        end
    end
endmodule
