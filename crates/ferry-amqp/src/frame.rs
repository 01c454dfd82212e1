//! AMQP 0-9-1 framing: bytes in, [`Frame`]s out, and frames back to bytes. A pure codec over
//! `amq-protocol`'s method types; no I/O.
//!
//! A frame is `type:u8 channel:u16 size:u32 payload[size] 0xCE`. [`decode`] reads the 7-byte
//! header first and refuses a frame larger than the negotiated `frame_max` before any of its
//! payload is buffered, so a client can make the broker hold at most one frame_max per
//! connection. The payload is then handed to `amq-protocol`, which parses from the slice and so
//! allocates no more than the slice holds.

use amq_protocol::frame::{AMQPContentHeader, AMQPFrame, WriteContext, gen_frame};
use amq_protocol::protocol::AMQPClass;
use bytes::{Buf, Bytes, BytesMut};

use crate::errors::{ConnectionError, MethodId, ReplyCode};

/// Type, channel and size, ahead of every payload.
pub(crate) const HEADER_BYTES: usize = 7;
/// Header and end octet: what a frame costs beyond its payload.
pub(crate) const OVERHEAD_BYTES: usize = HEADER_BYTES + 1;
/// The octet that ends every frame.
const FRAME_END: u8 = 0xCE;

const FRAME_METHOD: u8 = 1;
const FRAME_HEADER: u8 = 2;
const FRAME_BODY: u8 = 3;
const FRAME_HEARTBEAT: u8 = 8;

/// The 8 bytes a client opens with; anything else is answered with these and a close.
pub(crate) const PROTOCOL_HEADER: [u8; 8] = *b"AMQP\x00\x00\x09\x01";

/// One decoded frame.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Frame {
    /// A method, with its class and method ids. `qos_prefetch_size` is the `prefetch-size` field
    /// of a `basic.qos`, which amq-protocol's `Qos` does not keep (0 for every other method).
    Method { channel: u16, id: MethodId, method: AMQPClass, qos_prefetch_size: u32 },
    /// A content header: the class of the content, its body size and its properties.
    Header { channel: u16, header: AMQPContentHeader },
    /// A piece of a content body.
    Body { channel: u16, payload: Bytes },
    /// A heartbeat (always on channel 0).
    Heartbeat,
}

impl Frame {
    /// The channel the frame belongs to (0 for the connection itself).
    pub(crate) fn channel(&self) -> u16 {
        match self {
            Frame::Method { channel, .. } | Frame::Header { channel, .. } | Frame::Body { channel, .. } => {
                *channel
            }
            Frame::Heartbeat => 0,
        }
    }
}

/// Takes the next whole frame off the front of `buf`. `Ok(None)`: more bytes are needed, and
/// [`needed`] says how many at most. An error leaves `buf` unusable: the stream has lost its
/// framing or the peer broke the protocol, and the connection must close with the error's code.
pub(crate) fn decode(buf: &mut BytesMut, frame_max: u32) -> Result<Option<Frame>, ConnectionError> {
    let Some(total) = frame_len(buf, frame_max)? else {
        return Ok(None);
    };
    if buf.len() < total {
        return Ok(None);
    }
    if buf[total - 1] != FRAME_END {
        return Err(frame_error(format!("frame end octet is 0x{:02X}, not 0xCE", buf[total - 1])));
    }
    let mut frame = buf.split_to(total).freeze();
    let kind = frame.get_u8();
    let channel = frame.get_u16();
    frame.advance(4);
    frame.truncate(frame.len() - 1);
    let payload = frame;
    match kind {
        FRAME_METHOD => decode_method(channel, &payload).map(Some),
        FRAME_HEADER => {
            check_nesting(&payload[..], HEADER_LAYOUT)
                .map_err(|depth| too_deep(depth, "content header", channel))?;
            let header = match amq_protocol::frame::parsing::parse_content_header(&payload[..]) {
                Ok(([], header)) => header,
                _ => {
                    return Err(ConnectionError::new(
                        ReplyCode::SyntaxError,
                        MethodId::NONE,
                        format!("malformed content header of {} bytes on channel {channel}", payload.len()),
                    ));
                }
            };
            Ok(Some(Frame::Header { channel, header }))
        }
        FRAME_BODY => Ok(Some(Frame::Body { channel, payload })),
        _ => {
            if channel != 0 {
                return Err(frame_error(format!(
                    "heartbeat frame on channel {channel}; heartbeats use channel 0"
                )));
            }
            Ok(Some(Frame::Heartbeat))
        }
    }
}

