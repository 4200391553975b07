// hwreg: multi-threshold activation (FINN's Thresholding; a vendor-neutral drop-in for
// Thresholding_rtl / Thresholding_hls: same streams, one beat per cycle).
//
// Channel c of C has N ascending thresholds t[c][0..N-1]; an input x becomes
// (number of k with x >= t[c][k]) + BIAS (FINN's ActVal), cut to O_BITS.
// Beat: PE lanes of I_BITS (I_SIGNED) in, O_BITS out; beat i of the stream holds channels
// (i mod CF)*PE + p in lane p, CF = C/PE (FINN packing, channels innermost).
// Thresholds: a memory of CF words read by $readmemh from INIT_FILE (one hex word per line);
// word cf holds t[cf*PE + p][k] at bits [(p*N + k)*T_BITS +: T_BITS], T_BITS = I_BITS + 1
// (two's complement if I_SIGNED, else unsigned), each threshold clamped to
// [min(x), max(x) + 1] (which keeps every comparison). BLOCK_ROM asks for block RAM
// (rom_style "block"), else the synthesis tool chooses.
// Pipeline: threshold read (synchronous) -> N parallel compares and a count -> output
// register; both stages advance when the output register is free (!out_valid || out_ready).
// No vendor primitives; the memory is inferred.
// Python reference: hwreg/rtl/mvau.py (threshold_reference).
module hwreg_thresholding #(
    parameter int C = 4,
    parameter int PE = 1,
    parameter int N = 15,
    parameter int I_BITS = 8,
    parameter bit I_SIGNED = 1,
    parameter int O_BITS = 4,
    parameter int BIAS = 0,
    parameter INIT_FILE = "thresholds.dat",
    parameter bit BLOCK_ROM = 0
) (
    input  logic clk,
    input  logic rst_n,
    input  logic [PE*I_BITS-1:0] in_data,
    input  logic in_valid,
    output logic in_ready,
    output logic [PE*O_BITS-1:0] out_data,
    output logic out_valid,
    input  logic out_ready
);
    localparam int CF = C / PE;
    localparam int CF_B = CF > 1 ? $clog2(CF) : 1;
    localparam int T_BITS = I_BITS + 1;

    logic en;
    logic [CF_B-1:0] cf;
    assign en = !out_valid || out_ready;
    assign in_ready = en;

    logic [PE*N*T_BITS-1:0] s1_t;
    logic [PE*I_BITS-1:0] s1_x;
    logic s1_valid;
    hwreg_rom #(.WIDTH(PE*N*T_BITS), .DEPTH(CF), .ADDR_BITS(CF_B), .INIT_FILE(INIT_FILE),
        .BLOCK(BLOCK_ROM)) tmem (.clk(clk), .en(en), .addr(cf), .data(s1_t));
    always_ff @(posedge clk) if (en) s1_x <= in_data;

    always_ff @(posedge clk) begin
        if (!rst_n) begin
            cf <= '0;
            s1_valid <= 1'b0;
            out_valid <= 1'b0;
        end else if (en) begin
            s1_valid <= in_valid;
            out_valid <= s1_valid;
            if (in_valid) cf <= cf == CF_B'(CF - 1) ? '0 : cf + 1'b1;
        end
    end

    logic [PE*O_BITS-1:0] y;
    always_comb begin
        for (int p = 0; p < PE; p++) begin
            logic signed [T_BITS:0] xe, te;
            int cnt;
            xe = $signed({{2{I_SIGNED & s1_x[p*I_BITS + I_BITS-1]}}, s1_x[p*I_BITS +: I_BITS]});
            cnt = BIAS;
            for (int k = 0; k < N; k++) begin
                te = $signed({I_SIGNED & s1_t[(p*N + k)*T_BITS + T_BITS-1],
                              s1_t[(p*N + k)*T_BITS +: T_BITS]});
                cnt += int'(xe >= te);
            end
            y[p*O_BITS +: O_BITS] = O_BITS'(cnt);
        end
    end

    always_ff @(posedge clk) if (en && s1_valid) out_data <= y;
endmodule
