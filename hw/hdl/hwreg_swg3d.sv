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
    localparam int NPIX = D * H * W;
    localparam int L = 1 << ADDR_BITS;
    localparam int DEPTH = L * CF;               // words per bank
    localparam int FIFO = 4;

    // ---- writer -------------------------------------------------------------------------
    int wr_pix;                                   // pixel being written (= pixels complete)
    logic wr_ahead;                               // the writer is on the reader's next volume
    int rbase;                                    // buffer slot of the reader's pixel 0
    int wbase;                                    // buffer slot of the writer's pixel 0
    int wr_cf;
    int need_lo;                                  // oldest pixel the reader still needs
    int need_lo_q;                                // need_lo, registered (see below)
    logic rd_frame_done;
    // The writer may run one volume ahead of the reader (pixel NPIX + i of the reader's stream):
    // no bubble between volumes. It never overwrites a pixel the reader still needs.
    // in_ready compares against need_lo a cycle late: need_lo is a long chain of 32-bit
    // arithmetic on the reader's counters, and in_ready goes upstream combinationally (it was
    // the tiny network's ECP5 critical path). Within a volume need_lo only grows, so the late
    // value only stalls the writer a cycle longer; at the volume change, where it falls from
    // NPIX to the next volume's 0, the register takes the new value at once.
    assign wbase = wr_ahead ? (rbase + NPIX) % L : rbase;
    assign in_ready = (wr_pix < NPIX) && ((wr_ahead ? NPIX : 0) + wr_pix < need_lo_q + L);

    // ---- reader counters ----------------------------------------------------------------
    int od, oh, ow, j, rcf;
    int jm;                                      // j * M, kept as a register
    int bd, bh, bw;                              // window origin (may be negative)
    // The origin as linear pixel offsets, kept as registers next to od/oh/ow so that no
    // address needs a multiplier: td = bd*H*W, th = bh*W, tw = bw.
    int td, th, tw;
    int lo_dt, lo_ht, hi_dt, hi_ht, hi_w;        // clipped window bounds, as pixel offsets
    assign bd = od * S - P;                      // S is 1 or 2: no multiplier
    assign bh = oh * S - P;
    assign bw = ow * S - P;
    assign lo_dt = td < 0 ? 0 : td;
    assign lo_ht = th < 0 ? 0 : th;
    assign hi_dt = td + (K - 1) * H * W > (D - 1) * H * W ? (D - 1) * H * W : td + (K - 1) * H * W;
    assign hi_ht = th + (K - 1) * W > (H - 1) * W ? (H - 1) * W : th + (K - 1) * W;
    assign hi_w = tw + K - 1 > W - 1 ? W - 1 : tw + K - 1;
    // Oldest pixel any later voxel still needs: the start of the current window's first row,
    // or of its first plane when the next output plane starts at the same (clipped) input plane.
    int lo_dt_next;
    logic keep_plane;
    assign lo_dt_next = td + S * H * W < 0 ? 0 : td + S * H * W;
    assign keep_plane = od < OD - 1 && lo_dt_next == lo_dt;
    assign need_lo = rd_frame_done ? NPIX : keep_plane ? lo_dt : lo_dt + lo_ht;
    int newest;
    assign newest = hi_dt + hi_ht + hi_w;

    // ---- output FIFO with one-cycle read latency in front --------------------------------
    logic [M*WORD-1:0] fifo [FIFO];
    int f_head, f_count;
    logic rd_valid_q;
    logic [M-1:0] pad_q;
    logic issue;
    assign issue = !rd_frame_done && (wr_ahead || wr_pix > newest)
                   && (f_count + int'(rd_valid_q) < FIFO);

    logic [M-1:0] inb;
    int addr [M];
    // Kernel offsets of window position p = (kd, kh, kw) as constant tables: no divider in the
    // logic (p / (K*K), (p / K) % K, p % K on a 32-bit int would synthesise as dividers).
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
            automatic int p = jm + i;
            automatic int d = bd + KD[p];
            automatic int h = bh + KH[p];
            automatic int w = bw + KW[p];
            inb[i] = d >= 0 && d < D && h >= 0 && h < H && w >= 0 && w < W;
            addr[i] = inb[i] ? ((rbase + td + th + tw + OFF[p]) % L) * CF + rcf : 0;
        end
    end

    always_ff @(posedge clk) pad_q <= ~inb;

    // ---- buffer: M banks, each a plain 1D memory with one synchronous read port (so that
    // synthesis infers block/distributed RAM, not flip-flops) --------------------------------
    wire [M*WORD-1:0] beat;
    for (genvar b = 0; b < M; b++) begin : bank
        logic [WORD-1:0] mem [DEPTH];
        logic [WORD-1:0] q;
        always_ff @(posedge clk) begin
            if (in_valid && in_ready) mem[((wbase + wr_pix) % L) * CF + wr_cf] <= in_data;
            q <= mem[addr[b]];
        end
        assign beat[b*WORD +: WORD] = pad_q[b] ? '0 : q;
    end

    logic pop;
    assign out_valid = f_count > 0;
    assign out_data = fifo[f_head];
    assign pop = out_valid && out_ready;

    always_ff @(posedge clk) begin
        if (!rst_n) begin
            wr_pix <= 0; wr_cf <= 0; wr_ahead <= 0; rbase <= 0;
            od <= 0; oh <= 0; ow <= 0; j <= 0; rcf <= 0; jm <= 0;
            td <= -P * H * W; th <= -P * W; tw <= -P;
            rd_frame_done <= 0; rd_valid_q <= 0; f_head <= 0; f_count <= 0; need_lo_q <= 0;
        end else begin
            need_lo_q <= rd_frame_done && wr_ahead ? 0 : need_lo;
            // writer
            if (in_valid && in_ready) begin
                if (wr_cf == CF - 1) begin wr_cf <= 0; wr_pix <= wr_pix + 1; end
                else wr_cf <= wr_cf + 1;
            end
            // reader: issue one beat
            rd_valid_q <= issue;
            if (issue) begin
                if (rcf == CF - 1 || M > 1) begin
                    rcf <= 0;
                    if (j == NJ - 1) begin
                        j <= 0; jm <= 0;
                        if (ow == OW - 1) begin
                            ow <= 0; tw <= -P;
                            if (oh == OH - 1) begin
                                oh <= 0; th <= -P * W;
                                if (od == OD - 1) begin
                                    od <= 0; td <= -P * H * W; rd_frame_done <= 1;
                                end else begin od <= od + 1; td <= td + S * H * W; end
                            end else begin oh <= oh + 1; th <= th + S * W; end
                        end else begin ow <= ow + 1; tw <= tw + S; end
                    end else begin j <= j + 1; jm <= jm + M; end
                end else rcf <= rcf + 1;
            end
            // next volume: the writer moves on as soon as it has written this one, the reader
            // when it has read its volume and the writer is on the next one
            if (wr_pix == NPIX && !wr_ahead) begin
                wr_pix <= 0; wr_ahead <= 1;
            end
            if (rd_frame_done && wr_ahead) begin
                rd_frame_done <= 0; wr_ahead <= 0; rbase <= (rbase + NPIX) % L;
            end
            // FIFO
            if (rd_valid_q) fifo[(f_head + f_count) % FIFO] <= beat;
            if (pop) f_head <= (f_head + 1) % FIFO;
            f_count <= f_count + int'(rd_valid_q) - int'(pop);
        end
    end
endmodule