/// How many more bytes `buf` needs before [`decode`] can take a frame from it: never more than
/// one frame of `frame_max`. 0 when a frame is complete (or the header is already invalid).
pub(crate) fn needed(buf: &[u8], frame_max: u32) -> usize {
    match frame_len(buf, frame_max) {
        Ok(Some(total)) => total.saturating_sub(buf.len()),
        Ok(None) => HEADER_BYTES - buf.len(),
        Err(_) => 0,
    }
}

/// The whole length of the frame `buf` starts with, once its header is in; checks the type and
/// the size against `frame_max` before any payload is read.
fn frame_len(buf: &[u8], frame_max: u32) -> Result<Option<usize>, ConnectionError> {
    if buf.len() < HEADER_BYTES {
        return Ok(None);
    }
    let kind = buf[0];
    if !matches!(kind, FRAME_METHOD | FRAME_HEADER | FRAME_BODY | FRAME_HEARTBEAT) {
        return Err(frame_error(format!("unknown frame type {kind}")));
    }
    let size = u32::from_be_bytes([buf[3], buf[4], buf[5], buf[6]]) as u64;
    let total = size + OVERHEAD_BYTES as u64;
    if total > frame_max as u64 {
        return Err(frame_error(format!(
            "frame of {total} bytes on channel {} exceeds the negotiated frame_max of {frame_max} bytes",
            u16::from_be_bytes([buf[1], buf[2]])
        )));
    }
    Ok(Some(total as usize))
}

const BASIC_QOS: MethodId = MethodId::new(60, 10);

fn decode_method(channel: u16, payload: &[u8]) -> Result<Frame, ConnectionError> {
    if payload.len() < 4 {
        return Err(frame_error(format!(
            "method frame of {} bytes on channel {channel} is too short for its class and method ids",
            payload.len()
        )));
    }
    let id = MethodId::new(
        u16::from_be_bytes([payload[0], payload[1]]),
        u16::from_be_bytes([payload[2], payload[3]]),
    );
    let Some(name) = method_name(id) else {
        return Err(ConnectionError::new(
            ReplyCode::NotImplemented,
            id,
            format!("unknown method {}.{} on channel {channel}", id.class_id, id.method_id),
        ));
    };
    if let Some(layout) = table_layout(id) {
        check_nesting(&payload[4..], layout).map_err(|depth| too_deep(depth, name, channel))?;
    }
    match amq_protocol::protocol::parse_class(payload) {
        Ok(([], method)) => {
            // basic.qos's arguments start with prefetch-size (a long), which parse_class skips.
            let qos_prefetch_size = match (id == BASIC_QOS, payload.get(4..8)) {
                (true, Some(&[a, b, c, d])) => u32::from_be_bytes([a, b, c, d]),
                _ => 0,
            };
            Ok(Frame::Method { channel, id, method, qos_prefetch_size })
        }
        _ => Err(ConnectionError::new(
            ReplyCode::SyntaxError,
            id,
            format!("cannot decode the fields of {name} ({} bytes) on channel {channel}", payload.len()),
        )),
    }
}

/// Deepest nesting of field tables and arrays accepted in a frame. The codec parses nested
/// values recursively, so a frame of 128 KiB nested 26,000 deep would overflow a worker
/// thread's stack and abort the broker; real arguments and headers (`x-death` among them)
/// nest three or four deep.
pub(crate) const NESTING_MAX: usize = 64;

/// A field of a method or content header, as far as finding its field tables needs.
#[derive(Clone, Copy)]
enum Field {
    Octets(usize),
    ShortString,
    Table,
}

use Field::{Octets, ShortString, Table};

