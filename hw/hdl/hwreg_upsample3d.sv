// hwreg: 3D nearest-neighbour upsampling by 2, AXI-stream in and out.
//
// Input: one NDHWC volume (D, H, W), C channels, PE elements per beat. Output: the
// (2D, 2H, 2W) volume, out[d, h, w] = in[d/2, h/2, w/2], same beat format.
// Buffer: the last L = 2**ADDR_BITS input pixels (circular, by linear index); L >= 2*H*W lets
// the writer fill the next plane while the current one is replayed. Volumes follow each other in
// the buffer (the writer starts the next volume while the reader finishes), and the source pixel
// offsets are kept in registers, so the addresses need no multiplier. Python reference:
// hwreg/compile/ops/upsample3d.py (upsample_nearest3d).
module hwreg_upsample3d #(
    parameter int BITS = 8,
    parameter int C = 2,
    parameter int PE = 2,
    parameter int D = 2,
    parameter int H = 2,
    parameter int W = 2,
    parameter int ADDR_BITS = 4
) (
    input  logic clk,
    input  logic rst_n,
    input  logic [PE*BITS-1:0] in_data,
    input  logic in_valid,
    output logic in_ready,
    output logic [PE*BITS-1:0] out_data,
    output logic out_valid,
    input  logic out_ready
);
    localparam int CF = C / PE;
    localparam int WORD = PE * BITS;
    localparam int NPIX = D * H * W;
    localparam int L = 1 << ADDR_BITS;
    localparam int FIFO = 4;
    // Counters as wide as their ranges (32-bit ints made long carry chains on ECP5).
    localparam int PW = $clog2(2 * NPIX + L + 1);
    typedef logic [PW-1:0] pix_t;                 // pixel indices, 0 .. 2*NPIX + L
    typedef logic [ADDR_BITS-1:0] slot_t;         // buffer slot (pixel index mod L)
    localparam int CFW = CF > 1 ? $clog2(CF) : 1;
    localparam int OXW = $clog2(2 * (D > H ? (D > W ? D : W) : (H > W ? H : W)) + 1);
    localparam pix_t NPIX_P = pix_t'(NPIX);

    logic [WORD-1:0] mem [L * CF];
    pix_t wr_pix, need_lo, src;
    logic [CFW-1:0] wr_cf, rcf;
    logic [OXW-1:0] od, oh, ow;
    pix_t sd, sh, sw;               // (od/2)*H*W, (oh/2)*W, ow/2: the source pixel's offsets
    logic rd_frame_done;
    logic wr_ahead;                 // the writer is on the reader's next volume
    pix_t wr_abs;                   // (wr_ahead ? NPIX : 0) + wr_pix, a register
    slot_t rbase, wbase;            // buffer slots of the reader's / writer's pixel 0
    slot_t rslot;                   // (rbase + src) mod L, a register
    assign need_lo = rd_frame_done ? NPIX_P : sd;   // the plane being replayed
    // src = sd + sh + sw, a register updated with them (each step adds a constant)
    assign wbase = wr_ahead ? rbase + slot_t'(NPIX) : rbase;   // mod L: slot_t wraps
    assign in_ready = wr_pix != NPIX_P && wr_abs < need_lo + pix_t'(L);

    slot_t wslot;
    assign wslot = wbase + slot_t'(wr_pix);
    always_ff @(posedge clk) begin
        if (in_valid && in_ready) mem[wslot * CF + wr_cf] <= in_data;
    end

    logic [WORD-1:0] fifo [FIFO];
    logic [1:0] f_head;
    logic [2:0] f_count;
    logic rd_valid_q, issue, pop;
    logic [WORD-1:0] rd_q;
    assign issue = !rd_frame_done && (wr_ahead || wr_pix > src)
                   && (int'(f_count) + int'(rd_valid_q) < FIFO);
    assign out_valid = f_count != 0;
    assign out_data = fifo[f_head];
    assign pop = out_valid && out_ready;

    always_ff @(posedge clk) rd_q <= mem[rslot * CF + rcf];

    logic wr_done_pix, vol_change;
    assign wr_done_pix = in_valid && in_ready && int'(wr_cf) == CF - 1;
    assign vol_change = rd_frame_done && wr_ahead;
    pix_t wr_abs_v;                 // wr_abs's next value without a write
    assign wr_abs_v = vol_change ? wr_abs - NPIX_P : wr_abs;

    always_ff @(posedge clk) begin
        if (!rst_n) begin
            wr_pix <= '0; wr_cf <= '0; od <= '0; oh <= '0; ow <= '0; rcf <= '0;
            sd <= '0; sh <= '0; sw <= '0; src <= '0; wr_ahead <= 0; rbase <= '0; rslot <= '0;
            wr_abs <= '0; rd_frame_done <= 0; rd_valid_q <= 0; f_head <= '0; f_count <= '0;
        end else begin
            if (in_valid && in_ready) begin
                if (int'(wr_cf) == CF - 1) begin wr_cf <= '0; wr_pix <= wr_pix + 1'b1; end
                else wr_cf <= wr_cf + 1'b1;
            end
            // (wr_pix, wr_ahead) -> (0, 1) at wr_pix == NPIX keeps wr_abs
            wr_abs <= wr_done_pix ? wr_abs_v + 1'b1 : wr_abs_v;
            rd_valid_q <= issue;
            if (issue) begin
                if (int'(rcf) == CF - 1) begin
                    rcf <= '0;
                    if (int'(ow) == 2 * W - 1) begin
                        ow <= '0; sw <= '0;
                        if (int'(oh) == 2 * H - 1) begin
                            oh <= '0; sh <= '0;
                            if (int'(od) == 2 * D - 1) begin
                                od <= '0; sd <= '0; rd_frame_done <= 1;
                                src <= '0; rslot <= rbase;
                            end else begin
                                od <= od + 1'b1;
                                if (od[0]) sd <= sd + pix_t'(H * W);
                                src <= src - pix_t'((H - 1) * W + W - 1)
                                       + (od[0] ? pix_t'(H * W) : '0);
                                rslot <= rslot - slot_t'((H - 1) * W + W - 1)
                                         + (od[0] ? slot_t'(H * W) : '0);
                            end
                        end else begin
                            oh <= oh + 1'b1;
                            if (oh[0]) sh <= sh + pix_t'(W);
                            src <= src - pix_t'(W - 1) + (oh[0] ? pix_t'(W) : '0);
                            rslot <= rslot - slot_t'(W - 1) + (oh[0] ? slot_t'(W) : '0);
                        end
                    end else begin
                        ow <= ow + 1'b1;
                        if (ow[0]) begin
                            sw <= sw + 1'b1; src <= src + 1'b1; rslot <= rslot + 1'b1;
                        end
                    end
                end else rcf <= rcf + 1'b1;
            end
            // next volume: the writer moves on as soon as it has written this one, the reader
            // when it has replayed its volume and the writer is on the next one
            if (wr_pix == NPIX_P && !wr_ahead) begin wr_pix <= '0; wr_ahead <= 1; end
            if (vol_change) begin
                rd_frame_done <= 0; wr_ahead <= 0; rbase <= rbase + slot_t'(NPIX);
                rslot <= rslot + slot_t'(NPIX);
            end
            if (rd_valid_q) fifo[f_head + 2'(f_count)] <= rd_q;
            if (pop) f_head <= f_head + 1'b1;
            f_count <= f_count + 3'(rd_valid_q) - 3'(pop);
        end
    end

`ifndef SYNTHESIS
    // The registers kept next to the counters equal what they stand for (checked in simulation).
    always_ff @(posedge clk) if (rst_n) begin
        if (src != sd + sh + sw || rslot != slot_t'(pix_t'(rbase) + src)
            || wr_abs != (wr_ahead ? NPIX_P : '0) + wr_pix)
            $fatal(1, "hwreg_upsample3d: a kept register disagrees with its counters");
    end
`endif
endmodule
