// Rate testbench of hwreg_swg3d (tests/rtl/test_swg3d_rate.py): input pixels arrive one per
// IN_NUM/IN_DEN cycles into a queue in front, drained at most one pixel per WR_MIN cycles (a FIFO +
// width converter); output taken like FINN's MVAU: SF beats, then (NF-1)*SF idle cycles.
module tb_rate #(
    parameter int C = 8, parameter int D = 48, parameter int H = 64, parameter int W = 48,
    parameter int K = 3, parameter int S = 2, parameter int P = 1, parameter int ADDR_BITS = 13,
    parameter int IN_NUM = 27, parameter int IN_DEN = 2, parameter int WR_MIN = 8,
    parameter int SF = 27, parameter int NF = 4, parameter int NV = 2
) (input logic clk, input logic rst_n, output logic done);
    localparam int OD = (D + 2 * P - K) / S + 1;
    localparam int OH = (H + 2 * P - K) / S + 1;
    localparam int OW = (W + 2 * P - K) / S + 1;
    localparam longint NOUT = longint'(NV) * OD * OH * OW * K * K * K;
    localparam longint NIN = longint'(NV) * D * H * W;
    logic in_valid, in_ready, out_valid, out_ready;
    logic [C*4-1:0] in_data; logic [C*4-1:0] out_data;
    hwreg_swg3d #(.BITS(4), .C(C), .SIMD_IN(C), .M(1), .D(D), .H(H), .W(W), .K(K), .S(S),
                  .P(P), .ADDR_BITS(ADDR_BITS)) dut (.*);
    longint cyc, arrived, taken, outs, max_backlog, acc, last_wr, stall_cyc;
    int rd_cnt, idle;
    assign in_valid = (arrived > taken) && (cyc - last_wr >= WR_MIN) && taken < NIN;
    assign in_data = '0;
    assign out_ready = idle == 0;
    assign done = outs >= NOUT;
    always_ff @(posedge clk) begin
        if (!rst_n) begin
            cyc <= 0; arrived <= 0; taken <= 0; outs <= 0; max_backlog <= 0; acc <= 0;
            last_wr <= -1000; rd_cnt <= 0; idle <= 0; stall_cyc <= 0;
        end else begin
            cyc <= cyc + 1;
            if (arrived < NIN) begin
                if (acc + IN_DEN >= IN_NUM) begin acc <= acc + IN_DEN - IN_NUM; arrived <= arrived + 1; end
                else acc <= acc + IN_DEN;
            end
            if (in_valid && in_ready) begin taken <= taken + 1; last_wr <= cyc; end
            if (arrived - taken > max_backlog) max_backlog <= arrived - taken;
            if (idle > 0) idle <= idle - 1;
            else if (out_valid) begin
                outs <= outs + 1;
                if (rd_cnt == SF - 1) begin rd_cnt <= 0; idle <= (NF - 1) * SF; end
                else rd_cnt <= rd_cnt + 1;
            end else if (outs > 0) stall_cyc <= stall_cyc + 1;  // after the first beat
        end
    end
    final $display("RESULT cycles=%0d ideal=%0d max_backlog=%0d starved=%0d",
                   cyc, longint'(NV) * OD * OH * OW * SF * NF, max_backlog, stall_cyc);
endmodule