/// The content header up to its `headers` property: class, weight, body size, then the flags
/// say which of content-type, content-encoding and headers follow.
const HEADER_LAYOUT: &[Field] = &[];

/// The fields of each method that carries a field table, up to and including the table.
fn table_layout(id: MethodId) -> Option<&'static [Field]> {
    Some(match (id.class_id, id.method_id) {
        (10, 10) => &[Octets(2), Table],
        (10, 11) => &[Table],
        (40, 10) => &[Octets(2), ShortString, ShortString, Octets(1), Table],
        (40, 30) | (40, 40) => &[Octets(2), ShortString, ShortString, ShortString, Octets(1), Table],
        (50, 10) => &[Octets(2), ShortString, Octets(1), Table],
        (50, 20) => &[Octets(2), ShortString, ShortString, ShortString, Octets(1), Table],
        (50, 50) => &[Octets(2), ShortString, ShortString, ShortString, Table],
        (60, 20) => &[Octets(2), ShortString, ShortString, Octets(1), Table],
        _ => return None,
    })
}

/// Checks that no field table in `payload` nests deeper than [`NESTING_MAX`]; `Err` carries the
/// depth reached. Bytes that do not parse are left for the codec to refuse.
fn check_nesting(payload: &[u8], layout: &[Field]) -> Result<(), usize> {
    let mut rest = payload;
    if layout.is_empty() {
        // A content header: the headers table is there when flag 0x2000 is set.
        let Some((flags, after)) =
            take(rest, 14).map(|(fixed, after)| (u16::from_be_bytes([fixed[12], fixed[13]]), after))
        else {
            return Ok(());
        };
        rest = after;
        for (bit, field) in [(0x8000, ShortString), (0x4000, ShortString), (0x2000, Table)] {
            if flags & bit != 0 {
                match skip_field(rest, field, 0)? {
                    Some(after) => rest = after,
                    None => return Ok(()),
                }
            }
        }
        return Ok(());
    }
    for field in layout {
        match skip_field(rest, *field, 0)? {
            Some(after) => rest = after,
            None => return Ok(()),
        }
    }
    Ok(())
}

/// Skips one field at nesting `depth`: `Ok(None)` when the bytes end or do not parse.
fn skip_field(input: &[u8], field: Field, depth: usize) -> Result<Option<&[u8]>, usize> {
    match field {
        Octets(n) => Ok(take(input, n).map(|(_, rest)| rest)),
        ShortString => {
            let Some((len, rest)) = take(input, 1) else { return Ok(None) };
            Ok(take(rest, len[0] as usize).map(|(_, rest)| rest))
        }
        Table => {
            let Some((table, rest)) = sized(input) else { return Ok(None) };
            if depth + 1 > NESTING_MAX {
                return Err(depth + 1);
            }
            let mut entries = table;
            while !entries.is_empty() {
                let Some(after_key) = skip_field(entries, ShortString, depth)? else { return Ok(None) };
                let Some(after) = skip_value(after_key, depth + 1)? else { return Ok(None) };
                entries = after;
            }
            Ok(Some(rest))
        }
    }
}

/// Skips one typed field value inside a table or array at nesting `depth`.
fn skip_value(input: &[u8], depth: usize) -> Result<Option<&[u8]>, usize> {
    let Some((kind, rest)) = take(input, 1) else { return Ok(None) };
    let fixed = match kind[0] {
        b'V' => 0,
        b't' | b'b' | b'B' => 1,
        b's' | b'U' | b'u' => 2,
        b'I' | b'i' | b'f' => 4,
        b'D' => 5,
        b'L' | b'l' | b'd' | b'T' => 8,
        b'S' | b'x' => return Ok(sized(rest).map(|(_, rest)| rest)),
        b'F' => return skip_field(rest, Table, depth),
        b'A' => {
            let Some((array, rest)) = sized(rest) else { return Ok(None) };
            if depth + 1 > NESTING_MAX {
                return Err(depth + 1);
            }
            let mut values = array;
            while !values.is_empty() {
                let Some(after) = skip_value(values, depth + 1)? else { return Ok(None) };
                values = after;
            }
            return Ok(Some(rest));
        }
        _ => return Ok(None),
    };
    Ok(take(rest, fixed).map(|(_, rest)| rest))
}

