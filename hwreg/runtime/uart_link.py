"""Host side of the board's UART link (``hw/hdl/hwreg_link.sv``): frames, CRC, and a session
that streams one input volume and collects the output stream.

Frame (both directions): ``0xA5, TYPE, LEN, payload (LEN bytes), CRC-8`` (polynomial 0x07,
init 0, over TYPE, LEN and the payload). Host -> board: ``DATA_IN`` frames whose payloads,
concatenated, are the accelerator's input beats (``in_bytes`` each, least significant byte
first). Board -> host: one ``DATA_OUT`` frame per output beat, and one ``ACK`` frame per received
frame (status 0 ok, 1 CRC error, 2 receive buffer overflow, 3 unknown type).

The same bytes drive the Verilator model of the board top (``hwreg_board_sim``,
:mod:`hwreg.rtl.board`; ``tests/runtime/test_uart_link.py``) and a serial port (:class:`Serial`
is any object with ``write(bytes)`` and ``read(n) -> bytes``, e.g. pyserial's ``Serial``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

SYNC = 0xA5
DATA_IN, DATA_OUT, ACK = 0x01, 0x81, 0x82
#: Largest payload the host puts in one frame (the board buffers 512 bytes).
MAX_PAYLOAD = 255
ACK_STATUS = {0: "ok", 1: "CRC error", 2: "receive buffer overflow", 3: "unknown frame type"}


class LinkError(RuntimeError):
    """The link delivered a bad frame or the board refused one of ours."""


def crc8(data: bytes, crc: int = 0) -> int:
    """CRC-8, polynomial 0x07 (x^8 + x^2 + x + 1), MSB first, no reflection, init ``crc``."""
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def frame(kind: int, payload: bytes) -> bytes:
    """One frame of ``kind`` carrying ``payload`` (at most 255 bytes)."""
    if len(payload) > 255:
        raise ValueError(f"payload of {len(payload)} bytes > 255")
    body = bytes([kind, len(payload)]) + payload
    return bytes([SYNC]) + body + bytes([crc8(body)])


def beats_to_bytes(beats: np.ndarray, width: int) -> bytes:
    """(N, words) uint32 beats (:func:`hwreg.rtl.harness.pack`) of ``width`` bits (whole bytes)
    -> their bytes, beat by beat, least significant first."""
    b = np.ascontiguousarray(beats, dtype="<u4").view(np.uint8).reshape(len(beats), -1)
    return b[:, : width // 8].tobytes()


def bytes_to_beats(data: bytes, width: int) -> np.ndarray:
    """Inverse of :func:`beats_to_bytes`: -> (N, words) uint32."""
    nb = width // 8
    words = (width + 31) // 32
    raw = np.frombuffer(data, np.uint8).reshape(-1, nb)
    out = np.zeros((raw.shape[0], 4 * words), np.uint8)
    out[:, :nb] = raw
    return out.view("<u4").reshape(raw.shape[0], words).astype(np.uint32)


def encode_input(beats: np.ndarray, width: int, payload: int = MAX_PAYLOAD) -> list[bytes]:
    """The input stream as ``DATA_IN`` frames of at most ``payload`` bytes each."""
    data = beats_to_bytes(beats, width)
    return [frame(DATA_IN, data[i:i + payload]) for i in range(0, len(data), payload)]


@dataclass
class Received:
    """What the board sent: output payload bytes (in order) and the ACK statuses."""

    data: bytes
    acks: list[int]
    frames: int


def decode(stream: bytes) -> Received:
    """Parse the board's byte stream (whole frames); LinkError on a bad sync byte, type, length
    or CRC."""
    data, acks, i, n = bytearray(), [], 0, 0
    while i < len(stream):
        if stream[i] != SYNC:
            raise LinkError(f"byte {i}: 0x{stream[i]:02x} where a frame starts (0xA5)")
        if i + 3 > len(stream):
            raise LinkError(f"byte {i}: frame header cut short")
        kind, length = stream[i + 1], stream[i + 2]
        end = i + 3 + length
        if end >= len(stream):
            raise LinkError(f"byte {i}: frame of {length} bytes cut short")
        if crc8(stream[i + 1:end]) != stream[end]:
            raise LinkError(f"byte {i}: CRC mismatch")
        payload = stream[i + 3:end]
        if kind == DATA_OUT:
            data += payload
        elif kind == ACK and length == 1:
            acks.append(payload[0])
        else:
            raise LinkError(f"byte {i}: unknown frame type 0x{kind:02x} (length {length})")
        i, n = end + 1, n + 1
    return Received(bytes(data), acks, n)


def response_length(n_out_beats: int, out_width: int, n_frames: int) -> int:
    """Bytes the board sends for ``n_out_beats`` output beats and ``n_frames`` received frames."""
    return n_out_beats * (4 + out_width // 8) + n_frames * 5


def check_acks(acks: list[int], n_frames: int) -> None:
    """LinkError unless there are ``n_frames`` ACKs, all ok."""
    bad = [(k, s) for k, s in enumerate(acks) if s]
    if bad:
        k, s = bad[0]
        raise LinkError(f"frame {k}: board answered {ACK_STATUS.get(s, s)} "
                        f"({len(bad)} of {len(acks)} frames refused)")
    if len(acks) != n_frames:
        raise LinkError(f"{len(acks)} ACKs for {n_frames} frames sent")


class Serial(Protocol):
    """A byte pipe to the board (pyserial's ``Serial`` fits)."""

    def write(self, data: bytes) -> int | None:
        """Send ``data``."""

    def read(self, size: int) -> bytes:
        """Receive up to ``size`` bytes (fewer on timeout)."""


def run_volume(port: Serial, beats: np.ndarray, in_width: int, n_out_beats: int,
               out_width: int) -> np.ndarray:
    """Stream one volume's input beats to the board over ``port``, one frame at a time (the
    next only after the previous frame's ACK, so the board's buffer never overflows), and
    return its ``n_out_beats`` output beats ((N, words) uint32)."""
    got = bytearray()
    frames = encode_input(beats, in_width)
    acks: list[int] = []
    for f in frames:
        port.write(f)
        while True:  # read until this frame's ACK (output frames may come first)
            rec = _read_frame(port)
            if rec[0] == ACK:
                acks.append(rec[1][0])
                break
            got += rec[1]
    check_acks(acks, len(frames))
    need = n_out_beats * (out_width // 8)
    while len(got) < need:
        kind, payload = _read_frame(port)
        if kind != DATA_OUT:
            raise LinkError(f"unexpected frame type 0x{kind:02x} after the last ACK")
        got += payload
    return bytes_to_beats(bytes(got), out_width)


def _read_frame(port: Serial) -> tuple[int, bytes]:
    head = port.read(3)
    if len(head) < 3:
        raise LinkError("timeout waiting for a frame from the board")
    rest = port.read(head[2] + 1)
    if len(rest) < head[2] + 1:
        raise LinkError("timeout inside a frame from the board")
    decode(head + rest)  # sync, type and CRC checked
    return head[1], rest[:head[2]]


def simulate_volume(model: Any, ctx: dict[str, np.ndarray], workdir: Path, part: str,
                    clock_ns: float, depths: dict[str, int] | None = None,
                    cache_dir: Path | None = None, backend: str = "finn") -> dict[str, Any]:
    """The board top (UART link + stitched accelerator of the HW graph ``model``, FIFO
    ``depths`` as the build's) under Verilator: the L3 input of ``ctx`` is framed here
    (:func:`encode_input`), sent through the board's serial pins, and the board's bytes decoded
    here (:func:`decode`). Returns ``{"exact" (output == L3 output), "acks_ok", "frames_in",
    "frames_out", "bytes_in", "bytes_out", "cycles"}``. ``backend``: the MVAU/Thresholding
    RTL (:func:`hwreg.rtl.layers.layer_rtl`)."""
    from qonnx.custom_op.registry import getCustomOp

    from hwreg.rtl import board, harness
    from hwreg.rtl.harness import pack, unpack
    from hwreg.rtl.stitch import stitch

    hdl = workdir / "hdl"
    _, files, runtime, spec, _ = stitch(model, hdl, part, clock_ns, 32, depths, backend=backend)
    g = spec.graph
    first, last = getCustomOp(g.node[0]), getCustomOp(g.node[-1])
    w_in, w_out = first.get_instream_width_padded(0), last.get_outstream_width_padded(0)
    files += board.write_board(hdl, w_in, w_out, board.SIM_CLKS_PER_BIT)
    files += board.sim_sources(hdl)
    byte = [harness.Port("in0_V", 8)], [harness.Port("out0_V", 8)]
    exe = harness.build(files, "hwreg_board_sim", *byte,
                        cache_dir or harness.DEFAULT_CACHE, normalise=[str(workdir)])
    x = ctx[g.input[0].name].reshape(-1, first.get_folded_input_shape(0)[-1])
    ref = ctx[g.output[0].name].reshape(-1, last.get_folded_output_shape(0)[-1])
    frames = encode_input(pack(x, first.get_input_datatype(0).bitwidth(), w_in), w_in)
    sent = b"".join(frames)
    n_back = response_length(len(ref), w_out, len(frames))
    got, cycles = harness.run(exe, [np.frombuffer(sent, np.uint8).astype(np.uint32)[:, None]],
                              [n_back], [8], workdir / "run", runtime)
    rec = decode(got[0][:, 0].astype(np.uint8).tobytes())
    check_acks(rec.acks, len(frames))
    dt = last.get_output_datatype(0)
    y = unpack(bytes_to_beats(rec.data, w_out), ref.shape[1], dt.bitwidth(), dt.signed())
    return {"exact": bool(y.shape == ref.shape and np.array_equal(y, ref)),
            "acks_ok": True, "frames_in": len(frames), "frames_out": rec.frames,
            "bytes_in": len(sent), "bytes_out": int(n_back), "cycles": int(cycles)}


__all__ = [
    "ACK",
    "ACK_STATUS",
    "DATA_IN",
    "DATA_OUT",
    "MAX_PAYLOAD",
    "SYNC",
    "LinkError",
    "Received",
    "Serial",
    "beats_to_bytes",
    "bytes_to_beats",
    "check_acks",
    "crc8",
    "decode",
    "encode_input",
    "frame",
    "response_length",
    "run_volume",
    "simulate_volume",
]
