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

    logic [WORD-1:0] mem [L * CF];
    int wr_pix, wr_cf, need_lo, src;
    int od, oh, ow, rcf;
    int sd, sh, sw;                 // (od/2)*H*W, (oh/2)*W, ow/2: the source pixel's offsets
    logic rd_frame_done;
    logic wr_ahead;                 // the writer is on the reader's next volume
    int rbase, wbase;               // buffer slots of the reader's / writer's pixel 0
    assign need_lo = rd_frame_done ? NPIX : sd;   // the plane being replayed
    assign src = sd + sh + sw;
    assign wbase = wr_ahead ? (rbase + NPIX) % L : rbase;
    assign in_ready = (wr_pix < NPIX) && ((wr_ahead ? NPIX : 0) + wr_pix < need_lo + L);

    always_ff @(posedge clk) begin
        if (in_valid && in_ready) mem[((wbase + wr_pix) % L) * CF + wr_cf] <= in_data;
    end

    logic [WORD-1:0] fifo [FIFO];
    int f_head, f_count;
    logic rd_valid_q, issue, pop;
    logic [WORD-1:0] rd_q;
    assign issue = !rd_frame_done && (wr_ahead || wr_pix > src)
                   && (f_count + int'(rd_valid_q) < FIFO);
    assign out_valid = f_count > 0;
    assign out_data = fifo[f_head];
    assign pop = out_valid && out_ready;

    always_ff @(posedge clk) rd_q <= mem[((rbase + src) % L) * CF + rcf];

    always_ff @(posedge clk) begin
        if (!rst_n) begin
            wr_pix <= 0; wr_cf <= 0; od <= 0; oh <= 0; ow <= 0; rcf <= 0;
            sd <= 0; sh <= 0; sw <= 0; wr_ahead <= 0; rbase <= 0;
            rd_frame_done <= 0; rd_valid_q <= 0; f_head <= 0; f_count <= 0;
        end else begin
            if (in_valid && in_ready) begin
                if (wr_cf == CF - 1) begin wr_cf <= 0; wr_pix <= wr_pix + 1; end
                else wr_cf <= wr_cf + 1;
            end
            rd_valid_q <= issue;
            if (issue) begin
                if (rcf == CF - 1) begin
                    rcf <= 0;
                    if (ow == 2 * W - 1) begin
                        ow <= 0; sw <= 0;
                        if (oh == 2 * H - 1) begin
                            oh <= 0; sh <= 0;
                            if (od == 2 * D - 1) begin od <= 0; sd <= 0; rd_frame_done <= 1; end
                            else begin od <= od + 1; if (od % 2 == 1) sd <= sd + H * W; end
                        end else begin oh <= oh + 1; if (oh % 2 == 1) sh <= sh + W; end
                    end else begin ow <= ow + 1; if (ow % 2 == 1) sw <= sw + 1; end
                end else rcf <= rcf + 1;
            end
            // next volume: the writer moves on as soon as it has written this one, the reader
            // when it has replayed its volume and the writer is on the next one
            if (wr_pix == NPIX && !wr_ahead) begin wr_pix <= 0; wr_ahead <= 1; end
            if (rd_frame_done && wr_ahead) begin
                rd_frame_done <= 0; wr_ahead <= 0; rbase <= (rbase + NPIX) % L;
            end
            if (rd_valid_q) fifo[(f_head + f_count) % FIFO] <= rd_q;
            if (pop) f_head <= (f_head + 1) % FIFO;
            f_count <= f_count + int'(rd_valid_q) - int'(pop);
        end
    end
endmodule