/// Splits `n` bytes off the front.
fn take(input: &[u8], n: usize) -> Option<(&[u8], &[u8])> {
    (input.len() >= n).then(|| input.split_at(n))
}

/// Splits off a 32-bit length and the bytes it counts.
fn sized(input: &[u8]) -> Option<(&[u8], &[u8])> {
    let (len, rest) = take(input, 4)?;
    take(rest, u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize)
}

fn too_deep(depth: usize, what: &str, channel: u16) -> ConnectionError {
    ConnectionError::new(
        ReplyCode::SyntaxError,
        MethodId::NONE,
        format!(
            "field tables in {what} on channel {channel} nest {depth} deep; at most {NESTING_MAX} are accepted"
        ),
    )
}

fn frame_error(text: String) -> ConnectionError {
    ConnectionError::new(ReplyCode::FrameError, MethodId::NONE, text)
}

/// The name of every method AMQP 0-9-1 (with RabbitMQ's extensions) defines, `None` for ids
/// it does not.
pub(crate) fn method_name(id: MethodId) -> Option<&'static str> {
    Some(match (id.class_id, id.method_id) {
        (10, 10) => "connection.start",
        (10, 11) => "connection.start-ok",
        (10, 20) => "connection.secure",
        (10, 21) => "connection.secure-ok",
        (10, 30) => "connection.tune",
        (10, 31) => "connection.tune-ok",
        (10, 40) => "connection.open",
        (10, 41) => "connection.open-ok",
        (10, 50) => "connection.close",
        (10, 51) => "connection.close-ok",
        (10, 60) => "connection.blocked",
        (10, 61) => "connection.unblocked",
        (10, 70) => "connection.update-secret",
        (10, 71) => "connection.update-secret-ok",
        (20, 10) => "channel.open",
        (20, 11) => "channel.open-ok",
        (20, 20) => "channel.flow",
        (20, 21) => "channel.flow-ok",
        (20, 40) => "channel.close",
        (20, 41) => "channel.close-ok",
        (30, 10) => "access.request",
        (30, 11) => "access.request-ok",
        (40, 10) => "exchange.declare",
        (40, 11) => "exchange.declare-ok",
        (40, 20) => "exchange.delete",
        (40, 21) => "exchange.delete-ok",
        (40, 30) => "exchange.bind",
        (40, 31) => "exchange.bind-ok",
        (40, 40) => "exchange.unbind",
        (40, 51) => "exchange.unbind-ok",
        (50, 10) => "queue.declare",
        (50, 11) => "queue.declare-ok",
        (50, 20) => "queue.bind",
        (50, 21) => "queue.bind-ok",
        (50, 30) => "queue.purge",
        (50, 31) => "queue.purge-ok",
        (50, 40) => "queue.delete",
        (50, 41) => "queue.delete-ok",
        (50, 50) => "queue.unbind",
        (50, 51) => "queue.unbind-ok",
        (60, 10) => "basic.qos",
        (60, 11) => "basic.qos-ok",
        (60, 20) => "basic.consume",
        (60, 21) => "basic.consume-ok",
        (60, 30) => "basic.cancel",
        (60, 31) => "basic.cancel-ok",
        (60, 40) => "basic.publish",
        (60, 50) => "basic.return",
        (60, 60) => "basic.deliver",
        (60, 70) => "basic.get",
        (60, 71) => "basic.get-ok",
        (60, 72) => "basic.get-empty",
        (60, 80) => "basic.ack",
        (60, 90) => "basic.reject",
        (60, 100) => "basic.recover-async",
        (60, 110) => "basic.recover",
        (60, 111) => "basic.recover-ok",
        (60, 120) => "basic.nack",
        (85, 10) => "confirm.select",
        (85, 11) => "confirm.select-ok",
        (90, 10) => "tx.select",
        (90, 11) => "tx.select-ok",
        (90, 20) => "tx.commit",
        (90, 21) => "tx.commit-ok",
        (90, 30) => "tx.rollback",
        (90, 31) => "tx.rollback-ok",
        _ => return None,
    })
}

