// hwreg: simulation wrapper of hwreg_board (the board-level top): host bytes in on in0_V, a
// host-side UART transmitter drives the board's uart_rx pin; the board's uart_tx pin goes to a
// host-side UART receiver and out on out0_V. Lets the one Verilator harness
// (hwreg/rtl/harness.py) run the host protocol (hwreg/runtime/uart_link.py) against the board.
module hwreg_board_sim #(
    parameter int CLKS_PER_BIT = 4
) (
    input  logic ap_clk,
    input  logic ap_rst_n,
    input  logic [7:0] in0_V_TDATA,
    input  logic in0_V_TVALID,
    output logic in0_V_TREADY,
    output logic [7:0] out0_V_TDATA,
    output logic out0_V_TVALID,
    input  logic out0_V_TREADY
);
    logic [6:0] wait_por;  // the host starts after the board's power-on reset
    always_ff @(posedge ap_clk)
        if (!ap_rst_n) wait_por <= '0; else if (!wait_por[6]) wait_por <= wait_por + 1'b1;
    logic line_in, line_out, tx_ready, rx_valid, q_ready;
    logic [7:0] rx_byte;
    assign in0_V_TREADY = tx_ready && wait_por[6];
    hwreg_uart_tx #(.CLKS_PER_BIT(CLKS_PER_BIT)) host_tx (
        .clk(ap_clk), .rst_n(ap_rst_n), .in_data(in0_V_TDATA),
        .in_valid(in0_V_TVALID && wait_por[6]), .in_ready(tx_ready), .tx(line_in));
    hwreg_board #(.CLKS_PER_BIT(CLKS_PER_BIT)) board (
        .clk(ap_clk), .uart_rx(line_in), .uart_tx(line_out));
    hwreg_uart_rx #(.CLKS_PER_BIT(CLKS_PER_BIT)) host_rx (
        .clk(ap_clk), .rst_n(ap_rst_n), .rx(line_out), .out_data(rx_byte),
        .out_valid(rx_valid));
    // the serial line cannot wait: a byte the harness does not take at once is queued
    hwreg_fifo #(.WIDTH(8), .ADDR_BITS(6)) q (
        .clk(ap_clk), .rst_n(ap_rst_n), .in_data(rx_byte), .in_valid(rx_valid),
        .in_ready(q_ready), .out_data(out0_V_TDATA), .out_valid(out0_V_TVALID),
        .out_ready(out0_V_TREADY));
`ifndef SYNTHESIS
    always_ff @(posedge ap_clk) if (rx_valid && !q_ready) $display("hwreg_board_sim: byte lost");
`endif
endmodule
