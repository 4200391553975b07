// hwreg: 8N1 UART receiver and transmitter (the board's host link, hwreg_link.sv).
//
// CLKS_PER_BIT clock cycles per bit (clock / baud rate, at least 4). The receiver has no
// back-pressure (a serial line cannot wait): it pulses out_valid for one cycle per byte.
// The transmitter takes a byte whenever in_ready is high and shifts it out LSB first.
module hwreg_uart_rx #(
    parameter int CLKS_PER_BIT = 868
) (
    input  logic clk,
    input  logic rst_n,
    input  logic rx,
    output logic [7:0] out_data,
    output logic out_valid
);
    localparam int CW = $clog2(CLKS_PER_BIT + 1);
    logic [2:0] sync;  // two flops against metastability, one for the edge
    logic busy;
    logic [CW-1:0] count;
    logic [3:0] bit_i;  // 0: start bit, 1..8: data, 9: stop bit
    logic [7:0] shift;
    always_ff @(posedge clk) begin
        if (!rst_n) begin
            sync <= 3'b111;
            busy <= 1'b0;
            out_valid <= 1'b0;
        end else begin
            sync <= {sync[1:0], rx};
            out_valid <= 1'b0;
            if (!busy) begin
                if (sync[2:1] == 2'b10) begin  // falling edge: a start bit begins
                    busy <= 1'b1;
                    count <= CW'(CLKS_PER_BIT / 2);  // sample in the middle of each bit
                    bit_i <= '0;
                end
            end else if (count != 0) begin
                count <= count - 1'b1;
            end else begin
                count <= CW'(CLKS_PER_BIT - 1);
                bit_i <= bit_i + 1'b1;
                if (bit_i == 0 && sync[2]) busy <= 1'b0;  // a glitch, not a start bit
                if (bit_i >= 1 && bit_i <= 8) shift <= {sync[2], shift[7:1]};
                if (bit_i == 9) begin
                    busy <= 1'b0;
                    if (sync[2]) begin  // a valid stop bit
                        out_data <= shift;
                        out_valid <= 1'b1;
                    end
                end
            end
        end
    end
endmodule

module hwreg_uart_tx #(
    parameter int CLKS_PER_BIT = 868
) (
    input  logic clk,
    input  logic rst_n,
    input  logic [7:0] in_data,
    input  logic in_valid,
    output logic in_ready,
    output logic tx
);
    localparam int CW = $clog2(CLKS_PER_BIT + 1);
    logic [9:0] frame;  // stop, data[7:0], start; shifted out LSB first, 1s shifted in
    logic [3:0] left;
    logic [CW-1:0] count;
    assign in_ready = left == 0;
    always_ff @(posedge clk) begin
        if (!rst_n) begin
            tx <= 1'b1;
            left <= '0;
        end else if (left == 0) begin
            if (in_valid) begin
                frame <= {1'b1, in_data, 1'b0};
                left <= 4'd11;  // start, 8 data, stop, and the stop bit's full length
                count <= '0;
            end
        end else if (count != 0) begin
            count <= count - 1'b1;
        end else begin
            tx <= frame[0];
            frame <= {1'b1, frame[9:1]};
            count <= CW'(CLKS_PER_BIT - 1);
            left <= left - 1'b1;
        end
    end
endmodule