/// Appends a method frame to `out`.
pub(crate) fn encode_method(out: &mut Vec<u8>, channel: u16, method: AMQPClass) {
    encode(out, &AMQPFrame::Method(channel, method));
}

/// Appends a content-carrying method (`basic.deliver`, `get-ok`, `return`) with its header and
/// its body cut into frames of at most `frame_max` bytes.
pub(crate) fn encode_content(
    out: &mut Vec<u8>,
    channel: u16,
    method: AMQPClass,
    properties: amq_protocol::protocol::BasicProperties,
    body: &[u8],
    frame_max: u32,
) {
    encode(out, &AMQPFrame::Method(channel, method));
    let header = AMQPContentHeader { class_id: 60, body_size: body.len() as u64, properties };
    encode(out, &AMQPFrame::Header(channel, header));
    let chunk = (frame_max as usize).saturating_sub(OVERHEAD_BYTES).max(1);
    for piece in body.chunks(chunk) {
        out.push(FRAME_BODY);
        out.extend_from_slice(&channel.to_be_bytes());
        out.extend_from_slice(&(piece.len() as u32).to_be_bytes());
        out.extend_from_slice(piece);
        out.push(FRAME_END);
    }
}

/// Appends a heartbeat frame to `out`.
pub(crate) fn encode_heartbeat(out: &mut Vec<u8>) {
    out.extend_from_slice(&[FRAME_HEARTBEAT, 0, 0, 0, 0, 0, 0, FRAME_END]);
}

fn encode(out: &mut Vec<u8>, frame: &AMQPFrame) {
    let start = out.len();
    let buffer = std::mem::take(out);
    *out = match gen_frame(frame)(WriteContext::from(buffer)) {
        Ok(context) => context.into_inner().0,
        // Generation into a Vec fails only on a value the codec cannot represent (a short
        // string over 255 bytes); the frame is dropped, never half-written.
        Err(e) => {
            tracing::error!(error = %e, %frame, "cannot encode a frame; dropped");
            let mut buffer = Vec::new();
            std::mem::swap(&mut buffer, out);
            buffer.truncate(start);
            buffer
        }
    };
}

#[cfg(test)]
mod tests {
    use amq_protocol::protocol::{channel, connection, queue};
    use proptest::prelude::*;
    use proptest::test_runner::TestCaseError;

    use super::*;

    fn encoded(frame: &AMQPFrame) -> Vec<u8> {
        let mut out = Vec::new();
        encode(&mut out, frame);
        out
    }

    #[test]
    fn a_qos_frame_keeps_its_prefetch_size() {
        // basic.qos on channel 1: prefetch-size 4096, prefetch-count 5, global.
        let payload = [0, 60, 0, 10, 0, 0, 0x10, 0, 0, 5, 1];
        let mut bytes = vec![1, 0, 1, 0, 0, 0, payload.len() as u8];
        bytes.extend_from_slice(&payload);
        bytes.push(0xCE);
        let mut buf = BytesMut::from(&bytes[..]);
        let Some(Frame::Method { method, qos_prefetch_size, .. }) = decode(&mut buf, 4096).unwrap() else {
            panic!("not a method frame")
        };
        assert_eq!(qos_prefetch_size, 4096);
        let AMQPClass::Basic(amq_protocol::protocol::basic::AMQPMethod::Qos(qos)) = method else {
            panic!("{method:?}")
        };
        assert_eq!((qos.prefetch_count, qos.global), (5, true));
    }

    #[test]
    fn a_method_frame_round_trips() {
        let method = AMQPClass::Queue(queue::AMQPMethod::Declare(queue::Declare {
            queue: "orders".into(),
            durable: true,
            ..Default::default()
        }));
        let mut buf = BytesMut::from(&encoded(&AMQPFrame::Method(3, method.clone()))[..]);
        let frame = decode(&mut buf, 4096).unwrap().unwrap();
        assert_eq!(
            frame,
            Frame::Method { channel: 3, id: MethodId::new(50, 10), method, qos_prefetch_size: 0 }
        );
        assert!(buf.is_empty());
    }

