// hwreg: element-wise integer add of two AXI-streams (FINN ElementwiseAdd, both inputs streamed).
//
// Beat: PE lanes, lane i at bits [i*BITS, (i+1)*BITS) (FINN packing). Each lane is sign- or
// zero-extended to O_BITS and added; O_BITS must hold every sum (FINN's out_dtype). Both inputs
// are consumed together (a join); one output register stage, full throughput with no stalls.
// Python reference: hwreg/compile/rtl/reference.py (add_streams).
module hwreg_addstreams #(
    parameter int PE = 1,
    parameter int A_BITS = 4,
    parameter int B_BITS = 4,
    parameter int O_BITS = 5,
    parameter bit A_SIGNED = 0,
    parameter bit B_SIGNED = 0
) (
    input  logic clk,
    input  logic rst_n,
    input  logic [PE*A_BITS-1:0] a_data,
    input  logic a_valid,
    output logic a_ready,
    input  logic [PE*B_BITS-1:0] b_data,
    input  logic b_valid,
    output logic b_ready,
    output logic [PE*O_BITS-1:0] out_data,
    output logic out_valid,
    input  logic out_ready
);
    logic take;
    logic [PE*O_BITS-1:0] sum;
    assign take = a_valid && b_valid && (!out_valid || out_ready);
    assign a_ready = take;
    assign b_ready = take;

    always_comb begin
        for (int i = 0; i < PE; i++) begin
            logic [O_BITS-1:0] a, b;
            a = A_SIGNED ? O_BITS'($signed(a_data[i*A_BITS +: A_BITS]))
                         : O_BITS'(a_data[i*A_BITS +: A_BITS]);
            b = B_SIGNED ? O_BITS'($signed(b_data[i*B_BITS +: B_BITS]))
                         : O_BITS'(b_data[i*B_BITS +: B_BITS]);
            sum[i*O_BITS +: O_BITS] = a + b;
        end
    end

    always_ff @(posedge clk) begin
        if (!rst_n) begin
            out_valid <= 1'b0;
        end else if (take) begin
            out_valid <= 1'b1;
            out_data <= sum;
        end else if (out_ready) begin
            out_valid <= 1'b0;
        end
    end
endmodule
