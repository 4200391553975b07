// hwreg: 3D sliding-window generator (im2col of a Conv3d), AXI-stream in and out.
//
// Input: one NDHWC volume, pixels in (d, h, w) raster order, C channels, SIMD_IN elements per
// beat (element 0 in the LSBs). Output: per output voxel (od, oh, ow) in raster order its
// K*K*K window in (kd, kh, kw, c) order, c fastest, zero where the window leaves the volume
// (padding P), stride S. An output beat holds M window positions of SIMD_IN elements
// (M > 1 only when SIMD_IN == C: FINN's parallel window).
//
// Buffer: the last L = 2**ADDR_BITS pixels of the input (a circular buffer addressed by the
// pixel's linear index), replicated M times for M reads per cycle. The writer stalls while the
// next pixel would overwrite the oldest pixel a current or later output voxel needs (the start
// of the window's first row; of its first plane while the next output plane starts at the same
// clipped input plane); the reader waits until the newest pixel it needs is written. L must be
// >= (K-1)*H*W + K*W; for the reader never to wait on a pixel the writer was not allowed to write
// (at row, plane and volume ends; a stride-S generator frees one input plane per output plane
// but needs S new ones), L >= ConvolutionInputGenerator3D_hwreg.buffer_span(), about (K+S-2)
// planes (the generator rounds that up to a power of two). Volumes follow each other
// in the buffer: the writer starts the next volume as soon as it has written this one (while the
// reader finishes), so back-to-back volumes stream without a bubble.
// Python reference: hwreg/compile/ops/window3d.py (im2col3d).
module hwreg_swg3d #(
    parameter int BITS = 8,
    parameter int C = 2,
    parameter int SIMD_IN = 2,
    parameter int M = 1,
    parameter int D = 4,
    parameter int H = 4,
    parameter int W = 4,
    parameter int K = 3,
    parameter int S = 1,
    parameter int P = 1,
    parameter int ADDR_BITS = 8
) (
    input  logic clk,
    input  logic rst_n,
    input  logic [SIMD_IN*BITS-1:0] in_data,
    input  logic in_valid,
    output logic in_ready,
    output logic [M*SIMD_IN*BITS-1:0] out_data,
    output logic out_valid,
    input  logic out_ready
);
    localparam int CF = C / SIMD_IN;             // input beats per pixel
    localparam int WORD = SIMD_IN * BITS;
    localparam int OD = (D + 2 * P - K) / S + 1;
    localparam int OH = (H + 2 * P - K) / S + 1;
    localparam int OW = (W + 2 * P - K) / S + 1;
    localparam int NJ = K * K * K / M;           // output beats per voxel and channel fold
    localparam int HW = H * W;
    localparam int NPIX = D * HW;
    localparam int L = 1 << ADDR_BITS;
    localparam int DEPTH = L * CF;               // words per bank
    localparam int FIFO = 4;

    // ---- widths ---------------------------------------------------------------------------
    // Every counter is as wide as its range needs (32-bit ints made the carry chains the
    // critical paths on ECP5). pix_t: pixel indices and offsets (signed: a window origin lies
    // before the volume), wide enough for 2*NPIX + L and every offset +- a few planes.
    localparam int PW = $clog2(2 * NPIX + L + (2 * P + S + K + 1) * HW + 1) + 1;
    typedef logic signed [PW-1:0] pix_t;
    // coord_t: a window coordinate (origin + kernel offset) on one axis, signed.
    localparam int XW = $clog2((D > H ? (D > W ? D : W) : (H > W ? H : W)) + 2 * (K + P + S)) + 1;
    typedef logic signed [XW-1:0] coord_t;
    typedef logic [ADDR_BITS-1:0] slot_t;        // buffer slot (pixel index mod L)
    localparam int CFW = CF > 1 ? $clog2(CF) : 1;
    localparam int NJW = NJ > 1 ? $clog2(NJ) : 1;
    localparam int KKW = $clog2(K * K * K + M);
    localparam int OXW = $clog2((OD > OH ? (OD > OW ? OD : OW) : (OH > OW ? OH : OW)) + 1);
    localparam int AW = DEPTH > 1 ? $clog2(DEPTH) : 1;

    // Clipped upper bounds of the window as pixel offsets, per axis, of an origin t.
    function automatic pix_t hi_d(pix_t t);
        return t + pix_t'((K - 1) * HW) > pix_t'((D - 1) * HW) ? pix_t'((D - 1) * HW)
                                                                : t + pix_t'((K - 1) * HW);
    endfunction
    function automatic pix_t hi_h(pix_t t);
        return t + pix_t'((K - 1) * W) > pix_t'((H - 1) * W) ? pix_t'((H - 1) * W)
                                                              : t + pix_t'((K - 1) * W);
    endfunction
    function automatic pix_t hi_x(pix_t t);
        return t + pix_t'(K - 1) > pix_t'(W - 1) ? pix_t'(W - 1) : t + pix_t'(K - 1);
    endfunction
    // The same of t + c (c a constant) for the logic: one add, and a compare of t with a constant
    // beside it (no add, compare, mux in series).
    function automatic pix_t hi_d_at(pix_t t, int c);
        return t > pix_t'((D - K) * HW - c) ? pix_t'((D - 1) * HW) : t + pix_t'(c + (K - 1) * HW);
    endfunction
    function automatic pix_t hi_h_at(pix_t t, int c);
        return t > pix_t'((H - K) * W - c) ? pix_t'((H - 1) * W) : t + pix_t'(c + (K - 1) * W);
    endfunction
    function automatic pix_t hi_x_at(pix_t t, int c);
        return t > pix_t'(W - K - c) ? pix_t'(W - 1) : t + pix_t'(c + K - 1);
    endfunction
    function automatic pix_t lo_at(pix_t t, int c, int a);     // max(t + c, 0) + a
        return t < pix_t'(-c) ? pix_t'(a) : t + pix_t'(c + a);
    endfunction
    localparam pix_t T0D = pix_t'(-P * HW);      // origin offsets of the first window
    localparam pix_t T0H = pix_t'(-P * W);
    localparam pix_t T0W = pix_t'(-P);
    localparam pix_t HID0 = hi_d(T0D);
    localparam pix_t HIH0 = hi_h(T0H);
    localparam pix_t HIW0 = hi_x(T0W);
    localparam pix_t NPIX_P = pix_t'(NPIX);

    // ---- writer -------------------------------------------------------------------------
    pix_t wr_pix;                                 // pixel being written (= pixels complete)
    logic wr_ahead;                               // the writer is on the reader's next volume
    pix_t wr_abs;                                 // (wr_ahead ? NPIX : 0) + wr_pix, a register
    slot_t rbase;                                 // buffer slot of the reader's pixel 0
    slot_t wbase;                                 // buffer slot of the writer's pixel 0
    logic [CFW-1:0] wr_cf;
    pix_t need_lo;                                // oldest pixel the reader still needs
    pix_t room_cur, room_m1;                      // need_lo + L (and - 1), registers (below)
    logic in_ready_q;                             // in_ready, a register (see below)
    logic rd_frame_done;
    // The writer may run one volume ahead of the reader (pixel NPIX + i of the reader's stream):
    // no bubble between volumes. It never overwrites a pixel the reader still needs.
    // in_ready compares against need_lo a cycle late (need_lo is arithmetic on the reader's
    // counters, and in_ready goes upstream: it was the tiny network's ECP5 critical path).
    // Within a volume need_lo only grows, so the late value only stalls the writer a cycle
    // longer; at the volume change, where it falls from NPIX to the next volume's 0, it takes
    // the new value at once: in_ready = wr_pix != NPIX && wr_abs < room_q, with room_q the
    // previous cycle's (volume change ? 0 : need_lo) + L. That is kept as a register,
    // in_ready_q, whose next value is computed for both outcomes of this cycle's write (which
    // in_valid picks) from registers: room_cur = need_lo + L and room_m1 = room_cur - 1 follow
    // the counters like the registers below. Nothing combinational runs to in_ready.
    assign wbase = wr_ahead ? rbase + slot_t'(NPIX) : rbase;   // mod L: slot_t wraps
    assign in_ready = in_ready_q;

    // ---- reader counters ----------------------------------------------------------------
    logic [OXW-1:0] od, oh, ow;
    logic [NJW-1:0] j;
    logic [CFW-1:0] rcf;
    logic [KKW-1:0] jm;                          // j * M, kept as a register
    // Window origin per axis (bd = od*S - P, ...) and as linear pixel offsets (td = bd*H*W,
    // th = bh*W, tw = bw), kept as registers next to od/oh/ow: no multiplier in the logic.
    coord_t bd, bh, bw;
    pix_t td, th, tw;
    // org = (rbase + td + th + tw) mod L, the buffer slot of the window origin; hd_q = hi_d(td),
    // hdh_q = hi_d(td) + hi_h(th), hdw_q = hi_d(td) + hi_x(-P), newest_q = hdh_q + hi_x(tw)
    // (the newest pixel the window needs), and the clipped bounds one step on, nd_q =
    // hi_d(td + S*H*W), nh_q = hi_h(th + S*W), nw_q = hi_x(tw + S): registers updated with the
    // counters they depend on (each next value from current registers and constants), so that
    // issue compares against a register and each next value is one add away from registers.
    slot_t org;
    pix_t hd_q, hdh_q, hdw_q, newest_q, nd_q, nh_q, nw_q;
    // Oldest pixel any later voxel still needs: the start of the current window's first row,
    // or of its first plane when the next output plane starts at the same (clipped) input plane
    // (max(td + S*H*W, 0) == max(td, 0), i.e. td + S*H*W <= 0).
    pix_t lo_dt, lo_ht;
    logic keep_plane;
    assign lo_dt = td < 0 ? '0 : td;
    assign lo_ht = th < 0 ? '0 : th;
    assign keep_plane = int'(od) < OD - 1 && td <= pix_t'(-S * HW);
    assign need_lo = rd_frame_done ? NPIX_P : keep_plane ? lo_dt : lo_dt + lo_ht;

    // ---- output FIFO with one-cycle read latency in front --------------------------------
    logic [M*WORD-1:0] fifo [FIFO];
    logic [1:0] f_head;
    logic [2:0] f_count;
    logic rd_valid_q;
    logic [M-1:0] pad_q;
    logic issue;
    assign issue = !rd_frame_done && (wr_ahead || wr_pix > newest_q)
                   && (int'(f_count) + int'(rd_valid_q) < FIFO);
    // What the next issued beat advances, from the counters alone (issue only enables it):
    // the next voxel (vox_end), and on which axis.
    logic vox_end, step_w, step_h, step_d, step_wrap;
    assign vox_end = (int'(rcf) == CF - 1 || M > 1) && int'(j) == NJ - 1;
    assign step_w = vox_end && int'(ow) != OW - 1;
    assign step_h = vox_end && int'(ow) == OW - 1 && int'(oh) != OH - 1;
    assign step_d = vox_end && int'(ow) == OW - 1 && int'(oh) == OH - 1 && int'(od) != OD - 1;
    assign step_wrap = vox_end && int'(ow) == OW - 1 && int'(oh) == OH - 1
                       && int'(od) == OD - 1;

    logic [M-1:0] inb;
    logic [AW-1:0] addr [M];
    // Kernel offsets of window position p = (kd, kh, kw) as constant tables: no divider in the
    // logic (p / (K*K), (p / K) % K, p % K would synthesise as dividers).
    typedef int tab_t [K * K * K];
    function automatic tab_t kernel_offsets(int axis);
        tab_t t;
        for (int p = 0; p < K * K * K; p++)
            t[p] = axis == 0 ? p / (K * K) : axis == 1 ? (p / K) % K : p % K;
        return t;
    endfunction
    localparam tab_t KD = kernel_offsets(0);
    localparam tab_t KH = kernel_offsets(1);
    localparam tab_t KW = kernel_offsets(2);
    function automatic tab_t linear_offsets();
        tab_t t;
        for (int p = 0; p < K * K * K; p++) t[p] = (KD[p] * H + KH[p]) * W + KW[p];
        return t;
    endfunction
    localparam tab_t OFF = linear_offsets();  // pixel offset of window position p

    always_comb begin
        for (int i = 0; i < M; i++) begin
            automatic int p = int'(jm) + i;
            automatic coord_t d = bd + coord_t'(KD[p]);
            automatic coord_t h = bh + coord_t'(KH[p]);
            automatic coord_t w = bw + coord_t'(KW[p]);
            automatic slot_t slot = org + slot_t'(OFF[p]);
            inb[i] = d >= 0 && d < coord_t'(D) && h >= 0 && h < coord_t'(H) && w >= 0
                     && w < coord_t'(W);
            addr[i] = inb[i] ? AW'(slot) * AW'(CF) + AW'(rcf) : '0;
        end
    end

    always_ff @(posedge clk) pad_q <= ~inb;

    // ---- buffer: M banks, each a plain 1D memory with one synchronous read port (so that
    // synthesis infers block/distributed RAM, not flip-flops) --------------------------------
    wire [M*WORD-1:0] beat;
    slot_t wslot;
    assign wslot = wbase + slot_t'(wr_pix);
    for (genvar b = 0; b < M; b++) begin : bank
        logic [WORD-1:0] mem [DEPTH];
        logic [WORD-1:0] q;
        always_ff @(posedge clk) begin
            if (in_valid && in_ready) mem[AW'(wslot) * AW'(CF) + AW'(wr_cf)] <= in_data;
            q <= mem[addr[b]];
        end
        assign beat[b*WORD +: WORD] = pad_q[b] ? '0 : q;
    end

    logic pop;
    assign out_valid = f_count != 0;
    assign out_data = fifo[f_head];
    assign pop = out_valid && out_ready;

    logic wr_done_pix, vol_change;                // a pixel written; the reader's volume change
    assign wr_done_pix = in_valid && in_ready && int'(wr_cf) == CF - 1;
    assign vol_change = rd_frame_done && wr_ahead;
    // wr_abs's two next values from registers alone; in_ready (via wr_done_pix) only picks one
    pix_t wr_abs_v;
    assign wr_abs_v = vol_change ? wr_abs - NPIX_P : wr_abs;
    // the writer's wrap to the next volume (wr_pix: NPIX -> 0, wr_ahead: 0 -> 1)
    localparam pix_t NEWEST0 = HID0 + HIH0 + HIW0;
    logic wr_pix_wrap;
    assign wr_pix_wrap = wr_pix == NPIX_P && !wr_ahead;
    // room_cur (and room_m1) after an issued beat that starts the next output row
    // (keep_plane: need_lo is the plane start and stays; else lo_dt + max(th + S*W, 0)); after
    // one that starts the next plane it is max(td + S*H*W, 0) + L. Their parts are registers
    // too: lol_q = lo_dt + L, lol1_q = lo_dt + L - 1, nhl_q = max(th + S*W, 0),
    // ndl_q = max(td + S*H*W, 0) + L, ndl1_q = ndl_q - 1.
    pix_t lol_q, lol1_q, nhl_q, ndl_q, ndl1_q;
    pix_t room_h, room_h1;
    assign room_h = keep_plane ? room_cur : lol_q + nhl_q;
    assign room_h1 = keep_plane ? room_m1 : lol1_q + nhl_q;
    function automatic pix_t lo0(pix_t t);       // max(t, 0)
        return t < 0 ? '0 : t;
    endfunction

    always_ff @(posedge clk) begin
        if (!rst_n) begin
            wr_pix <= '0; wr_cf <= '0; wr_ahead <= 0; rbase <= '0; wr_abs <= '0;
            od <= '0; oh <= '0; ow <= '0; j <= '0; rcf <= '0; jm <= '0;
            bd <= coord_t'(-P); bh <= coord_t'(-P); bw <= coord_t'(-P);
            td <= T0D; th <= T0H; tw <= T0W;
            org <= slot_t'(T0D + T0H + T0W);
            hd_q <= HID0; hdh_q <= HID0 + HIH0; hdw_q <= HID0 + HIW0;
            newest_q <= NEWEST0; in_ready_q <= NPIX > 0;
            nd_q <= hi_d(T0D + pix_t'(S * HW)); nh_q <= hi_h(T0H + pix_t'(S * W));
            nw_q <= hi_x(T0W + pix_t'(S));
            rd_frame_done <= 0; rd_valid_q <= 0; f_head <= '0; f_count <= '0;
            room_cur <= pix_t'(L); room_m1 <= pix_t'(L - 1);
            lol_q <= lo0(T0D) + pix_t'(L); lol1_q <= lo0(T0D) + pix_t'(L - 1);
            nhl_q <= lo0(T0H + pix_t'(S * W));
            ndl_q <= lo0(T0D + pix_t'(S * HW)) + pix_t'(L);
            ndl1_q <= lo0(T0D + pix_t'(S * HW)) + pix_t'(L - 1);
        end else begin
            // a write this cycle (wr_done_pix) moves wr_pix and wr_abs on by one; wr_pix wraps
            // to 0 (wr_pix_wrap) only without a write
            // at the volume change wr_abs - NPIX is compared with L (need_lo of the new volume
            // is 0); else wr_abs (+ 1 if written) with room_cur
            if (vol_change)
                in_ready_q <= wr_done_pix
                              ? wr_pix != NPIX_P - 1'b1 && wr_abs < NPIX_P + pix_t'(L - 1)
                              : wr_pix != NPIX_P && wr_abs < NPIX_P + pix_t'(L);
            else
                in_ready_q <= wr_done_pix ? wr_pix != NPIX_P - 1'b1 && wr_abs < room_m1
                                          : (wr_pix_wrap || wr_pix != NPIX_P) && wr_abs < room_cur;
            // writer
            if (in_valid && in_ready) begin
                if (int'(wr_cf) == CF - 1) begin wr_cf <= '0; wr_pix <= wr_pix + 1'b1; end
                else wr_cf <= wr_cf + 1'b1;
            end
            // (wr_pix, wr_ahead) -> (0, 1) at wr_pix == NPIX keeps wr_abs
            wr_abs <= wr_done_pix ? wr_abs_v + 1'b1 : wr_abs_v;
            // reader: issue one beat
            rd_valid_q <= issue;
            if (issue) begin
                if (!(int'(rcf) == CF - 1 || M > 1)) rcf <= rcf + 1'b1;
                else begin
                    rcf <= '0;
                    if (int'(j) != NJ - 1) begin j <= j + 1'b1; jm <= jm + KKW'(M); end
                    else begin j <= '0; jm <= '0; end
                end
                // the next voxel; the registers that follow the origin with it (see above)
                if (step_w) begin
                    ow <= ow + 1'b1; tw <= tw + pix_t'(S); bw <= bw + coord_t'(S);
                    org <= org + slot_t'(S);
                    newest_q <= hdh_q + nw_q;
                    nw_q <= hi_x_at(tw, 2 * S);
                end
                if (step_h || step_d || step_wrap) begin
                    ow <= '0; tw <= T0W; bw <= coord_t'(-P);
                    nw_q <= hi_x(T0W + pix_t'(S));
                end
                if (step_h) begin
                    oh <= oh + 1'b1; th <= th + pix_t'(S * W); bh <= bh + coord_t'(S);
                    org <= org + slot_t'(S * W - (OW - 1) * S);
                    hdh_q <= hd_q + nh_q;
                    newest_q <= hdw_q + nh_q;
                    room_cur <= room_h; room_m1 <= room_h1;
                    nhl_q <= lo_at(th, 2 * S * W, 0);
                    nh_q <= hi_h_at(th, 2 * S * W);
                end
                if (step_d || step_wrap) begin
                    oh <= '0; th <= T0H; bh <= coord_t'(-P);
                    nhl_q <= lo0(T0H + pix_t'(S * W));
                    nh_q <= hi_h(T0H + pix_t'(S * W));
                end
                if (step_d) begin
                    od <= od + 1'b1; td <= td + pix_t'(S * HW); bd <= bd + coord_t'(S);
                    org <= org + slot_t'(S * HW - (OH - 1) * S * W - (OW - 1) * S);
                    hd_q <= nd_q;
                    hdh_q <= nd_q + HIH0;
                    hdw_q <= nd_q + HIW0;
                    newest_q <= nd_q + pix_t'(HIH0 + HIW0);
                    room_cur <= ndl_q; room_m1 <= ndl1_q;
                    lol_q <= ndl_q; lol1_q <= ndl1_q;
                    ndl_q <= lo_at(td, 2 * S * HW, L);
                    ndl1_q <= lo_at(td, 2 * S * HW, L - 1);
                    nd_q <= hi_d_at(td, 2 * S * HW);
                end
                if (step_wrap) begin
                    od <= '0; td <= T0D; bd <= coord_t'(-P);
                    rd_frame_done <= 1;
                    room_cur <= NPIX_P + pix_t'(L); room_m1 <= NPIX_P + pix_t'(L - 1);
                    lol_q <= lo0(T0D) + pix_t'(L); lol1_q <= lo0(T0D) + pix_t'(L - 1);
                    ndl_q <= lo0(T0D + pix_t'(S * HW)) + pix_t'(L);
                    ndl1_q <= lo0(T0D + pix_t'(S * HW)) + pix_t'(L - 1);
                    org <= rbase + slot_t'(T0D + T0H + T0W);
                    hd_q <= HID0; hdh_q <= HID0 + HIH0; hdw_q <= HID0 + HIW0;
                    newest_q <= NEWEST0;
                    nd_q <= hi_d(T0D + pix_t'(S * HW));
                end
            end
            // next volume: the writer moves on as soon as it has written this one, the reader
            // when it has read its volume and the writer is on the next one
            if (wr_pix == NPIX_P && !wr_ahead) begin
                wr_pix <= '0; wr_ahead <= 1;
            end
            if (vol_change) begin
                rd_frame_done <= 0; wr_ahead <= 0; rbase <= rbase + slot_t'(NPIX);
                org <= org + slot_t'(NPIX);
                room_cur <= pix_t'(L); room_m1 <= pix_t'(L - 1);
            end
            // FIFO
            if (rd_valid_q) fifo[f_head + 2'(f_count)] <= beat;
            if (pop) f_head <= f_head + 1'b1;
            f_count <= f_count + 3'(rd_valid_q) - 3'(pop);
        end
    end

`ifndef SYNTHESIS
    // The registers kept next to the counters equal what they stand for (checked in simulation).
    pix_t room_q;                                 // room as main's RTL registered it
    always_ff @(posedge clk) room_q <= !rst_n ? pix_t'(L) : (vol_change ? '0 : need_lo) + pix_t'(L);
    always_ff @(posedge clk) if (rst_n) begin
        if (newest_q != hi_d(td) + hi_h(th) + hi_x(tw) || hdh_q != hi_d(td) + hi_h(th)
            || hd_q != hi_d(td) || hdw_q != hi_d(td) + HIW0 || nd_q != hi_d(td + pix_t'(S * HW))
            || nh_q != hi_h(th + pix_t'(S * W)) || nw_q != hi_x(tw + pix_t'(S))
            || org != slot_t'(pix_t'(rbase) + td + th + tw)
            || wr_abs != (wr_ahead ? NPIX_P : '0) + wr_pix
            || in_ready_q != (wr_pix != NPIX_P && wr_abs < room_q)
            || room_cur != need_lo + pix_t'(L) || room_m1 != room_cur - 1'b1
            || lol_q != lo_dt + pix_t'(L) || lol1_q != lol_q - 1'b1
            || hi_d_at(td, S * HW) != hi_d(td + pix_t'(S * HW))
            || hi_h_at(th, S * W) != hi_h(th + pix_t'(S * W))
            || hi_x_at(tw, S) != hi_x(tw + pix_t'(S))
            || lo_at(td, S * HW, L) != lo0(td + pix_t'(S * HW)) + pix_t'(L)
            || nhl_q != lo0(th + pix_t'(S * W)) || ndl_q != lo0(td + pix_t'(S * HW)) + pix_t'(L)
            || ndl1_q != ndl_q - 1'b1
            || td != pix_t'(int'(bd) * HW) || th != pix_t'(int'(bh) * W) || tw != pix_t'(bw)
            || int'(bd) != int'(od) * S - P || int'(bh) != int'(oh) * S - P
            || int'(bw) != int'(ow) * S - P)
            $fatal(1, "hwreg_swg3d: a kept register disagrees with its counters");
    end
`endif
endmodule