    #[test]
    fn a_partial_frame_waits_for_exactly_its_missing_bytes() {
        let bytes =
            encoded(&AMQPFrame::Method(1, AMQPClass::Channel(channel::AMQPMethod::Open(channel::Open {}))));
        for cut in 0..bytes.len() {
            let mut buf = BytesMut::from(&bytes[..cut]);
            assert_eq!(decode(&mut buf, 4096).unwrap(), None);
            let need = needed(&buf, 4096);
            assert!(need > 0 && cut + need <= bytes.len(), "cut {cut} asks for {need}");
        }
    }

    #[test]
    fn a_frame_over_frame_max_is_refused_from_its_header_alone() {
        let mut buf = BytesMut::from(&[FRAME_BODY, 0, 1, 0, 0, 0x10, 0x00][..]);
        let e = decode(&mut buf, 4096).unwrap_err();
        assert_eq!(e.code, ReplyCode::FrameError);
        assert!(e.text.contains("frame_max"), "{}", e.text);
    }

    #[test]
    fn a_wrong_end_octet_is_a_frame_error() {
        let mut bytes = Vec::new();
        encode_heartbeat(&mut bytes);
        *bytes.last_mut().unwrap() = 0;
        let e = decode(&mut BytesMut::from(&bytes[..]), 4096).unwrap_err();
        assert_eq!(e.code, ReplyCode::FrameError);
    }

    #[test]
    fn an_unknown_method_is_not_implemented_and_bad_fields_are_a_syntax_error() {
        let unknown = [FRAME_METHOD, 0, 0, 0, 0, 0, 4, 0, 10, 0, 99, FRAME_END];
        let e = decode(&mut BytesMut::from(&unknown[..]), 4096).unwrap_err();
        assert_eq!((e.code, e.method), (ReplyCode::NotImplemented, MethodId::new(10, 99)));
        // connection.tune-ok needs 8 bytes of fields; it gets 1.
        let short = [FRAME_METHOD, 0, 0, 0, 0, 0, 5, 0, 10, 0, 31, 7, FRAME_END];
        let e = decode(&mut BytesMut::from(&short[..]), 4096).unwrap_err();
        assert_eq!((e.code, e.method), (ReplyCode::SyntaxError, MethodId::new(10, 31)));
    }

    #[test]
    fn heartbeats_belong_on_channel_zero() {
        let mut ok = Vec::new();
        encode_heartbeat(&mut ok);
        assert_eq!(decode(&mut BytesMut::from(&ok[..]), 4096).unwrap(), Some(Frame::Heartbeat));
        let stray = [FRAME_HEARTBEAT, 0, 2, 0, 0, 0, 0, FRAME_END];
        assert_eq!(decode(&mut BytesMut::from(&stray[..]), 4096).unwrap_err().code, ReplyCode::FrameError);
    }

    /// A queue.declare whose arguments nest field arrays `depth` deep, as one frame.
    fn nested_declare(depth: usize) -> Vec<u8> {
        let mut value = vec![b'A', 0, 0, 0, 0];
        for _ in 1..depth {
            let mut outer = vec![b'A'];
            outer.extend_from_slice(&(value.len() as u32).to_be_bytes());
            outer.extend_from_slice(&value);
            value = outer;
        }
        let mut table = vec![1, b'x'];
        table.extend_from_slice(&value);
        let mut payload = vec![0, 50, 0, 10, 0, 0, 0, 0];
        payload.extend_from_slice(&(table.len() as u32).to_be_bytes());
        payload.extend_from_slice(&table);
        let mut frame = vec![FRAME_METHOD, 0, 1];
        frame.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        frame.extend_from_slice(&payload);
        frame.push(FRAME_END);
        frame
    }

