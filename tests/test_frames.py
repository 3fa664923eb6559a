"""The pre-encoded frames the fan-out writes straight to the transports."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from server.fanout import text_frame


def parse(data: bytes) -> Frame:
    """Read one server-to-client frame back with python-websockets' own parser."""
    reader = StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    parser = Frame.parse(reader.read_exact, mask=False)
    try:
        next(parser)
    except StopIteration as done:
        frame: Frame = done.value
        assert reader.at_eof(), "bytes left after the frame"
        return frame
    raise AssertionError("the frame was incomplete")


@given(st.text(max_size=300))
def test_a_text_frame_reads_back_as_the_same_final_text(text: str) -> None:
    frame = parse(text_frame(text.encode()))
    assert frame.opcode is Opcode.TEXT and frame.fin and not frame.rsv1
    assert frame.data.decode() == text


def test_each_length_encoding_of_rfc_6455() -> None:
    # 7-bit, 16-bit and 64-bit payload lengths, at their edges.
    for size, header in [(125, 2), (126, 4), (65_535, 4), (65_536, 10)]:
        data = text_frame(b"a" * size)
        assert len(data) == header + size
        assert parse(data).data == b"a" * size
