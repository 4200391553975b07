"""The board's UART host link: the host side's frames and CRC (hwreg.runtime.uart_link) and the
same bytes through the board top's serial pins under Verilator (hw/hdl/hwreg_link.sv,
hwreg_uart.sv; hwreg.rtl.board)."""

from __future__ import annotations

import numpy as np
import pytest

from hwreg.rtl import board, harness
from hwreg.runtime import uart_link as ul


def test_crc8_check_value() -> None:
    assert ul.crc8(b"123456789") == 0xF4  # CRC-8 (poly 0x07, init 0): the catalogue's check
    assert ul.crc8(b"") == 0


def test_frames_round_trip_and_faults_are_named() -> None:
    stream = ul.frame(ul.DATA_OUT, b"\x01\x02\x03") + ul.frame(ul.ACK, b"\x00") \
        + ul.frame(ul.DATA_OUT, b"\xff")
    rec = ul.decode(stream)
    assert (rec.data, rec.acks, rec.frames) == (b"\x01\x02\x03\xff", [0], 3)
    bad = bytearray(stream)
    bad[4] ^= 0x10  # one payload bit flipped
    with pytest.raises(ul.LinkError, match="byte 0: CRC mismatch"):
        ul.decode(bytes(bad))
    with pytest.raises(ul.LinkError, match="0x5a where a frame starts"):
        ul.decode(b"\x5a" + stream)
    with pytest.raises(ul.LinkError, match="frame 1: board answered CRC error"):
        ul.check_acks([0, 1, 0], 3)
    with pytest.raises(ul.LinkError, match="2 ACKs for 3 frames"):
        ul.check_acks([0, 0], 3)


@pytest.mark.parametrize("width", [8, 24, 40, 72])
def test_beats_and_bytes_round_trip(width: int) -> None:
    rng = np.random.default_rng(width)
    vals = rng.integers(0, 16, size=(5, width // 4))
    beats = harness.pack(vals, 4, width)
    data = ul.beats_to_bytes(beats, width)
    assert len(data) == 5 * width // 8
    assert data[0] == (vals[0, 0] | vals[0, 1] << 4)  # least significant byte first
    assert np.array_equal(ul.bytes_to_beats(data, width), beats)
    frames = ul.encode_input(beats, width, payload=7)
    assert b"".join(f[3:-1] for f in frames) == data
    assert all(len(f) <= 7 + 4 for f in frames)


@pytest.mark.rtl
def test_link_protocol_exact_on_the_board_top(tmp_path, rtl_cache) -> None:
    """Host frames through the board top's uart_rx pin, a loopback accelerator (2-byte beats),
    the board's frames back from its uart_tx pin: every ACK status the RTL can give, payload
    forwarded in order, beats spanning frames."""
    hdl = tmp_path / "hdl"
    files = board.write_loopback(hdl, 16)
    files = [*files, *board.write_board(hdl, 16, 16, board.SIM_CLKS_PER_BIT,
                                        accel="hwreg_loopback")[:-1]]
    files = [*dict.fromkeys(files), hdl / "hwreg_board.sv", *board.sim_sources(hdl)]
    byte = [harness.Port("in0_V", 8)], [harness.Port("out0_V", 8)]
    exe = harness.build(files, "hwreg_board_sim", *byte, rtl_cache)
    good = ul.frame(ul.DATA_IN, bytes([1, 2, 3, 4]))
    bad_crc = bytearray(ul.frame(ul.DATA_IN, bytes([5, 6])))
    bad_crc[-1] ^= 0xFF
    odd = ul.frame(0x33, b"\x99")  # unknown type: payload dropped
    split = ul.frame(ul.DATA_IN, bytes([7, 8, 9])) + ul.frame(ul.DATA_IN, bytes([10]))
    empty = ul.frame(ul.DATA_IN, b"")
    sent = good + bytes(bad_crc) + odd + split + empty
    n_frames, n_beats = 6, 5  # 10 data bytes (the bad-CRC frame's too) = 5 beats of 2 bytes
    back = ul.response_length(n_beats, 16, n_frames)
    got, _ = harness.run(exe, [np.frombuffer(sent, np.uint8).astype(np.uint32)[:, None]],
                         [back], [8], tmp_path / "run")
    rec = ul.decode(got[0][:, 0].astype(np.uint8).tobytes())
    assert rec.acks == [0, 1, 3, 0, 0, 0]
    assert rec.data == bytes(range(1, 11))
    assert rec.frames == n_frames + n_beats


@pytest.mark.rtl
@pytest.mark.slow
def test_board_top_streams_a_volume_exactly(tiny_build, rtl_cache, tmp_path) -> None:
    """One input volume framed by the host side, through the board top (UART link + the
    stitched accelerator at the build's FIFO depths) under Verilator: the DDF stream decoded
    from the board's frames equals the L3 integers (which L4 and L5 equal, tests/rtl)."""
    from hwreg.compile.boards import board_info
    from hwreg.compile.config import BuildConfig, MvauStyle
    from hwreg.compile.fifos import read_fifo_depths
    from hwreg.config import load_yaml
    from hwreg.emulate import Levels, random_pairs

    model, grid, out = tiny_build
    cfg = load_yaml(BuildConfig, out / "build_config.yaml")
    if cfg.mvau_style is MvauStyle.hls or model.cfg.head_level != 0:
        pytest.skip("one rtl build is enough here")
    levels = Levels(out)
    _, ctx = levels.l3(next(random_pairs(grid, 1, seed=5)).x)
    r = ul.simulate_volume(levels.hw, ctx, tmp_path, board_info(cfg.board).finn_part,
                           cfg.clock_ns, read_fifo_depths(out), rtl_cache)
    assert r["exact"] and r["acks_ok"]
    assert r["frames_in"] == -(-r["bytes_in"] // (ul.MAX_PAYLOAD + 4))