    #[test]
    fn deeply_nested_arguments_fail_without_exhausting_the_stack() {
        let frame_max = 131_072;
        let bytes = nested_declare((frame_max as usize - 30) / 5);
        assert!(bytes.len() <= frame_max as usize);
        // The stack of a tokio worker thread.
        let decoded = std::thread::Builder::new()
            .stack_size(2 * 1024 * 1024)
            .spawn(move || decode(&mut BytesMut::from(&bytes[..]), frame_max).map(|f| f.is_some()))
            .unwrap()
            .join()
            .unwrap();
        let e = decoded.unwrap_err();
        assert_eq!(e.code, ReplyCode::SyntaxError);
        assert!(e.text.contains("nest"), "{}", e.text);
    }

    #[test]
    fn nesting_up_to_the_limit_is_decoded() {
        let bytes = nested_declare(NESTING_MAX - 1);
        assert!(decode(&mut BytesMut::from(&bytes[..]), 131_072).unwrap().is_some());
        let bytes = nested_declare(NESTING_MAX);
        assert!(decode(&mut BytesMut::from(&bytes[..]), 131_072).is_err());
    }

    /// A frame of `kind` on `channel` around `payload`, with a correct size and end octet.
    fn framed(kind: u8, channel: u16, payload: &[u8]) -> Vec<u8> {
        let mut frame = vec![kind];
        frame.extend_from_slice(&channel.to_be_bytes());
        frame.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        frame.extend_from_slice(payload);
        frame.push(FRAME_END);
        frame
    }

    /// Decodes everything in `bytes` the way the connection does, checking at each step that
    /// no more than one frame_max is ever asked for.
    fn decode_all(bytes: &[u8], frame_max: u32) -> Result<usize, TestCaseError> {
        let mut buf = BytesMut::from(bytes);
        let mut frames = 0;
        loop {
            prop_assert!(needed(&buf, frame_max) <= frame_max as usize);
            match decode(&mut buf, frame_max) {
                Ok(Some(_)) => frames += 1,
                Ok(None) | Err(_) => return Ok(frames),
            }
        }
    }

    proptest! {
        #[test]
        fn any_bytes_decode_to_frames_or_an_error(
            bytes in proptest::collection::vec(any::<u8>(), 0..4096),
            frame_max in 4096u32..=131_072,
        ) {
            decode_all(&bytes, frame_max)?;
        }

        #[test]
        fn any_payload_behind_a_valid_frame_header_decodes_or_fails_cleanly(
            kind in prop_oneof![Just(FRAME_METHOD), Just(FRAME_HEADER), Just(FRAME_BODY), Just(FRAME_HEARTBEAT)],
            class_id in prop_oneof![Just(10u16), Just(20), Just(40), Just(50), Just(60), Just(85), Just(90), any::<u16>()],
            method_id in 0u16..=130,
            channel in any::<u16>(),
            fields in proptest::collection::vec(any::<u8>(), 0..1024),
        ) {
            let mut payload = Vec::new();
            if kind == FRAME_METHOD {
                payload.extend_from_slice(&class_id.to_be_bytes());
                payload.extend_from_slice(&method_id.to_be_bytes());
            }
            payload.extend_from_slice(&fields);
            let frame = framed(kind, channel, &payload);
            decode_all(&frame, 4096)?;
        }
    }

    #[test]
    fn content_is_cut_into_bodies_that_fit_frame_max() {
        let mut out = Vec::new();
        let deliver =
            AMQPClass::Basic(amq_protocol::protocol::basic::AMQPMethod::Deliver(Default::default()));
        encode_content(&mut out, 1, deliver, Default::default(), &[7u8; 10_000], 4096);
        let mut buf = BytesMut::from(&out[..]);
        let mut body = Vec::new();
        while let Some(frame) = decode(&mut buf, 4096).unwrap() {
            if let Frame::Body { payload, .. } = frame {
                assert!(payload.len() + OVERHEAD_BYTES <= 4096);
                body.extend_from_slice(&payload);
            }
        }
        assert_eq!(body, vec![7u8; 10_000]);
    }

    #[test]
    fn method_names_cover_the_generated_classes() {
        let close = AMQPClass::Connection(connection::AMQPMethod::CloseOk(connection::CloseOk {}));
        let id = MethodId::new(close.get_amqp_class_id(), close.get_amqp_method_id());
        assert_eq!(method_name(id), Some("connection.close-ok"));
    }
}
