// hwreg: the board's host link - a framed byte protocol over a UART (hwreg_uart.sv) in front of
// the accelerator's AXI streams. The host side is hwreg/runtime/uart_link.py.
//
// Frame (both directions): 0xA5, TYPE, LEN, LEN payload bytes, CRC-8 (polynomial 0x07, init 0,
// over TYPE, LEN and the payload).
//   host -> board  TYPE 0x01 DATA: payload bytes are the input stream, IN_BYTES bytes per beat,
//                  least significant byte first; beats may span frames.
//   board -> host  TYPE 0x81 DATA: one output beat (OUT_BYTES bytes, least significant first);
//                  TYPE 0x82 ACK: one byte per received frame, in order: 0 ok, 1 CRC error,
//                  2 receive buffer overflow, 3 unknown TYPE (its payload is dropped).
// A frame's payload is passed on while it arrives (the CRC is checked at its end and reported in
// the ACK), through a buffer of 2**RX_ADDR_BITS bytes: a host that sends its next frame only
// after the previous frame's ACK never overflows it.
module hwreg_link #(
    parameter int CLKS_PER_BIT = 868,
    parameter int IN_BYTES = 1,
    parameter int OUT_BYTES = 1,
    parameter int RX_ADDR_BITS = 9
) (
    input  logic clk,
    input  logic rst_n,
    input  logic rx,
    output logic tx,
    output logic [IN_BYTES*8-1:0] m_data,
    output logic m_valid,
    input  logic m_ready,
    input  logic [OUT_BYTES*8-1:0] s_data,
    input  logic s_valid,
    output logic s_ready
);
    localparam logic [7:0] SYNC = 8'hA5, T_DATA_IN = 8'h01, T_DATA_OUT = 8'h81, T_ACK = 8'h82;

    function automatic logic [7:0] crc8(input logic [7:0] c, input logic [7:0] d);
        logic [7:0] x;
        x = c ^ d;
        for (int i = 0; i < 8; i++) x = x[7] ? ((x << 1) ^ 8'h07) : (x << 1);
        return x;
    endfunction

    // ---- receive: UART -> frame parser -> byte buffer -> beats ----
    logic [7:0] rx_byte;
    logic rx_valid;
    hwreg_uart_rx #(.CLKS_PER_BIT(CLKS_PER_BIT)) urx (
        .clk(clk), .rst_n(rst_n), .rx(rx), .out_data(rx_byte), .out_valid(rx_valid));

    typedef enum logic [2:0] {R_SYNC, R_TYPE, R_LEN, R_PAY, R_CRC} rstate_t;
    rstate_t rs;
    logic [7:0] r_type, r_left, r_crc;
    logic r_over;
    logic buf_in_ready, buf_valid, buf_ready;
    logic [7:0] buf_data;
    logic push;
    assign push = rx_valid && rs == R_PAY && r_type == T_DATA_IN;
    hwreg_fifo #(.WIDTH(8), .ADDR_BITS(RX_ADDR_BITS)) rxbuf (
        .clk(clk), .rst_n(rst_n), .in_data(rx_byte), .in_valid(push), .in_ready(buf_in_ready),
        .out_data(buf_data), .out_valid(buf_valid), .out_ready(buf_ready));

    logic [7:0] ack_status;
    logic ack_push, ack_valid, ack_pop;
    logic [7:0] ack_data;
    logic ack_in_ready;
    hwreg_fifo #(.WIDTH(8), .ADDR_BITS(4)) acks (
        .clk(clk), .rst_n(rst_n), .in_data(ack_status), .in_valid(ack_push),
        .in_ready(ack_in_ready), .out_data(ack_data), .out_valid(ack_valid), .out_ready(ack_pop));

    always_ff @(posedge clk) begin
        ack_push <= 1'b0;
        if (!rst_n) begin
            rs <= R_SYNC;
            r_over <= 1'b0;
        end else if (rx_valid) begin
            case (rs)
                R_SYNC: if (rx_byte == SYNC) rs <= R_TYPE;
                R_TYPE: begin
                    r_type <= rx_byte;
                    r_crc <= crc8(8'h00, rx_byte);
                    rs <= R_LEN;
                end
                R_LEN: begin
                    r_left <= rx_byte;
                    r_crc <= crc8(r_crc, rx_byte);
                    rs <= rx_byte == 0 ? R_CRC : R_PAY;
                end
                R_PAY: begin
                    r_crc <= crc8(r_crc, rx_byte);
                    if (push && !buf_in_ready) r_over <= 1'b1;
                    r_left <= r_left - 1'b1;
                    if (r_left == 1) rs <= R_CRC;
                end
                default: begin  // R_CRC
                    ack_status <= rx_byte != r_crc ? 8'd1 : r_over ? 8'd2
                                  : r_type != T_DATA_IN ? 8'd3 : 8'd0;
                    ack_push <= 1'b1;
                    r_over <= 1'b0;
                    rs <= R_SYNC;
                end
            endcase
        end
    end

    // bytes -> beats of IN_BYTES (least significant byte first)
    localparam int KW = $clog2(IN_BYTES + 1);
    logic [KW-1:0] have;
    logic full;
    assign buf_ready = !full;
    assign m_valid = full;
    always_ff @(posedge clk) begin
        if (!rst_n) begin
            have <= '0;
            full <= 1'b0;
        end else begin
            if (m_valid && m_ready) full <= 1'b0;
            if (buf_valid && buf_ready) begin
                m_data[have*8 +: 8] <= buf_data;
                if (have == KW'(IN_BYTES - 1)) begin
                    have <= '0;
                    full <= 1'b1;
                end else begin
                    have <= have + 1'b1;
                end
            end
        end
    end

    // ---- transmit: ACKs first, then output beats, one frame each ----
    typedef enum logic [2:0] {T_IDLE, T_SYNC, T_TYPE, T_LEN, T_PAY, T_CRC} tstate_t;
    tstate_t ts;
    localparam int PB = OUT_BYTES > 1 ? OUT_BYTES : 1;
    localparam int PW = PB * 8;
    logic [PW-1:0] pay;
    logic [7:0] t_type, t_len, t_left, t_crc, t_byte;
    logic tx_ready;
    assign ack_pop = ts == T_IDLE && ack_valid;
    assign s_ready = ts == T_IDLE && !ack_valid;
    always_comb begin
        case (ts)
            T_SYNC: t_byte = SYNC;
            T_TYPE: t_byte = t_type;
            T_LEN: t_byte = t_len;
            T_PAY: t_byte = pay[7:0];
            default: t_byte = t_crc;
        endcase
    end
    hwreg_uart_tx #(.CLKS_PER_BIT(CLKS_PER_BIT)) utx (
        .clk(clk), .rst_n(rst_n), .in_data(t_byte), .in_valid(ts != T_IDLE),
        .in_ready(tx_ready), .tx(tx));
    always_ff @(posedge clk) begin
        if (!rst_n) begin
            ts <= T_IDLE;
        end else if (ts == T_IDLE) begin
            if (ack_valid) begin
                pay <= PW'(ack_data);
                t_type <= T_ACK;
                t_len <= 8'd1;
                ts <= T_SYNC;
            end else if (s_valid) begin
                pay <= PW'(s_data);
                t_type <= T_DATA_OUT;
                t_len <= 8'(OUT_BYTES);
                ts <= T_SYNC;
            end
        end else if (tx_ready) begin
            case (ts)
                T_SYNC: ts <= T_TYPE;
                T_TYPE: begin
                    t_crc <= crc8(8'h00, t_type);
                    ts <= T_LEN;
                end
                T_LEN: begin
                    t_crc <= crc8(t_crc, t_len);
                    t_left <= t_len;
                    ts <= T_PAY;
                end
                T_PAY: begin
                    t_crc <= crc8(t_crc, pay[7:0]);
                    pay <= pay >> 8;
                    t_left <= t_left - 1'b1;
                    if (t_left == 1) ts <= T_CRC;
                end
                default: ts <= T_IDLE;  // T_CRC sent
            endcase
        end
    end
endmodule
