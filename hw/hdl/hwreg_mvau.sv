// hwreg: folded matrix-vector unit, y = x @ W (FINN's MVAU without activation; a vendor-neutral
// drop-in for MVAU_rtl / MVAU_hls: same streams, same order, same cycles per vector).
//
// W is (MW, MH) integers of W_BITS (W_SIGNED), x has MW elements of I_BITS (I_SIGNED).
// Input: a vector is SF = MW/SIMD beats; beat sf holds x[sf*SIMD + j] in lane j, bits
// [j*I_BITS +: I_BITS] (FINN packing). Output: NF = MH/PE beats per vector; beat nf holds
// y[nf*PE + p] in lane p, bits [p*O_BITS +: O_BITS].
// Weights: a ROM of NF*SF words read by $readmemh from INIT_FILE (one hex word per line); word
// nf*SF + sf holds W[sf*SIMD + j, nf*PE + p] at bits [(p*SIMD + j)*W_BITS +: W_BITS];
// BLOCK_ROM asks for block RAM (rom_style "block"), else the synthesis tool chooses.
// Schedule (FINN's): per vector, for nf, for sf: one weight word per cycle; the vector's beats
// are taken from the stream while nf == 0 and kept in a buffer of SF words for nf > 0.
// Arithmetic: products of (I_BITS+1) x (W_BITS+1)-bit signed operands, sums in A_BITS two's
// complement (the build's accDataType; exact when the true sums fit it); the output is the
// accumulator cut or extended (A_SIGNED) to O_BITS.
// Pipeline: issue (synchronous ROM and buffer read) -> PE dot products of SIMD products (a
// balanced adder tree) -> accumulate and output register. Every stage advances together when
// the output register is free (!out_valid || out_ready): full throughput, any back-pressure.
// No vendor primitives; memories and multipliers are inferred.
// Python reference: hwreg/rtl/mvau.py (mvau_reference).
module hwreg_mvau #(
    parameter int MW = 4,
    parameter int MH = 4,
    parameter int SIMD = 1,
    parameter int PE = 1,
    parameter int I_BITS = 4,
    parameter int W_BITS = 4,
    parameter int A_BITS = 16,
    parameter int O_BITS = 16,
    parameter bit I_SIGNED = 0,
    parameter bit W_SIGNED = 1,
    parameter bit A_SIGNED = 1,
    parameter INIT_FILE = "weights.dat",
    parameter bit BLOCK_ROM = 0
) (
    input  logic clk,
    input  logic rst_n,
    input  logic [SIMD*I_BITS-1:0] in_data,
    input  logic in_valid,
    output logic in_ready,
    output logic [PE*O_BITS-1:0] out_data,
    output logic out_valid,
    input  logic out_ready
);
    localparam int SF = MW / SIMD;
    localparam int NF = MH / PE;
    localparam int WMEM = SF * NF;
    localparam int SF_B = SF > 1 ? $clog2(SF) : 1;
    localparam int NF_B = NF > 1 ? $clog2(NF) : 1;
    localparam int WA_B = WMEM > 1 ? $clog2(WMEM) : 1;
    localparam int P_BITS = I_BITS + W_BITS + 2;  // signed product
    localparam int X_BITS = P_BITS > A_BITS ? P_BITS : A_BITS;

    // ---- issue: counters, weight ROM and input buffer (synchronous reads)
    logic en, first_nf, issue;
    logic [SF_B-1:0] sf;
    logic [NF_B-1:0] nf;
    logic [WA_B-1:0] waddr;
    assign en = !out_valid || out_ready;
    assign first_nf = nf == '0;
    assign issue = en && (!first_nf || in_valid);
    assign in_ready = en && first_nf;

    logic [PE*SIMD*W_BITS-1:0] s1_w;
    logic [SIMD*I_BITS-1:0] s1_buf, s1_in;
    logic s1_valid, s1_from_in, s1_first, s1_last;

    hwreg_rom #(.WIDTH(PE*SIMD*W_BITS), .DEPTH(WMEM), .ADDR_BITS(WA_B), .INIT_FILE(INIT_FILE),
        .BLOCK(BLOCK_ROM)) wrom (.clk(clk), .en(en), .addr(waddr), .data(s1_w));
    logic [SIMD*I_BITS-1:0] ibuf [SF];
    always_ff @(posedge clk) if (en) s1_buf <= ibuf[sf];
    always_ff @(posedge clk) if (issue && first_nf) ibuf[sf] <= in_data;
    always_ff @(posedge clk) if (en) s1_in <= in_data;

    always_ff @(posedge clk) begin
        if (!rst_n) begin
            sf <= '0;
            nf <= '0;
            waddr <= '0;
            s1_valid <= 1'b0;
        end else if (en) begin
            s1_valid <= issue;
            s1_from_in <= first_nf;
            s1_first <= sf == '0;
            s1_last <= sf == SF_B'(SF - 1);
            if (issue) begin
                waddr <= waddr == WA_B'(WMEM - 1) ? '0 : waddr + 1'b1;
                if (sf == SF_B'(SF - 1)) begin
                    sf <= '0;
                    nf <= nf == NF_B'(NF - 1) ? '0 : nf + 1'b1;
                end else begin
                    sf <= sf + 1'b1;
                end
            end
        end
    end

    // ---- dot products: PE lanes of SIMD products, summed by a balanced tree
    logic [SIMD*I_BITS-1:0] x1;
    logic [PE*A_BITS-1:0] dot, s2_dot;
    assign x1 = s1_from_in ? s1_in : s1_buf;

    always_comb begin
        for (int p = 0; p < PE; p++) begin
            logic [A_BITS-1:0] tree [2*SIMD];
            for (int j = 0; j < SIMD; j++) begin
                logic signed [I_BITS:0] xe;
                logic signed [W_BITS:0] we;
                logic signed [P_BITS-1:0] pr;
                logic signed [X_BITS-1:0] pe_ext;
                xe = $signed({I_SIGNED & x1[j*I_BITS + I_BITS-1], x1[j*I_BITS +: I_BITS]});
                we = $signed({W_SIGNED & s1_w[(p*SIMD + j)*W_BITS + W_BITS-1],
                              s1_w[(p*SIMD + j)*W_BITS +: W_BITS]});
                pr = xe * we;
                pe_ext = pr;  // sign-extends
                tree[SIMD + j] = pe_ext[A_BITS-1:0];
            end
            for (int i = SIMD - 1; i >= 1; i--) tree[i] = tree[2*i] + tree[2*i + 1];
            dot[p*A_BITS +: A_BITS] = tree[1];
        end
    end

    // ---- accumulate and output
    logic s2_valid, s2_first, s2_last;
    logic [PE*A_BITS-1:0] acc, acc_next;
    always_comb begin
        for (int p = 0; p < PE; p++)
            acc_next[p*A_BITS +: A_BITS] = (s2_first ? '0 : acc[p*A_BITS +: A_BITS])
                                           + s2_dot[p*A_BITS +: A_BITS];
    end

    always_ff @(posedge clk) begin
        if (!rst_n) begin
            s2_valid <= 1'b0;
            out_valid <= 1'b0;
        end else if (en) begin
            s2_valid <= s1_valid;
            out_valid <= s2_valid && s2_last;
        end
    end

    always_ff @(posedge clk) begin
        if (en) begin
            s2_dot <= dot;
            s2_first <= s1_first;
            s2_last <= s1_last;
            if (s2_valid) acc <= acc_next;
            if (s2_valid && s2_last)
                for (int p = 0; p < PE; p++)
                    out_data[p*O_BITS +: O_BITS] <=
                        A_SIGNED ? O_BITS'($signed(acc_next[p*A_BITS +: A_BITS]))
                                 : O_BITS'(acc_next[p*A_BITS +: A_BITS]);
        end
    end
endmodule
