// Behavioural model of the iCE40 UltraPlus SPRAM block for simulation, written from the
// primitive's documented behaviour: 16,384 x 16 bit, one port; with CHIPSELECT high a clock
// edge reads ADDRESS into DATAOUT (WREN low) or writes the nibbles enabled by MASKWREN
// (WREN high, DATAOUT then undefined); with CHIPSELECT low DATAOUT holds. POWEROFF is active
// low; SLEEP and a powered-off block drive DATAOUT to zero.
module SB_SPRAM256KA (
    input [13:0] ADDRESS,
    input [15:0] DATAIN,
    input [3:0] MASKWREN,
    input WREN, CHIPSELECT, CLOCK, STANDBY, SLEEP, POWEROFF,
    output reg [15:0] DATAOUT
);
    reg [15:0] mem [0:16383];
    always @(posedge CLOCK) begin
        if (SLEEP || !POWEROFF) begin
            DATAOUT <= 16'h0000;
        end else if (CHIPSELECT && !STANDBY) begin
            if (!WREN) begin
                DATAOUT <= mem[ADDRESS];
            end else begin
                if (MASKWREN[0]) mem[ADDRESS][ 3: 0] <= DATAIN[ 3: 0];
                if (MASKWREN[1]) mem[ADDRESS][ 7: 4] <= DATAIN[ 7: 4];
                if (MASKWREN[2]) mem[ADDRESS][11: 8] <= DATAIN[11: 8];
                if (MASKWREN[3]) mem[ADDRESS][15:12] <= DATAIN[15:12];
                DATAOUT <= 16'hxxxx;
            end
        end
    end
endmodule
