//! The wire codec: how a `(TopicId, Message)` pair becomes a frame of bytes on
//! a stream, and back. The format is specified in `docs/PROTOCOL.md`; the test
//! vectors printed there are checked by the tests at the bottom of this file.
//!
//! A frame is an unsigned LEB128 length `L` (1 to 4 bytes) followed by `L`
//! bytes of body. The body is the [`VERSION`] byte, a topic reference, and
//! the postcard (v1, serde) encoding of the `Message<PI>`. The topic
//! reference is either [`NEW_TOPIC`] followed by the 32-byte topic id, or a
//! one-byte index into the topics the same stream named before; an origin
//! field (in GOSSIP, PRUNE_ORIGIN and GRAFT_ORIGIN) likewise is either
//! [`NEW_ORIGIN`] and the peer id, or an index into the stream's origins
//! ([`StreamTables`]). [`encode`] writes the long forms, which any stream
//! accepts, and a stream's writer shortens them with [`StreamTables::write`].
//!
//! Encoding goes through postcard's serde serializer. Decoding walks the
//! message enum by hand and uses postcard only for the fields, so the length
//! of every sequence is checked against the bytes actually left in the body
//! before anything is allocated for it: a frame can never make the decoder
//! allocate more than a small constant plus a multiple of its own length
//! (given a peer id type whose own decoding is bounded likewise).
//! The tests check that this walk accepts exactly what postcard's derived
//! decoder accepts.

use std::mem::size_of;

use bytes::BufMut;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{Gossip, IHaveEntry, Message, MessageId, PeerInfo, TopicId};

/// The domain-separation prefix of the bytes a GOSSIP's origin signs.
pub const SIGNATURE_PREFIX: &[u8] = b"hypar/sig/v4/";

/// Length of an Ed25519 signature.
pub const SIGNATURE_LEN: usize = 64;

/// The protocol version, the first byte of every frame body.
pub const VERSION: u8 = 7;

/// The topic reference that is followed by a whole topic id (which the
/// stream's [`StreamTables`] then remember).
pub const NEW_TOPIC: u8 = 0x00;

/// A keep-alive: where a frame's length prefix would start, the single byte
/// `0x00` (a length of zero) stands alone. It carries nothing and belongs to
/// no topic; a peer sends it on a neighbour link that has been quiet, so the
/// other side can tell a quiet link from a dead one. [`decode`] reads frames
/// only: a reader checks for this byte first.
pub const KEEP_ALIVE: u8 = 0x00;

/// Longest length prefix accepted: 4 LEB128 bytes, i.e. bodies below 2^28 bytes.
const MAX_PREFIX_LEN: usize = 4;

/// Largest body a 4-byte length prefix can declare.
const MAX_BODY_LEN: usize = (1 << (7 * MAX_PREFIX_LEN)) - 1;

/// version + topic reference in its long form ([`NEW_TOPIC`] and the topic
/// id) + variant index (always one byte: there are 15 variants).
const BODY_HEADER_LEN: usize = 1 + 1 + 32 + 1;

/// Largest varint encodings of the integer types used in messages.
const MAX_VARINT_U16: usize = 3;
const MAX_VARINT_U32: usize = 5;
const MAX_VARINT_U64: usize = 10;

/// Largest encoding of one [`IHaveEntry`]: 16-byte id + varint u16 hops +
/// varint u32 age.
const IHAVE_ENTRY_MAX_LEN: usize = 16 + MAX_VARINT_U16 + MAX_VARINT_U32;
/// Smallest encoding of one [`IHaveEntry`].
const IHAVE_ENTRY_MIN_LEN: usize = 16 + 1 + 1;
/// Smallest encoding of one [`PeerInfo`]: the id may in principle encode to
/// nothing, the `Option` tag of its data is always there.
const PEER_INFO_MIN_LEN: usize = 1;

/// A sequence's storage is preallocated up to this many bytes; beyond that it
/// grows only as elements actually decode.
const PREALLOC_MAX_BYTES: usize = 4096;

/// One decoded frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame<PI> {
    /// The topic the message belongs to.
    pub topic: TopicId,
    /// The message.
    pub message: Message<PI>,
}

/// Why bytes could not be encoded into, or decoded from, a frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The frame (length prefix included) is, or declares to be, larger than
    /// the limit.
    #[error("frame of {size} bytes exceeds the limit of {max} bytes")]
    FrameTooLarge {
        /// The frame's (declared) size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The body starts with a version byte this implementation does not speak.
    #[error("unsupported wire version {0} (this implementation speaks version {VERSION})")]
    UnsupportedVersion(u8),
    /// The length prefix is zero, not minimally encoded, or longer than 4 bytes.
    #[error("malformed frame length prefix (zero, not minimally encoded, or longer than 4 bytes)")]
    BadLength,
    /// The body did not decode as a message, or bytes follow the message.
    #[error("malformed frame: {0}")]
    Malformed(String),
    /// The body's topic reference is cut short, or a topic or origin index
    /// names no entry of its stream's table: the stream's [`StreamTables`]
    /// can no longer be trusted, so neither can the stream.
    #[error("bad reference: {0}")]
    BadRef(String),
    /// A whole frame of `size` bytes (length prefix included) arrived, but
    /// its body did not decode: the frame can be skipped and the stream
    /// read on, since its length was sound.
    #[error("malformed frame of {size} bytes: {reason}")]
    BadFrame {
        /// The frame's size, to skip it.
        size: usize,
        /// What was wrong with the body.
        reason: String,
    },
}

/// Appends the frame encoding `(topic, message)` to `out`, with the topic
/// and any origin in full ([`NEW_TOPIC`], [`NEW_ORIGIN`]), valid as any
/// frame of any stream. [`StreamTables::write`] shortens it for a stream.
///
/// Fails with [`WireError::FrameTooLarge`] if the whole frame, length prefix
/// included, would exceed `max_frame` bytes; `out` is then left untouched
/// (neither its contents nor its capacity change).
pub fn encode<PI: Serialize>(
    topic: &TopicId,
    message: &Message<PI>,
    max_frame: usize,
    out: &mut Vec<u8>,
) -> Result<(), WireError> {
    let value = (topic, message);
    let encoded = postcard::serialize_with_flavor(&value, postcard::ser_flavors::Size::default())
        .map_err(|e| WireError::Malformed(format!("cannot encode {} message: {e}", message.kind())))?;
    let body_len = encoded.saturating_add(2);
    let size = varint_len(body_len).saturating_add(body_len);
    if size > max_frame || body_len > MAX_BODY_LEN {
        return Err(WireError::FrameTooLarge { size, max: max_frame.min(MAX_PREFIX_LEN + MAX_BODY_LEN) });
    }

    let start = out.len();
    out.reserve_exact(size);
    write_varint(body_len, out);
    out.push(VERSION);
    out.push(NEW_TOPIC);
    let written = postcard::serialize_with_flavor(&value, AppendTo(out));
    // Both passes run the same `Serialize` impls; only a non-deterministic one
    // could make them disagree.
    if let Err(e) = written {
        out.truncate(start);
        return Err(WireError::Malformed(format!("cannot encode {} message: {e}", message.kind())));
    }
    if out.len() - start != size {
        out.truncate(start);
        return Err(WireError::Malformed(format!(
            "{} message serialized to a different length than measured",
            message.kind()
        )));
    }
    Ok(())
}

/// Decodes the frame at the start of `buf` as the first frame of a stream
/// (with empty [`StreamTables`]): a frame that refers to a topic or an
/// origin by index fails with [`WireError::BadRef`]. A stream's reader keeps
/// its tables and calls [`StreamTables::decode`] instead.
pub fn decode<PI: DeserializeOwned + Serialize + PartialEq + Clone>(
    buf: &[u8],
    max_frame: usize,
) -> Result<Option<(Frame<PI>, usize)>, WireError> {
    StreamTables::default().decode(buf, max_frame)
}

/// Decodes one frame body (version byte, topic reference and message, no
/// length prefix) as the first of a stream, for transports that delimit
/// messages themselves. The whole of `body` must be consumed: trailing bytes
/// are an error.
pub fn decode_body<PI: DeserializeOwned + Serialize + PartialEq + Clone>(body: &[u8]) -> Result<Frame<PI>, WireError> {
    StreamTables::default().decode_body(body).map(|(frame, _)| frame)
}

/// What one stream has named in full: its topic table and its origin table,
/// the state behind its references. A stream's writer and its reader each
/// keep one, and they stay equal because both change them only as the same
/// frames pass, in order. A new stream starts empty.
///
/// Bounded: each table holds at most [`MAX_REFS`] entries (topics 32 bytes
/// each, origins at most [`MAX_REMEMBERED_ORIGIN`] bytes encoded). When a
/// table is full, a name sent in full takes the place of the oldest.
#[derive(Debug, Clone)]
pub struct StreamTables<PI> {
    topics: Table<TopicId>,
    origins: Table<PI>,
}

impl<PI> Default for StreamTables<PI> {
    fn default() -> Self {
        StreamTables { topics: Table::default(), origins: Table::default() }
    }
}

/// Variants whose first field is an origin (GOSSIP, PRUNE_ORIGIN,
/// GRAFT_ORIGIN).
const ORIGIN_FIRST: [u8; 3] = [7, 13, 14];

impl<PI: DeserializeOwned + Serialize + PartialEq + Clone> StreamTables<PI> {
    /// Appends `frame`, as [`encode`] made it, to `out` in the shortest form
    /// this stream allows: its topic, and the origin it names first (if
    /// any), each as a one-byte index if the stream named it before, else
    /// as it came (and then remembered). Bytes that are not such a frame (a
    /// keep-alive) are appended unchanged.
    ///
    /// Returns the frame's topic and how many bytes shorter than `frame`
    /// it went out (`None` for bytes that are not a frame).
    pub fn write(&mut self, frame: &[u8], out: &mut bytes::BytesMut) -> Option<(TopicId, usize)> {
        let Some((body_len, topic, message)) = long_form(frame) else {
            out.extend_from_slice(frame);
            return None;
        };
        let start = out.len();
        let topic_ref = self.topics.reference(TopicId(*topic));
        // An origin in full right after the variant: its index, and what
        // follows the peer id.
        let origin_ref = match message {
            [variant, NEW_ORIGIN, rest @ ..] if ORIGIN_FIRST.contains(variant) => {
                self.origin_ref(rest).map(|(index, after)| ([*variant, index], after))
            }
            _ => None,
        };
        let mut len = body_len;
        if topic_ref.is_some() {
            len -= 32;
        }
        if let Some((_, after)) = origin_ref {
            // The tag and the peer id become the index.
            len -= message.len() - 2 - after.len();
        }
        write_varint(len, out);
        out.put_u8(VERSION);
        match topic_ref {
            Some(index) => out.put_u8(index),
            None => {
                out.put_u8(NEW_TOPIC);
                out.extend_from_slice(topic);
            }
        }
        match origin_ref {
            Some((head, after)) => {
                out.extend_from_slice(&head);
                out.extend_from_slice(after);
            }
            None => out.extend_from_slice(message),
        }
        Some((TopicId(*topic), frame.len() - (out.len() - start)))
    }

    /// A writer's lookup of the peer id at the start of `rest`: its index and
    /// the bytes after it, if the stream named it before; else `None`, and
    /// it is remembered if it may be.
    fn origin_ref<'a>(&mut self, rest: &'a [u8]) -> Option<(u8, &'a [u8])> {
        let (origin, after) = postcard::take_from_bytes::<PI>(rest).ok()?;
        if !rememberable(rest.len() - after.len()) {
            return None;
        }
        Some((self.origins.reference(origin)?, after))
    }

    /// Decodes the frame at the start of `buf`, the next frame of this
    /// stream. Returns `Ok(None)` if `buf` holds only the beginning of a
    /// frame (read more and call again), or the frame and the number of
    /// bytes it took.
    ///
    /// A whole frame whose message does not decode is
    /// [`WireError::BadFrame`], with its size so a reader can skip it (a
    /// topic or origin it named in full before the fault is remembered all
    /// the same, as its writer did); every other error leaves the stream
    /// unreadable. The declared length is checked against `max_frame` as soon
    /// as the length prefix is complete, before the body is waited for, and
    /// an unknown version byte is rejected as soon as it arrives.
    pub fn decode(&mut self, buf: &[u8], max_frame: usize) -> Result<Option<(Frame<PI>, usize)>, WireError> {
        let Some((body_len, prefix_len)) = read_length_prefix(buf)? else {
            return Ok(None);
        };
        let size = prefix_len + body_len;
        if size > max_frame {
            return Err(WireError::FrameTooLarge { size, max: max_frame });
        }
        let body = &buf[prefix_len..];
        if let Some(&version) = body.first() {
            if version != VERSION {
                return Err(WireError::UnsupportedVersion(version));
            }
        }
        if body.len() < body_len {
            return Ok(None);
        }
        let (frame, expanded) = self.decode_body(&body[..body_len]).map_err(|e| match e {
            WireError::Malformed(reason) => WireError::BadFrame { size, reason },
            other => other,
        })?;
        // The limit is on the frame with its names in full, as its sender
        // checked it: what a node takes in it can pass on.
        let full = varint_len(body_len + expanded) + body_len + expanded;
        if full > max_frame {
            let reason = format!("with its names in full the frame takes {full} bytes, above the limit of {max_frame}");
            return Err(WireError::BadFrame { size, reason });
        }
        Ok(Some((frame, size)))
    }

    /// [`StreamTables::decode`] of a body without its length prefix; also
    /// returns how many bytes longer the body is with its names in full.
    fn decode_body(&mut self, body: &[u8]) -> Result<(Frame<PI>, usize), WireError> {
        let Some((&version, rest)) = body.split_first() else {
            return Err(WireError::BadRef("empty body".into()));
        };
        if version != VERSION {
            return Err(WireError::UnsupportedVersion(version));
        }
        // A topic named by index saves its 32 bytes.
        let topic_saved = if rest.first() == Some(&NEW_TOPIC) { 0 } else { 32 };
        let (topic, rest) = self.topic(rest)?;
        let mut reader = Reader { rest, origins: &mut self.origins, expanded: topic_saved };
        let message = reader.message()?;
        if !reader.rest.is_empty() {
            return Err(WireError::Malformed(format!(
                "{} trailing bytes after the {} message",
                reader.rest.len(),
                message.kind()
            )));
        }
        Ok((Frame { topic, message }, reader.expanded))
    }

    /// Reads the topic reference at the start of `rest`, remembering a topic
    /// named in full; returns the topic and the bytes after the reference.
    fn topic<'a>(&mut self, rest: &'a [u8]) -> Result<(TopicId, &'a [u8]), WireError> {
        match rest.split_first() {
            Some((&NEW_TOPIC, rest)) => {
                let Some((id, rest)) = rest.split_first_chunk::<32>() else {
                    return Err(WireError::BadRef(format!("a topic id of 32 bytes, {} left", rest.len())));
                };
                let topic = TopicId(*id);
                self.topics.remember(topic);
                Ok((topic, rest))
            }
            Some((&index, rest)) => match self.topics.get(index) {
                Some(topic) => Ok((topic, rest)),
                None => Err(WireError::BadRef(format!(
                    "topic #{index} of a stream that named {} topics",
                    self.topics.len()
                ))),
            },
            None => Err(WireError::BadRef("the body ends before it".into())),
        }
    }
}

/// A frame as [`encode`] writes it: its body length, topic id and message.
fn long_form(frame: &[u8]) -> Option<(usize, &[u8; 32], &[u8])> {
    let (body_len, prefix_len) = read_length_prefix(frame).ok().flatten()?;
    match &frame[prefix_len..] {
        [VERSION, NEW_TOPIC, rest @ ..] if prefix_len + body_len == frame.len() => {
            let (topic, message) = rest.split_first_chunk::<32>()?;
            Some((body_len, topic, message))
        }
        _ => None,
    }
}

/// The tag of an origin field that holds the peer id in full; `01` to `7f`
/// are indices of the stream's origin table.
pub const NEW_ORIGIN: u8 = 0x00;

/// The most entries a stream's topic table, or origin table, holds:
/// references 1 to this, always one byte.
pub const MAX_REFS: usize = 127;

/// An origin whose peer id encodes to more bytes than this is never
/// remembered (a libp2p peer id takes at most 67).
pub const MAX_REMEMBERED_ORIGIN: usize = 128;

/// Whether an origin whose peer id encodes to `len` bytes goes into a
/// stream's origin table: the same rule for its writer and its reader.
fn rememberable(len: usize) -> bool {
    len <= MAX_REMEMBERED_ORIGIN
}

/// One of a stream's tables: names in the order they were sent in full,
/// the oldest replaced once [`MAX_REFS`] are held.
#[derive(Debug, Clone)]
struct Table<T> {
    names: Vec<T>,
    /// Where the next name goes once the table is full.
    oldest: usize,
}

impl<T> Default for Table<T> {
    fn default() -> Self {
        Table { names: Vec::new(), oldest: 0 }
    }
}

impl<T: PartialEq + Clone> Table<T> {
    fn len(&self) -> usize {
        self.names.len()
    }

    /// The name of reference `index` (1 to the table's length).
    fn get(&self, index: u8) -> Option<T> {
        self.names.get(usize::from(index).checked_sub(1)?).cloned()
    }

    /// A writer's lookup: the reference of `name` if the table holds it;
    /// else `None`, and the name is remembered (it goes out in full).
    fn reference(&mut self, name: T) -> Option<u8> {
        match self.names.iter().position(|n| *n == name) {
            Some(i) => Some(i as u8 + 1),
            None => {
                self.remember(name);
                None
            }
        }
    }

    /// A name sent in full: appended, or in place of the oldest once the
    /// table is full. A reader remembers every one (even a repeat), a writer
    /// only names it does not hold, so both change at the same frames.
    fn remember(&mut self, name: T) {
        if self.names.len() < MAX_REFS {
            self.names.push(name);
        } else {
            self.names[self.oldest] = name;
            self.oldest = (self.oldest + 1) % MAX_REFS;
        }
    }
}

/// An upper bound of the frame size of a [`Message::Gossip`] carrying
/// `payload_len` payload bytes from an origin whose peer id encodes to
/// `origin_len` bytes ([`encoded_len`]), signed or not, whatever its
/// sequence number, hops, limit, age and (if signed) time. At most 27 bytes
/// above the real size, and exact when seq ≥ 2^63, hops and limit ≥ 2^14,
/// age ≥ 2^28 ms and time ≥ 2^63 ms.
pub fn gossip_frame_len(payload_len: usize, origin_len: usize, signed: bool) -> usize {
    let numbers = 8 + MAX_VARINT_U64 + 2 * MAX_VARINT_U16 + MAX_VARINT_U32;
    // The auth option's tag, then the time and the length-prefixed signature.
    let auth = 1 + if signed { MAX_VARINT_U64 + 1 + SIGNATURE_LEN } else { 0 };
    // The origin in full: its tag, then the peer id.
    let fixed = BODY_HEADER_LEN + 1 + origin_len + numbers + varint_len(payload_len) + auth;
    let body = fixed.saturating_add(payload_len);
    varint_len(body).saturating_add(body)
}

/// An upper bound of the frame size of a [`Message::Direct`] carrying
/// `payload_len` bytes.
pub fn direct_frame_len(payload_len: usize) -> usize {
    let body = (BODY_HEADER_LEN + varint_len(payload_len)).saturating_add(payload_len);
    varint_len(body).saturating_add(body)
}

/// An upper bound of the frame size of a [`Message::Proxy`] carrying
/// `payload_len` bytes, whatever its limit and age. Never above the
/// [`gossip_frame_len`] of the same payload from any origin, unsigned.
pub fn proxy_frame_len(payload_len: usize) -> usize {
    let fixed = BODY_HEADER_LEN + 8 + MAX_VARINT_U16 + MAX_VARINT_U32 + varint_len(payload_len);
    let body = fixed.saturating_add(payload_len);
    varint_len(body).saturating_add(body)
}

/// The bytes a GOSSIP's origin signs, and every receiver verifies:
/// [`SIGNATURE_PREFIX`], the topic id (32 bytes), the origin's peer id as
/// a peer id is encoded on the wire (without the origin field's tag), the session and the sequence number (8 bytes each,
/// little-endian), the hop limit (2 bytes, little-endian), the time (8
/// bytes, little-endian), then the payload.
pub fn signed_bytes<PI: Serialize>(
    topic: &TopicId,
    origin: &PI,
    session: u64,
    seq: u64,
    limit: u16,
    time_ms: u64,
    payload: &[u8],
) -> Vec<u8> {
    let mut out = signed_header(topic, origin, session, seq, limit, time_ms);
    out.extend_from_slice(payload);
    out
}

/// [`signed_bytes`] without the payload that ends them (a verifier hashes
/// the two in turn rather than copy the payload).
pub fn signed_header<PI: Serialize>(
    topic: &TopicId,
    origin: &PI,
    session: u64,
    seq: u64,
    limit: u16,
    time_ms: u64,
) -> Vec<u8> {
    let origin = postcard::to_allocvec(origin).unwrap_or_default();
    let mut out = Vec::with_capacity(SIGNATURE_PREFIX.len() + 32 + origin.len() + 26);
    out.extend_from_slice(SIGNATURE_PREFIX);
    out.extend_from_slice(topic.as_bytes());
    out.extend_from_slice(&origin);
    out.extend_from_slice(&session.to_le_bytes());
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(&limit.to_le_bytes());
    out.extend_from_slice(&time_ms.to_le_bytes());
    out
}

/// How many bytes `value` (a peer id, say) takes on the wire.
pub fn encoded_len<T: Serialize>(value: &T) -> usize {
    postcard::serialize_with_flavor(value, postcard::ser_flavors::Size::default()).unwrap_or(0)
}

/// How many [`IHaveEntry`] fit in one [`Message::IHave`] frame of at most
/// `max_frame` bytes, whatever their hops and ages; at least 1.
pub fn max_ihave_entries(max_frame: usize) -> usize {
    // The answer is at most this, and within a few entries of it.
    let mut n = max_frame / IHAVE_ENTRY_MAX_LEN;
    while n > 1 && ihave_frame_len(n) > max_frame {
        n -= 1;
    }
    n.max(1)
}

/// Largest frame size of an IHAVE with `n` entries.
fn ihave_frame_len(n: usize) -> usize {
    let body = (BODY_HEADER_LEN + varint_len(n)).saturating_add(n.saturating_mul(IHAVE_ENTRY_MAX_LEN));
    varint_len(body).saturating_add(body)
}

/// Reads the LEB128 length prefix at the start of `buf`: `Ok(None)` if it is
/// incomplete, else the declared body length and the prefix length.
fn read_length_prefix(buf: &[u8]) -> Result<Option<(usize, usize)>, WireError> {
    let mut value = 0usize;
    for (i, &byte) in buf.iter().take(MAX_PREFIX_LEN).enumerate() {
        value |= usize::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            // A zero last byte after a continuation is a non-minimal encoding.
            if value == 0 || (i > 0 && byte == 0) {
                return Err(WireError::BadLength);
            }
            return Ok(Some((value, i + 1)));
        }
    }
    if buf.len() >= MAX_PREFIX_LEN {
        Err(WireError::BadLength)
    } else {
        Ok(None)
    }
}

fn varint_len(mut n: usize) -> usize {
    let mut len = 1;
    while n >= 0x80 {
        n >>= 7;
        len += 1;
    }
    len
}

fn write_varint(mut n: usize, out: &mut impl BufMut) {
    while n >= 0x80 {
        out.put_u8((n as u8) | 0x80);
        n >>= 7;
    }
    out.put_u8(n as u8);
}

/// A postcard output that appends to a `Vec` it borrows.
struct AppendTo<'a>(&'a mut Vec<u8>);

impl postcard::ser_flavors::Flavor for AppendTo<'_> {
    type Output = ();

    fn try_push(&mut self, byte: u8) -> postcard::Result<()> {
        self.0.push(byte);
        Ok(())
    }

    fn try_extend(&mut self, bytes: &[u8]) -> postcard::Result<()> {
        self.0.extend_from_slice(bytes);
        Ok(())
    }

    fn finalize(self) -> postcard::Result<()> {
        Ok(())
    }
}

/// Walks a body after its topic reference. Mirrors the serde-derived layout
/// of [`Message`]: a varint variant index, then the variant's fields in
/// order; an origin field may also be an index of the stream's `origins`.
struct Reader<'a, 'b, PI> {
    rest: &'a [u8],
    origins: &'b mut Table<PI>,
    /// Bytes the references read so far saved: what naming the origin in
    /// full would have added.
    expanded: usize,
}

impl<PI: DeserializeOwned + Serialize + PartialEq + Clone> Reader<'_, '_, PI> {
    /// Decodes one postcard value. Used only for types whose decoding
    /// allocates no more than the bytes it consumes (no sequences inside,
    /// apart from what a peer id type may hold).
    fn take<T: DeserializeOwned>(&mut self, what: &str) -> Result<T, WireError> {
        let (value, rest) =
            postcard::take_from_bytes::<T>(self.rest).map_err(|e| WireError::Malformed(format!("bad {what}: {e}")))?;
        self.rest = rest;
        Ok(value)
    }

    /// Decodes a postcard sequence (varint length, then the elements) whose
    /// elements each take at least `min_len` bytes, refusing a length the
    /// remaining bytes cannot hold before allocating anything.
    fn seq<T: DeserializeOwned>(&mut self, what: &str, min_len: usize) -> Result<Vec<T>, WireError> {
        let claimed = self.take::<u64>(what)?;
        let fits = self.rest.len() / min_len;
        let len = match usize::try_from(claimed) {
            Ok(len) if len <= fits => len,
            _ => {
                return Err(WireError::Malformed(format!(
                    "bad {what}: {claimed} elements claimed, the {} remaining bytes hold at most {fits}",
                    self.rest.len()
                )))
            }
        };
        let mut items = Vec::with_capacity(len.min(PREALLOC_MAX_BYTES / size_of::<T>().max(1)));
        for _ in 0..len {
            items.push(self.take::<T>(what)?);
        }
        Ok(items)
    }

    /// An origin field: [`NEW_ORIGIN`] and the peer id (remembered), or the
    /// index of one the stream named before.
    fn origin(&mut self, what: &str) -> Result<PI, WireError> {
        let (&tag, rest) =
            self.rest.split_first().ok_or_else(|| WireError::Malformed(format!("bad {what}: the body ends")))?;
        self.rest = rest;
        if tag != NEW_ORIGIN {
            let origin = self.origins.get(tag).ok_or_else(|| {
                WireError::BadRef(format!("{what}: origin #{tag} of a stream that named {}", self.origins.len()))
            })?;
            self.expanded += encoded_len(&origin);
            return Ok(origin);
        }
        let before = self.rest.len();
        let origin: PI = self.take(what)?;
        if rememberable(before - self.rest.len()) {
            self.origins.remember(origin.clone());
        }
        Ok(origin)
    }

    fn message(&mut self) -> Result<Message<PI>, WireError> {
        let variant = self.take::<u32>("message variant index")?;
        Ok(match variant {
            0 => Message::Join { data: self.take("Join.data")? },
            1 => Message::ForwardJoin { peer: self.take("ForwardJoin.peer")?, ttl: self.take("ForwardJoin.ttl")? },
            2 => Message::Neighbor { priority: self.take("Neighbor.priority")?, data: self.take("Neighbor.data")? },
            3 => Message::NeighborReply { accepted: self.take("NeighborReply.accepted")? },
            4 => Message::Disconnect { alive: self.take("Disconnect.alive")? },
            5 => Message::Shuffle {
                origin: self.take("Shuffle.origin")?,
                ttl: self.take("Shuffle.ttl")?,
                peers: self.seq::<PeerInfo<PI>>("Shuffle.peers", PEER_INFO_MIN_LEN)?,
            },
            6 => Message::ShuffleReply { peers: self.seq::<PeerInfo<PI>>("ShuffleReply.peers", PEER_INFO_MIN_LEN)? },
            7 => {
                let origin = self.origin("Gossip.origin")?;
                let session = self.take::<[u8; 8]>("Gossip.session").map(u64::from_le_bytes)?;
                let seq = self.take("Gossip.seq")?;
                let hops = self.take("Gossip.hops")?;
                let limit = self.take("Gossip.limit")?;
                let age_ms = self.take("Gossip.age_ms")?;
                let payload = self.take("Gossip.payload")?;
                let mut g = Gossip::new(origin, session, seq, hops, age_ms, payload).with_limit(limit);
                g.auth = self.take("Gossip.auth")?;
                Message::Gossip(g)
            }
            8 => Message::IHave(self.seq::<IHaveEntry>("IHave entries", IHAVE_ENTRY_MIN_LEN)?),
            9 => Message::Graft { id: self.take::<Option<MessageId>>("Graft.id")? },
            10 => Message::Prune,
            11 => Message::Direct { payload: self.take("Direct.payload")? },
            12 => Message::Proxy {
                nonce: self.take::<[u8; 8]>("Proxy.nonce").map(u64::from_le_bytes)?,
                limit: self.take("Proxy.limit")?,
                age_ms: self.take("Proxy.age_ms")?,
                payload: self.take("Proxy.payload")?,
            },
            13 => Message::PruneOrigin { origin: self.origin("PruneOrigin.origin")? },
            14 => Message::GraftOrigin { origin: self.origin("GraftOrigin.origin")? },
            other => return Err(WireError::Malformed(format!("unknown message variant index {other}"))),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::fmt;

    use bytes::Bytes;
    use proptest::prelude::*;
    use serde::{Deserialize, Deserializer, Serializer};

    use super::*;
    use crate::{Auth, Gossip, PlumtreeConfig, Priority};

    /// The default frame limit.
    const MAX: usize = 64 * 1024;

    /// A peer id shaped like libp2p's `PeerId`: `Copy`, at most 38 bytes (an
    /// Ed25519 identity multihash), serialized as a byte string.
    #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
    struct BytesId {
        len: u8,
        buf: [u8; 38],
    }

    impl BytesId {
        fn new(bytes: &[u8]) -> Self {
            let mut buf = [0; 38];
            buf[..bytes.len()].copy_from_slice(bytes);
            BytesId { len: bytes.len() as u8, buf }
        }

        fn as_bytes(&self) -> &[u8] {
            &self.buf[..usize::from(self.len)]
        }
    }

    impl fmt::Debug for BytesId {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "BytesId({})", hex(self.as_bytes()))
        }
    }

    impl Serialize for BytesId {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_bytes(self.as_bytes())
        }
    }

    impl<'de> Deserialize<'de> for BytesId {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct Visitor;
            impl serde::de::Visitor<'_> for Visitor {
                type Value = BytesId;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("a peer id of at most 38 bytes")
                }
                fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<BytesId, E> {
                    if v.len() > 38 {
                        return Err(E::invalid_length(v.len(), &self));
                    }
                    Ok(BytesId::new(v))
                }
            }
            d.deserialize_bytes(Visitor)
        }
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    fn topic() -> TopicId {
        TopicId::from_name("chat")
    }

    fn frame<PI: Serialize>(topic: &TopicId, message: &Message<PI>) -> Vec<u8> {
        let mut out = Vec::new();
        encode(topic, message, PlumtreeConfig::MAX_MESSAGE_SIZE, &mut out).unwrap();
        out
    }

    /// The variant index every message kind must have on the wire. The match
    /// is exhaustive, so adding a variant to `Message` breaks this test until
    /// the decoder and `docs/PROTOCOL.md` are updated.
    fn variant_index<PI>(message: &Message<PI>) -> u8 {
        match message {
            Message::Join { .. } => 0,
            Message::ForwardJoin { .. } => 1,
            Message::Neighbor { .. } => 2,
            Message::NeighborReply { .. } => 3,
            Message::Disconnect { .. } => 4,
            Message::Shuffle { .. } => 5,
            Message::ShuffleReply { .. } => 6,
            Message::Gossip(_) => 7,
            Message::IHave(_) => 8,
            Message::Graft { .. } => 9,
            Message::Prune => 10,
            Message::Direct { .. } => 11,
            Message::Proxy { .. } => 12,
            Message::PruneOrigin { .. } => 13,
            Message::GraftOrigin { .. } => 14,
        }
    }

    fn every_variant<PI: Copy + Serialize>(a: PI, b: PI) -> Vec<Message<PI>> {
        let data = Some(Bytes::from_static(b"/ip4/10.0.0.1/udp/4001/quic-v1"));
        vec![
            Message::Join { data: None },
            Message::Join { data: data.clone() },
            Message::ForwardJoin { peer: PeerInfo { id: a, data: data.clone() }, ttl: 6 },
            Message::Neighbor { priority: Priority::High, data: None },
            Message::Neighbor { priority: Priority::Low, data: data.clone() },
            Message::NeighborReply { accepted: true },
            Message::NeighborReply { accepted: false },
            Message::Disconnect { alive: true },
            Message::Disconnect { alive: false },
            Message::Shuffle {
                origin: PeerInfo { id: a, data: data.clone() },
                ttl: 255,
                peers: vec![PeerInfo::new(a), PeerInfo { id: b, data: Some(Bytes::new()) }],
            },
            Message::Shuffle { origin: PeerInfo::new(b), ttl: 0, peers: vec![] },
            Message::ShuffleReply { peers: vec![PeerInfo { id: b, data }] },
            Message::ShuffleReply { peers: vec![] },
            Message::Gossip(Gossip::new(a, u64::MAX, u64::MAX, u16::MAX, u32::MAX, Bytes::from(vec![0xab; 1000]))),
            Message::Gossip(Gossip::new(b, 0, 1, 0, 0, Bytes::new())),
            Message::Gossip(Gossip::new(b, 0, 1, 1, 0, Bytes::new()).with_limit(u16::MAX)),
            Message::Direct { payload: Bytes::new() },
            Message::Direct { payload: Bytes::from(vec![0xcd; 700]) },
            Message::Proxy {
                nonce: u64::MAX,
                limit: u16::MAX,
                age_ms: u32::MAX,
                payload: Bytes::from(vec![0xef; 300]),
            },
            Message::Proxy { nonce: 0, limit: 0, age_ms: 0, payload: Bytes::new() },
            Message::Gossip(Gossip::new(a, 7, 0, 1, 0, Bytes::from_static(b"anonymous"))),
            Message::IHave(vec![]),
            Message::IHave(vec![
                IHaveEntry { id: MessageId([1; 16]), hops: 1, age_ms: 0 },
                IHaveEntry { id: MessageId([2; 16]), hops: 65535, age_ms: u32::MAX },
            ]),
            Message::Graft { id: None },
            Message::Graft { id: Some(MessageId([9; 16])) },
            Message::Prune,
            Message::PruneOrigin { origin: a },
            Message::PruneOrigin { origin: b },
            Message::GraftOrigin { origin: a },
        ]
    }

    fn round_trip<PI>(message: Message<PI>)
    where
        PI: Serialize + DeserializeOwned + PartialEq + fmt::Debug + Clone,
    {
        let topic = topic();
        let bytes = frame(&topic, &message);
        let (body_len, prefix_len) = read_length_prefix(&bytes).unwrap().unwrap();
        assert_eq!(prefix_len + body_len, bytes.len());
        assert_eq!(bytes[prefix_len + 2 + 32], variant_index(&message), "variant index of {message:?}");
        let (decoded, used) = decode::<PI>(&bytes, bytes.len()).unwrap().expect("complete frame");
        assert_eq!(used, bytes.len());
        assert_eq!(decoded, Frame { topic, message: message.clone() });
        assert_eq!(decode_body::<PI>(&bytes[prefix_len..]).unwrap(), Frame { topic, message });
    }

    #[test]
    fn every_variant_round_trips() {
        for message in every_variant(7u64, u64::MAX) {
            round_trip(message);
        }
        let a = BytesId::new(&[0x00, 0x24, 0x08, 0x01, 0x12, 0x20, 0xaa]);
        let b = BytesId::new(&[0x5a; 38]);
        for message in every_variant(a, b) {
            round_trip(message);
        }
        for message in every_variant(BytesId::new(&[]), a) {
            round_trip(message);
        }
    }

    /// The whole-frame encoding agrees with postcard's own encoding of
    /// `(TopicId, Message)` after the version and the long topic reference's
    /// tag, as the specification says.
    #[test]
    fn body_is_postcard_of_topic_and_message() {
        for message in every_variant(BytesId::new(b"peer-a"), BytesId::new(b"peer-b")) {
            let bytes = frame(&topic(), &message);
            let (body_len, prefix_len) = read_length_prefix(&bytes).unwrap().unwrap();
            assert_eq!(prefix_len + body_len, bytes.len());
            assert_eq!(bytes[prefix_len..prefix_len + 2], [VERSION, NEW_TOPIC]);
            let postcard = postcard::to_allocvec(&(topic(), &message)).unwrap();
            assert_eq!(&bytes[prefix_len + 2..], &postcard[..]);
            assert_eq!(bytes[prefix_len + 2 + 32], variant_index(&message));
        }
    }

    // ---- fixed test vectors, also printed in docs/PROTOCOL.md ----

    const DOC: &str = include_str!("../../../docs/PROTOCOL.md");

    /// `TopicId::from_name("chat")`, the topic of every vector.
    const TOPIC_CHAT: &str = "b542ef47446e09846b2fbc0c6e9106ae213cacdee27215096557b2a4ebc17741";

    /// (name, frame in hex, message). The peer ids are byte strings.
    fn vectors() -> Vec<(&'static str, &'static str, Message<BytesId>)> {
        vec![
            ("prune",
                "230700b542ef47446e09846b2fbc0c6e9106ae213cacdee27215096557b2a4ebc177410a", Message::Prune),
            ("prune_origin",
                "290700b542ef47446e09846b2fbc0c6e9106ae213cacdee27215096557b2a4ebc177410d0004aabbccdd",
                Message::PruneOrigin { origin: BytesId::new(&[0xaa, 0xbb, 0xcc, 0xdd]) }),
            ("graft_origin",
                "290700b542ef47446e09846b2fbc0c6e9106ae213cacdee27215096557b2a4ebc177410e0004aabbccdd",
                Message::GraftOrigin { origin: BytesId::new(&[0xaa, 0xbb, 0xcc, 0xdd]) }),
            (
                "gossip",
                "3d0700b542ef47446e09846b2fbc0c6e9106ae213cacdee27215096557b2a4ebc17741070004aabbccdd0807060504030201010100ac020568656c6c6f00",
                Message::Gossip(Gossip::new(
                    BytesId::new(&[0xaa, 0xbb, 0xcc, 0xdd]),
                    0x0102_0304_0506_0708,
                    1,
                    1,
                    300,
                    Bytes::from_static(b"hello"),
                )),
            ),
            (
                "ihave",
                "4a0700b542ef47446e09846b2fbc0c6e9106ae213cacdee27215096557b2a4ebc17741080211111111111111111111111111111111020022222222222222222222222222222222ac02dc0b",
                Message::IHave(vec![
                    IHaveEntry { id: MessageId([0x11; 16]), hops: 2, age_ms: 0 },
                    IHaveEntry { id: MessageId([0x22; 16]), hops: 300, age_ms: 1500 },
                ]),
            ),
            (
                "forward_join",
                "2d0700b542ef47446e09846b2fbc0c6e9106ae213cacdee27215096557b2a4ebc177410104aabbccdd0102010206",
                Message::ForwardJoin {
                    peer: PeerInfo { id: BytesId::new(&[0xaa, 0xbb, 0xcc, 0xdd]), data: Some(Bytes::from_static(&[1, 2])) },
                    ttl: 6,
                },
            ),
            ("neighbor",
                "250700b542ef47446e09846b2fbc0c6e9106ae213cacdee27215096557b2a4ebc17741020000", Message::Neighbor { priority: Priority::High, data: None }),
            (
                "shuffle_reply",
                "2d0700b542ef47446e09846b2fbc0c6e9106ae213cacdee27215096557b2a4ebc177410602010100020203010178",
                Message::ShuffleReply {
                    peers: vec![
                        PeerInfo { id: BytesId::new(&[0x01]), data: None },
                        PeerInfo { id: BytesId::new(&[0x02, 0x03]), data: Some(Bytes::from_static(b"x")) },
                    ],
                },
            ),
            ("direct",
                "270700b542ef47446e09846b2fbc0c6e9106ae213cacdee27215096557b2a4ebc177410b03686579", Message::Direct { payload: Bytes::from_static(b"hey") }),
            (
                "proxy",
                "310700b542ef47446e09846b2fbc0c6e9106ae213cacdee27215096557b2a4ebc177410c080706050403020102ac02026869",
                Message::Proxy { nonce: 0x0102_0304_0506_0708, limit: 2, age_ms: 300, payload: Bytes::from_static(b"hi") },
            ),
            ("graft",
                "340700b542ef47446e09846b2fbc0c6e9106ae213cacdee27215096557b2a4ebc177410901ffffffffffffffffffffffffffffffff", Message::Graft { id: Some(MessageId([0xff; 16])) }),
        ]
    }

    #[test]
    fn test_vectors_match_code_and_doc() {
        assert_eq!(hex(topic().as_bytes()), TOPIC_CHAT);
        assert!(DOC.contains(TOPIC_CHAT), "PROTOCOL.md lacks the topic id of \"chat\"");
        for (name, expected, message) in vectors() {
            assert_eq!(hex(&frame(&topic(), &message)), expected, "vector {name}");
            let bytes = unhex(expected);
            let (decoded, used) = decode::<BytesId>(&bytes, PlumtreeConfig::MIN_MESSAGE_SIZE).unwrap().unwrap();
            assert_eq!(used, bytes.len());
            assert_eq!(decoded, Frame { topic: topic(), message }, "vector {name}");
            assert!(DOC.contains(expected), "PROTOCOL.md lacks vector {name}: {expected}");
        }
    }

    /// The id of the `gossip` vector's message, derived as the specification
    /// says; also printed in it.
    const GOSSIP_VECTOR_ID: &str = "d51329d398d7db99c59b9e74b6124f3c";

    /// The id of the anonymous message with nonce 0x0102030405060708.
    const ANON_VECTOR_ID: &str = "d3f0765247453d94fb0bb467278bc0cd";

    #[test]
    fn anonymous_id_vector_matches_code_and_doc() {
        let id = MessageId::anonymous(0x0102_0304_0506_0708);
        assert_eq!(hex(&id.0), ANON_VECTOR_ID);
        assert!(DOC.contains(ANON_VECTOR_ID), "PROTOCOL.md lacks the anonymous id vector");
        use sha2::Digest;
        let mut input = b"hypar/anon/v1/".to_vec();
        input.extend(0x0102_0304_0506_0708u64.to_le_bytes());
        assert_eq!(&sha2::Sha256::digest(&input)[..16], &id.0[..]);
        // Whoever broadcasts it, a GOSSIP with seq 0 has that id.
        for origin in [BytesId::new(&[1]), BytesId::new(&[0xaa, 0xbb])] {
            assert_eq!(MessageId::derive(&origin, 0x0102_0304_0506_0708, 0), id);
        }
    }

    #[test]
    fn message_id_vector_matches_code_and_doc() {
        let id = MessageId::derive(&BytesId::new(&[0xaa, 0xbb, 0xcc, 0xdd]), 0x0102_0304_0506_0708, 1);
        assert_eq!(hex(&id.0), GOSSIP_VECTOR_ID);
        assert!(DOC.contains(GOSSIP_VECTOR_ID), "PROTOCOL.md lacks the message id vector");
        // By hand: SHA-256 over the prefix, the encoded origin (length 4 and
        // its bytes), the session and the sequence number, little-endian.
        use sha2::Digest;
        let mut input = MessageId::PREFIX.to_vec();
        input.extend([4, 0xaa, 0xbb, 0xcc, 0xdd]);
        input.extend(0x0102_0304_0506_0708u64.to_le_bytes());
        input.extend(1u64.to_le_bytes());
        assert_eq!(&sha2::Sha256::digest(&input)[..16], &id.0[..]);
    }

    // ---- limits and malformed input ----

    #[test]
    fn oversize_encode_is_rejected_and_leaves_out_untouched() {
        let gossip = |len: usize| Message::<u64>::Gossip(Gossip::new(3, 4, 5, 2, 10, Bytes::from(vec![0x55; len])));
        // Find the payload that makes the frame exactly `limit` bytes.
        for limit in [PlumtreeConfig::MIN_MESSAGE_SIZE, 300, 16_384, 16_385, 16_386, MAX] {
            let mut len = limit - 100;
            while frame(&topic(), &gossip(len + 1)).len() <= limit {
                len += 1;
            }
            let size = frame(&topic(), &gossip(len)).len();
            // Exact, except where the length prefix grows by a byte.
            assert!(size == limit || (size < limit && limit == 16_386), "{size} for {limit}");
            let mut out = b"earlier frames".to_vec();
            encode(&topic(), &gossip(len), limit, &mut out).unwrap();
            assert_eq!(out.len(), 14 + size);

            let mut out = b"earlier frames".to_vec();
            out.shrink_to_fit();
            let capacity = out.capacity();
            let size = frame(&topic(), &gossip(len + 1)).len();
            assert!(size > limit);
            assert_eq!(
                encode(&topic(), &gossip(len + 1), limit, &mut out),
                Err(WireError::FrameTooLarge { size, max: limit })
            );
            assert_eq!(out, b"earlier frames");
            assert_eq!(out.capacity(), capacity);
        }
    }

    #[test]
    fn declared_length_above_the_limit_is_rejected_before_the_body() {
        // Only the prefix of a 1 MB frame has arrived.
        let mut prefix = Vec::new();
        write_varint(1_000_000, &mut prefix);
        assert_eq!(
            decode::<u64>(&prefix, MAX),
            Err(WireError::FrameTooLarge { size: 1_000_000 + prefix.len(), max: MAX })
        );
        // The limit counts the prefix: a 127-byte body makes a 128-byte frame.
        let mut buf = vec![127, VERSION];
        assert_eq!(decode::<u64>(&buf, 127), Err(WireError::FrameTooLarge { size: 128, max: 127 }));
        assert_eq!(decode::<u64>(&buf, 128), Ok(None));
        buf.resize(128, 0);
        assert!(matches!(decode::<u64>(&buf, 128), Err(WireError::BadFrame { size: 128, .. })));
    }

    #[test]
    fn every_proper_prefix_of_a_frame_is_incomplete() {
        for message in every_variant(BytesId::new(b"a"), BytesId::new(&[9; 38])) {
            let bytes = frame(&topic(), &message);
            for end in 0..bytes.len() {
                assert_eq!(decode::<BytesId>(&bytes[..end], MAX), Ok(None), "{message:?} cut at {end}");
            }
        }
        // A frame long enough to need a 3-byte prefix.
        let big = Message::<u64>::Gossip(Gossip::new(0, 1, 1, 1, 1, Bytes::from(vec![1; 20_000])));
        let bytes = frame(&topic(), &big);
        assert_eq!(read_length_prefix(&bytes).unwrap().unwrap().1, 3);
        for end in [0, 1, 2, 3, 4, 100, bytes.len() - 1] {
            assert_eq!(decode::<u64>(&bytes[..end], MAX), Ok(None));
        }
    }

    #[test]
    fn malformed_length_prefixes() {
        let bad = |buf: &[u8]| decode::<u64>(buf, usize::MAX);
        assert_eq!(bad(&[0x00]), Err(WireError::BadLength));
        assert_eq!(bad(&[0x80, 0x00]), Err(WireError::BadLength));
        assert_eq!(bad(&[0x81, 0x80, 0x00]), Err(WireError::BadLength));
        assert_eq!(bad(&[0xff, 0xff, 0xff, 0xff]), Err(WireError::BadLength));
        assert_eq!(bad(&[0x80, 0x80, 0x80, 0x80, 0x01]), Err(WireError::BadLength));
        // Still incomplete: no verdict yet.
        assert_eq!(bad(&[0xff, 0xff, 0xff]), Ok(None));
        // The largest 4-byte prefix is fine; its body is simply not there.
        assert_eq!(bad(&[0xff, 0xff, 0xff, 0x7f]), Ok(None));
        assert_eq!(
            decode::<u64>(&[0xff, 0xff, 0xff, 0x7f], MAX),
            Err(WireError::FrameTooLarge { size: (1 << 28) - 1 + 4, max: MAX })
        );
    }

    #[test]
    fn version_is_checked_first() {
        let mut bytes = frame(&topic(), &Message::<u64>::Prune);
        // Version 1 (the previous wire format) is refused like any other.
        bytes[1] = 1;
        assert_eq!(decode::<u64>(&bytes, MAX), Err(WireError::UnsupportedVersion(1)));
        // ...even before the rest of the body has arrived.
        assert_eq!(decode::<u64>(&bytes[..2], MAX), Err(WireError::UnsupportedVersion(1)));
        assert_eq!(decode_body::<u64>(&bytes[1..]), Err(WireError::UnsupportedVersion(1)));
        assert_eq!(decode_body::<u64>(&[0]), Err(WireError::UnsupportedVersion(0)));
        // A body cut short before its message cannot be skipped safely:
        // whether it named a topic is unknown.
        assert!(matches!(decode_body::<u64>(&[]), Err(WireError::BadRef(_))));
        assert!(matches!(decode_body::<u64>(&[VERSION]), Err(WireError::BadRef(_))));
        assert!(matches!(decode_body::<u64>(&[VERSION, NEW_TOPIC, 1, 2]), Err(WireError::BadRef(_))));
    }

    #[test]
    fn trailing_bytes_and_unknown_variants_are_malformed() {
        let bytes = frame(&topic(), &Message::<u64>::Disconnect { alive: true });
        let mut body = bytes[1..].to_vec();
        body.push(0);
        let err = decode_body::<u64>(&body).unwrap_err();
        assert_eq!(err, WireError::Malformed("1 trailing bytes after the disconnect message".into()));
        // The same through the framing: the declared length covers the extra
        // byte, so the frame can be skipped.
        let mut framed = vec![body.len() as u8];
        framed.extend_from_slice(&body);
        let WireError::Malformed(reason) = err else { unreachable!() };
        assert_eq!(decode::<u64>(&framed, MAX), Err(WireError::BadFrame { size: framed.len(), reason }));

        let mut body = bytes[1..].to_vec();
        body[34] = 15;
        body.truncate(35);
        assert_eq!(decode_body::<u64>(&body), Err(WireError::Malformed("unknown message variant index 15".into())));
        // Bad bool, bad option tag, bad priority.
        for (variant, field) in [(4u8, 2u8), (0, 2), (2, 2), (9, 7)] {
            let mut body = bytes[1..36].to_vec();
            body[34] = variant;
            body.push(field);
            body.extend_from_slice(&[0; 20]);
            assert!(matches!(decode_body::<u64>(&body), Err(WireError::Malformed(_))), "{body:?}");
        }
    }

    #[test]
    fn error_messages_name_the_values() {
        assert_eq!(
            WireError::FrameTooLarge { size: 70_000, max: 65_536 }.to_string(),
            "frame of 70000 bytes exceeds the limit of 65536 bytes"
        );
        assert_eq!(
            WireError::UnsupportedVersion(6).to_string(),
            "unsupported wire version 6 (this implementation speaks version 7)"
        );
        let body = [&[VERSION, NEW_TOPIC][..], &[0; 32], &[8, 0x80, 0x80, 0x80, 0x80, 0x10]].concat();
        assert_eq!(
            decode_body::<u64>(&body).unwrap_err().to_string(),
            "malformed frame: bad IHave entries: 4294967296 elements claimed, the 0 remaining bytes hold at most 0"
        );
    }

    // ---- size helpers ----

    /// The origin of the size tests' messages, and its encoded length.
    const ORIGIN: u64 = 0xeeee;

    fn gossip_with(payload_len: usize, seq: u64, hops: u16, age_ms: u32) -> Message<u64> {
        let g = Gossip::new(ORIGIN, 9, seq, hops, age_ms, Bytes::from(vec![0; payload_len]));
        Message::Gossip(g.with_limit(hops))
    }

    #[test]
    fn gossip_frame_len_is_exact_in_the_worst_case_and_tight_otherwise() {
        let mut lens: Vec<usize> = (0..300).collect();
        for boundary in [128usize, 16_384, 2_097_152] {
            lens.extend(boundary - 80..boundary + 80);
        }
        for len in lens {
            let bound = gossip_frame_len(len, encoded_len(&ORIGIN), false);
            let worst = frame(&topic(), &gossip_with(len, u64::MAX, u16::MAX, u32::MAX)).len();
            assert_eq!(bound, worst, "payload {len}");
            let best = frame(&topic(), &gossip_with(len, 1, 0, 0)).len();
            assert!(best <= bound && bound - best <= 18, "payload {len}: {best} vs {bound}");
            let signed = |m: Message<u64>, time_ms| match m {
                Message::Gossip(g) => {
                    Message::Gossip(g.with_auth(Auth { time_ms, signature: Bytes::from(vec![1; SIGNATURE_LEN]) }))
                }
                other => other,
            };
            let bound = gossip_frame_len(len, encoded_len(&ORIGIN), true);
            let worst = frame(&topic(), &signed(gossip_with(len, u64::MAX, u16::MAX, u32::MAX), u64::MAX)).len();
            assert_eq!(bound, worst, "signed payload {len}");
            let best = frame(&topic(), &signed(gossip_with(len, 1, 0, 0), 0)).len();
            assert!(best <= bound && bound - best <= 27, "signed payload {len}: {best} vs {bound}");
        }
        assert_eq!(gossip_frame_len(usize::MAX, 1, false), usize::MAX);
    }

    #[test]
    fn max_ihave_entries_fill_but_never_overflow_a_frame() {
        let entry = IHaveEntry { id: MessageId([0xcc; 16]), hops: u16::MAX, age_ms: u32::MAX };
        let ihave = |n: usize| Message::<u64>::IHave(vec![entry; n]);
        let mut limits: Vec<usize> =
            (PlumtreeConfig::MIN_MESSAGE_SIZE..PlumtreeConfig::MIN_MESSAGE_SIZE + 600).collect();
        limits.extend(16_300..16_500);
        limits.extend([MAX, 1 << 20]);
        for limit in limits {
            let n = max_ihave_entries(limit);
            let mut out = Vec::new();
            encode(&topic(), &ihave(n), limit, &mut out).unwrap();
            assert_eq!(out.len(), ihave_frame_len(n));
            assert!(matches!(
                encode(&topic(), &ihave(n + 1), limit, &mut Vec::new()),
                Err(WireError::FrameTooLarge { .. })
            ));
        }
        assert!(
            ihave_frame_len(max_ihave_entries(PlumtreeConfig::MAX_MESSAGE_SIZE)) <= PlumtreeConfig::MAX_MESSAGE_SIZE
        );
        assert!(
            ihave_frame_len(max_ihave_entries(PlumtreeConfig::MAX_MESSAGE_SIZE) + 1) > PlumtreeConfig::MAX_MESSAGE_SIZE
        );
        assert_eq!(max_ihave_entries(0), 1);
        assert!(max_ihave_entries(usize::MAX) > 1);
    }

    /// The sizes quoted in PROTOCOL.md for the default 65536-byte limit.
    #[test]
    fn default_limit_sizes_in_the_doc() {
        let limit = PlumtreeConfig::default().max_message_size;
        assert_eq!(limit, 65_536);
        // An Ed25519 peer id, as libp2p encodes it: 38 bytes and a length.
        let origin_len = 39;
        let largest = |signed| (0..limit).rev().find(|&p| gossip_frame_len(p, origin_len, signed) <= limit).unwrap();
        assert_eq!(largest(false), 65_425);
        assert_eq!(largest(true), 65_350);
        assert_eq!(max_ihave_entries(limit), 2729);
        assert!(DOC.contains("largest payload is **65425** bytes unsigned and **65350** bytes signed"));
        assert!(DOC.contains("it carries at most **2729** entries"));
    }

    // ---- streaming ----

    /// Writes `(topic, message)` pairs through one writer's table, as one
    /// stream's bytes.
    fn stream_of(frames: &[(TopicId, Message<u64>)]) -> (bytes::BytesMut, Vec<usize>) {
        let mut writer = StreamTables::<u64>::default();
        let mut out = bytes::BytesMut::new();
        let mut sizes = Vec::new();
        for (topic, message) in frames {
            let before = out.len();
            let long = frame(topic, message);
            let told = writer.write(&long, &mut out);
            sizes.push(out.len() - before);
            assert_eq!(told, Some((*topic, long.len() - (out.len() - before))), "the topic and bytes saved");
        }
        (out, sizes)
    }

    /// What a reader should get from the stream of `frames`.
    fn as_read(frames: Vec<(TopicId, Message<u64>)>) -> Vec<Result<Frame<u64>, WireError>> {
        frames.into_iter().map(|(topic, message)| Ok(Frame { topic, message })).collect()
    }

    /// Reads a whole stream with one reader's table.
    fn read_stream(mut bytes: &[u8]) -> Vec<Result<Frame<u64>, WireError>> {
        let mut reader = StreamTables::<u64>::default();
        let mut got = Vec::new();
        while !bytes.is_empty() {
            match reader.decode(bytes, MAX) {
                Ok(Some((frame, used))) => {
                    got.push(Ok(frame));
                    bytes = &bytes[used..];
                }
                Ok(None) => panic!("a frame cut short"),
                Err(WireError::BadFrame { size, reason }) => {
                    got.push(Err(WireError::Malformed(reason)));
                    bytes = &bytes[size..];
                }
                Err(e) => {
                    got.push(Err(e));
                    break;
                }
            }
        }
        got
    }

    #[test]
    fn a_stream_names_each_topic_in_full_once() {
        let (a, b) = (topic(), TopicId::from_name("news"));
        let frames: Vec<_> =
            [(a, Message::Prune), (b, Message::Prune), (a, Message::Prune), (b, Message::Graft { id: None })].into();
        let (bytes, sizes) = stream_of(&frames);
        let long = frame(&a, &Message::<u64>::Prune).len();
        assert_eq!(sizes, [long, long, long - 32, long - 32 + 1]);
        assert_eq!(read_stream(&bytes), as_read(frames));
        // The vector in PROTOCOL.md: the second PRUNE of `chat` on a stream.
        let second = &bytes[long + long..long + long + long - 32];
        assert_eq!(hex(second), "0307010a");
        assert!(DOC.contains("0307010a"), "PROTOCOL.md lacks the shortened PRUNE");
        // A keep-alive passes through untouched.
        let mut out = bytes::BytesMut::new();
        assert_eq!(StreamTables::<u64>::default().write(&[KEEP_ALIVE], &mut out), None);
        assert_eq!(&out[..], [KEEP_ALIVE]);
    }

    #[test]
    fn a_stream_names_each_origin_in_full_once() {
        let gossip = |origin: u64, seq| Message::Gossip(Gossip::new(origin, 7, seq, 1, 0, Bytes::from_static(b"hi")));
        let frames: Vec<_> = [
            gossip(0xaabb, 1),
            gossip(0xaabb, 2),
            Message::PruneOrigin { origin: 0xaabb },
            gossip(5, 1),
            Message::GraftOrigin { origin: 5 },
        ]
        .into_iter()
        .map(|m| (topic(), m))
        .collect();
        let (bytes, sizes) = stream_of(&frames);
        let long: Vec<usize> = frames.iter().map(|(t, m)| frame(t, m).len()).collect();
        // 0xaabb takes 3 bytes as a varint, 5 one.
        assert_eq!(sizes, [long[0], long[1] - 32 - 3, long[2] - 32 - 3, long[3] - 32, long[4] - 32 - 1]);
        assert_eq!(read_stream(&bytes), as_read(frames));
        // An origin the stream never named: its tables are out of step, so
        // the stream fails.
        let mut bytes = frame(&topic(), &Message::<u64>::Prune);
        bytes.extend_from_slice(&[4, VERSION, 1, 13, 9]);
        let got = read_stream(&bytes);
        assert!(matches!(&got[1], Err(WireError::BadRef(r)) if r.contains("origin #9")), "{got:?}");
    }

    #[test]
    fn the_limit_is_on_the_frame_with_its_names_in_full() {
        let gossip = Message::Gossip(Gossip::new(0xaabbu64, 7, 1, 1, 0, Bytes::from(vec![0; 100])));
        let full = frame(&topic(), &gossip);
        let (bytes, sizes) = stream_of(&[(topic(), Message::Prune), (topic(), gossip.clone())]);
        let short = sizes[1];
        // 32 bytes less, and here a byte of length prefix too.
        assert_eq!(short, full.len() - 32 - 1);
        // A reader whose limit takes the short frame but not the full one
        // skips it as malformed.
        let mut reader = StreamTables::<u64>::default();
        let (_, used) = reader.decode(&bytes, full.len() - 1).unwrap().unwrap();
        match reader.decode(&bytes[used..], full.len() - 1) {
            Err(WireError::BadFrame { size, reason }) => {
                assert_eq!(size, short);
                assert!(reason.contains("names in full"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        let mut reader = StreamTables::<u64>::default();
        let (_, used) = reader.decode(&bytes, full.len()).unwrap().unwrap();
        assert_eq!(reader.decode(&bytes[used..], full.len()).unwrap().unwrap().0.message, gossip);
    }

    /// The second GOSSIP of the PROTOCOL.md vector's origin on one stream.
    #[test]
    fn the_shortened_gossip_vector() {
        let origin = BytesId::new(&[0xaa, 0xbb, 0xcc, 0xdd]);
        let gossip = |seq| {
            Message::Gossip(Gossip::new(origin, 0x0102_0304_0506_0708, seq, 1, 300, Bytes::from_static(b"hello")))
        };
        let mut writer = StreamTables::<BytesId>::default();
        let mut out = bytes::BytesMut::new();
        writer.write(&frame(&topic(), &gossip(1)), &mut out);
        let first = out.len();
        writer.write(&frame(&topic(), &gossip(2)), &mut out);
        let second = hex(&out[first..]);
        println!("second gossip: {second}");
        assert!(DOC.contains(&second), "PROTOCOL.md lacks the shortened GOSSIP {second}");
        let mut reader = StreamTables::<BytesId>::default();
        let (_, used) = reader.decode(&out, MAX).unwrap().unwrap();
        let (again, _) = reader.decode(&out[used..], MAX).unwrap().unwrap();
        assert_eq!(again, Frame { topic: topic(), message: gossip(2) });
    }

    #[test]
    fn a_full_table_forgets_its_oldest_name() {
        let topics: Vec<TopicId> = (0..MAX_REFS + 2).map(|i| TopicId::from_name(&i.to_string())).collect();
        let mut frames: Vec<_> = topics.iter().map(|t| (*t, Message::Prune)).collect();
        // The last topic that fitted; the two after it, which took the
        // places of the first two; the first, gone; the third, which the
        // first has just replaced.
        for i in [MAX_REFS - 1, MAX_REFS, MAX_REFS + 1, 0, 2] {
            frames.push((topics[i], Message::Prune));
        }
        let (bytes, sizes) = stream_of(&frames);
        let long = frame(&topics[0], &Message::<u64>::Prune).len();
        assert!(sizes[..MAX_REFS + 2].iter().all(|&s| s == long));
        assert_eq!(sizes[MAX_REFS + 2..], [long - 32, long - 32, long - 32, long, long]);
        assert_eq!(read_stream(&bytes), as_read(frames));
    }

    #[test]
    fn a_malformed_message_still_names_its_topic() {
        let news = TopicId::from_name("news");
        let mut bad = frame(&news, &Message::<u64>::Prune);
        *bad.last_mut().unwrap() = 99; // no such variant
        let mut bytes = bad.clone();
        // Index 1 now means `news`, as the writer recorded it.
        bytes.extend_from_slice(&[3, VERSION, 1, 10]);
        let got = read_stream(&bytes);
        assert!(matches!(&got[0], Err(WireError::Malformed(r)) if r.contains("99")), "{got:?}");
        assert_eq!(got[1], Ok(Frame { topic: news, message: Message::Prune }));
    }

    #[test]
    fn a_reference_the_stream_never_made_fails_it() {
        // Index 1 on a new stream; index 2 after one topic; an index far
        // beyond the table; a long reference cut short.
        let one = frame(&topic(), &Message::<u64>::Prune);
        for bytes in [
            vec![3, VERSION, 1, 10],
            [&one[..], &[3, VERSION, 2, 10]].concat(),
            vec![3, VERSION, 0xff, 10],
            vec![4, VERSION, NEW_TOPIC, 1, 2],
        ] {
            let got = read_stream(&bytes);
            assert!(matches!(got.last(), Some(Err(WireError::BadRef(_)))), "{}: {got:?}", hex(&bytes));
        }
        assert_eq!(
            decode::<u64>(&[3, VERSION, 2, 10], MAX).unwrap_err().to_string(),
            "bad reference: topic #2 of a stream that named 0 topics"
        );
    }

    #[test]
    fn concatenated_frames_decode_one_by_one_whatever_the_chunking() {
        let messages = every_variant(BytesId::new(b"x"), BytesId::new(&[1; 38]));
        let topics = [topic(), TopicId::from_name("other"), TopicId([0; 32])];
        let mut stream = Vec::new();
        let mut expected = Vec::new();
        for (i, message) in messages.into_iter().enumerate() {
            let topic = topics[i % topics.len()];
            encode(&topic, &message, MAX, &mut stream).unwrap();
            expected.push(Frame { topic, message });
        }
        for chunk in [1, 2, 3, 7, 64, 1000, stream.len()] {
            let mut buf = Vec::new();
            let mut decoded = Vec::new();
            for piece in stream.chunks(chunk) {
                buf.extend_from_slice(piece);
                while let Some((frame, used)) = decode::<BytesId>(&buf, MAX).unwrap() {
                    decoded.push(frame);
                    buf.drain(..used);
                }
            }
            assert!(buf.is_empty());
            assert_eq!(decoded, expected, "chunks of {chunk}");
        }
    }

    // ---- allocation bounds ----

    mod counting {
        use std::alloc::{GlobalAlloc, Layout, System};
        use std::cell::Cell;

        thread_local! {
            static COUNTING: Cell<bool> = const { Cell::new(false) };
            static REQUESTED: Cell<usize> = const { Cell::new(0) };
        }

        /// The system allocator, counting the bytes requested on threads
        /// inside [`requested_by`]. Used by every test of this crate's unit
        /// test binary, for which it only adds a thread-local check.
        struct Counting;

        fn note(bytes: usize) {
            let _ = COUNTING.try_with(|on| {
                if on.get() {
                    let _ = REQUESTED.try_with(|r| r.set(r.get().saturating_add(bytes)));
                }
            });
        }

        // SAFETY: every method forwards to the system allocator with the
        // caller's arguments unchanged; counting touches no allocation.
        unsafe impl GlobalAlloc for Counting {
            unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
                note(layout.size());
                // SAFETY: the caller's contract, passed on.
                unsafe { System.alloc(layout) }
            }
            unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
                note(layout.size());
                // SAFETY: the caller's contract, passed on.
                unsafe { System.alloc_zeroed(layout) }
            }
            unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
                note(new_size);
                // SAFETY: the caller's contract, passed on.
                unsafe { System.realloc(ptr, layout, new_size) }
            }
            unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
                // SAFETY: the caller's contract, passed on.
                unsafe { System.dealloc(ptr, layout) }
            }
        }

        #[global_allocator]
        static GLOBAL: Counting = Counting;

        /// Runs `f`, returning its result and the bytes it requested from the
        /// allocator (summed over every allocation: a bound of its peak use).
        pub(super) fn requested_by<R>(f: impl FnOnce() -> R) -> (R, usize) {
            REQUESTED.with(|r| r.set(0));
            COUNTING.with(|on| on.set(true));
            let result = f();
            COUNTING.with(|on| on.set(false));
            (result, REQUESTED.with(|r| r.get()))
        }
    }

    /// What decoding any `len`-byte input may allocate: a constant plus a
    /// multiple of `len` (the largest ratio is a sequence of minimal
    /// PeerInfo<BytesId>: 72 bytes in memory from 2 on the wire, doubled by
    /// vector growth).
    fn allocation_bound(len: usize) -> usize {
        PREALLOC_MAX_BYTES + 1024 + 160 * len
    }

    #[test]
    fn small_frames_claiming_huge_sequences_allocate_little() {
        let header = [&[VERSION, NEW_TOPIC][..], topic().as_bytes()].concat();
        let mut bodies = Vec::new();
        for claim in [
            &[0xff, 0xff, 0xff, 0xff, 0x0f][..],
            &[0xff; 9][..],
            &[0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01][..],
        ] {
            // IHAVE, SHUFFLE_REPLY, SHUFFLE (origin: id 0, no data; ttl 1).
            bodies.push([&header[..], &[8], claim, &[0; 8]].concat());
            bodies.push([&header[..], &[6], claim, &[0; 8]].concat());
            bodies.push([&header[..], &[5, 0, 0, 1], claim, &[0; 8]].concat());
            // Byte strings: Join.data, a peer id.
            bodies.push([&header[..], &[0, 1], claim, &[0; 8]].concat());
            bodies.push([&header[..], &[1], claim, &[0; 8]].concat());
        }
        // Claims that the remaining bytes could hold, but garbage follows.
        bodies.push([&header[..], &[6, 0x80, 0x08], &[0xff; 1030]].concat());
        bodies.push([&header[..], &[8, 60], &[0xff; 1030]].concat());
        for body in bodies {
            let (result, requested) = counting::requested_by(|| decode_body::<BytesId>(&body));
            assert!(matches!(result, Err(WireError::Malformed(_))), "{result:?}");
            assert!(requested <= PREALLOC_MAX_BYTES + 1024, "{requested} bytes for {}", hex(&body));
            let (_, requested) = counting::requested_by(|| decode_body::<u64>(&body));
            assert!(requested <= PREALLOC_MAX_BYTES + 1024, "{requested} bytes for {}", hex(&body));
        }
        // Valid elements followed by garbage: what was allocated is what the
        // decoded elements needed.
        let mut body = [&header[..], &[6, 0x80, 0x08]].concat();
        body.extend([0x05, 0x00].repeat(512));
        body.push(0xff);
        let (result, requested) = counting::requested_by(|| decode_body::<u64>(&body));
        assert!(matches!(result, Err(WireError::Malformed(_))), "{result:?}");
        assert!(requested <= allocation_bound(body.len()), "{requested} bytes for {} bytes", body.len());
    }

    // ---- property tests ----

    fn arb_bytes(max: usize) -> impl Strategy<Value = Bytes> {
        prop::collection::vec(any::<u8>(), 0..max).prop_map(Bytes::from)
    }

    fn arb_id() -> impl Strategy<Value = MessageId> {
        any::<[u8; 16]>().prop_map(MessageId)
    }

    fn arb_bytes_id() -> BoxedStrategy<BytesId> {
        prop::collection::vec(any::<u8>(), 0..=38).prop_map(|v| BytesId::new(&v)).boxed()
    }

    fn arb_message<PI: fmt::Debug + Clone + Serialize + 'static>(
        pi: BoxedStrategy<PI>,
    ) -> impl Strategy<Value = Message<PI>> {
        let data = || prop::option::of(arb_bytes(64));
        let info = {
            let pi = pi.clone();
            move || (pi.clone(), data()).prop_map(|(id, data)| PeerInfo { id, data })
        };
        let priority = prop_oneof![Just(Priority::High), Just(Priority::Low)];
        prop_oneof![
            data().prop_map(|data| Message::Join { data }),
            (info(), any::<u8>()).prop_map(|(peer, ttl)| Message::ForwardJoin { peer, ttl }),
            (priority, data()).prop_map(|(priority, data)| Message::Neighbor { priority, data }),
            any::<bool>().prop_map(|accepted| Message::NeighborReply { accepted }),
            any::<bool>().prop_map(|alive| Message::Disconnect { alive }),
            (info(), any::<u8>(), prop::collection::vec(info(), 0..12))
                .prop_map(|(origin, ttl, peers)| Message::Shuffle { origin, ttl, peers }),
            prop::collection::vec(info(), 0..12).prop_map(|peers| Message::ShuffleReply { peers }),
            (
                pi.clone(),
                (any::<u64>(), any::<u64>(), any::<u16>(), any::<u32>()),
                arb_bytes(600),
                prop::option::of((any::<u64>(), arb_bytes(80)))
            )
                .prop_map(|(origin, (session, seq, hops, age_ms), payload, auth)| {
                    let g = Gossip::new(origin, session, seq, hops, age_ms, payload);
                    Message::Gossip(match auth {
                        Some((time_ms, signature)) => g.with_auth(Auth { time_ms, signature }),
                        None => g,
                    })
                }),
            prop::collection::vec(
                (arb_id(), any::<u16>(), any::<u32>()).prop_map(|(id, hops, age_ms)| IHaveEntry { id, hops, age_ms }),
                0..40
            )
            .prop_map(Message::IHave),
            prop::option::of(arb_id()).prop_map(|id| Message::Graft { id }),
            Just(Message::Prune),
            pi.clone().prop_map(|origin| Message::PruneOrigin { origin }),
            pi.prop_map(|origin| Message::GraftOrigin { origin }),
        ]
    }

    fn arb_topic() -> impl Strategy<Value = TopicId> {
        prop_oneof![Just(topic()), any::<[u8; 32]>().prop_map(TopicId)]
    }

    /// postcard's derived decoder, the reference the hand-written walk must
    /// agree with.
    fn reference<PI: DeserializeOwned + Serialize>(body: &[u8]) -> Option<Frame<PI>> {
        let [VERSION, NEW_TOPIC, rest @ ..] = body else { return None };
        match postcard::take_from_bytes::<(TopicId, Message<PI>)>(rest) {
            Ok(((topic, mut message), [])) => {
                // The id of a GOSSIP is not on the wire: the decoder derives it.
                if let Message::Gossip(g) = &mut message {
                    g.id = MessageId::derive(&g.origin, g.session, g.seq);
                }
                Some(Frame { topic, message })
            }
            _ => None,
        }
    }

    #[derive(Debug, Clone)]
    enum Mutation {
        Truncate(prop::sample::Index),
        FlipBit(prop::sample::Index, u8),
        Set(prop::sample::Index, u8),
        Insert(prop::sample::Index, u8),
        Remove(prop::sample::Index),
    }

    fn arb_mutation() -> impl Strategy<Value = Mutation> {
        use prop::sample::Index;
        prop_oneof![
            any::<Index>().prop_map(Mutation::Truncate),
            (any::<Index>(), 0..8u8).prop_map(|(i, b)| Mutation::FlipBit(i, b)),
            (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::Set(i, b)),
            (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::Insert(i, b)),
            any::<Index>().prop_map(Mutation::Remove),
        ]
    }

    fn mutate(bytes: &mut Vec<u8>, mutation: &Mutation) {
        if bytes.is_empty() {
            return;
        }
        match mutation {
            Mutation::Truncate(i) => bytes.truncate(i.index(bytes.len())),
            Mutation::FlipBit(i, bit) => {
                let i = i.index(bytes.len());
                bytes[i] ^= 1 << bit;
            }
            Mutation::Set(i, b) => {
                let i = i.index(bytes.len());
                bytes[i] = *b;
            }
            Mutation::Insert(i, b) => bytes.insert(i.index(bytes.len() + 1), *b),
            Mutation::Remove(i) => {
                bytes.remove(i.index(bytes.len()));
            }
        }
    }

    /// Inputs that reach deep into the decoder: a valid header with a random
    /// variant index and random fields.
    fn arb_near_body() -> impl Strategy<Value = Vec<u8>> {
        (0..12u8, prop::collection::vec(any::<u8>(), 0..120))
            .prop_map(|(variant, tail)| [&[VERSION, NEW_TOPIC][..], topic().as_bytes(), &[variant], &tail].concat())
    }

    /// Decodes `body` every way there is and checks the answers agree, that
    /// nothing panics and that allocation stays within the bound.
    fn check_any_body<PI>(body: &[u8])
    where
        PI: Serialize + DeserializeOwned + PartialEq + fmt::Debug + Clone,
    {
        let (decoded, requested) = counting::requested_by(|| decode_body::<PI>(body));
        assert!(requested <= allocation_bound(body.len()), "{requested} bytes for {}", hex(body));
        assert_eq!(decoded.clone().ok(), reference::<PI>(body), "body {}", hex(body));
        if let Ok(frame) = &decoded {
            let mut out = Vec::new();
            encode(&frame.topic, &frame.message, usize::MAX, &mut out).unwrap();
            // Re-encoding is canonical; the input may have used non-minimal varints.
            assert!(out.len() <= body.len() + varint_len(body.len()));
        }
        let mut framed = Vec::new();
        write_varint(body.len().max(1), &mut framed);
        framed.extend_from_slice(body);
        match decode::<PI>(&framed, MAX) {
            Ok(Some((frame, used))) => {
                assert_eq!(used, framed.len());
                assert_eq!(Ok(frame), decoded);
            }
            Ok(None) => assert!(body.is_empty()),
            Err(e) => assert!(decoded.is_err() || matches!(e, WireError::FrameTooLarge { .. }), "{e}"),
        }
    }

    proptest! {
        #[test]
        fn any_stream_reads_back_as_written(
            frames in prop::collection::vec((0..MAX_REFS as u8 + 8, arb_message((0..MAX_REFS as u64 + 40).boxed())), 1..400)
        ) {
            let frames: Vec<_> =
                frames.into_iter().map(|(t, m)| (TopicId::from_name(&t.to_string()), m)).collect();
            let (bytes, sizes) = stream_of(&frames);
            prop_assert!(sizes.iter().zip(&frames).all(|(&s, (t, m))| s <= frame(t, m).len()));
            prop_assert_eq!(read_stream(&bytes), as_read(frames));
        }

        #[test]
        fn arbitrary_messages_round_trip(topic in arb_topic(), message in arb_message(any::<u64>().boxed())) {
            let mut out = vec![0xaa];
            encode(&topic, &message, MAX, &mut out).unwrap();
            let (frame, used) = decode::<u64>(&out[1..], MAX).unwrap().unwrap();
            prop_assert_eq!(used, out.len() - 1);
            prop_assert_eq!(frame, Frame { topic, message });
        }

        #[test]
        fn arbitrary_messages_with_byte_string_ids_round_trip(
            topic in arb_topic(),
            message in arb_message(arb_bytes_id()),
        ) {
            let mut out = Vec::new();
            encode(&topic, &message, MAX, &mut out).unwrap();
            let (frame, used) = decode::<BytesId>(&out, MAX).unwrap().unwrap();
            prop_assert_eq!(used, out.len());
            prop_assert_eq!(frame, Frame { topic, message });
        }

        #[test]
        fn arbitrary_bytes_never_panic(
            bytes in prop_oneof![prop::collection::vec(any::<u8>(), 0..300), arb_near_body()],
            max_frame in prop_oneof![Just(MAX), 0..400usize],
        ) {
            for input in [&bytes[..], &[&[VERSION][..], &bytes[..]].concat()] {
                let _ = decode::<u64>(input, max_frame);
                let _ = decode::<BytesId>(input, max_frame);
                check_any_body::<u64>(input);
                check_any_body::<BytesId>(input);
            }
        }

        #[test]
        fn mutated_frames_never_panic_and_agree_with_postcard(
            topic in arb_topic(),
            message in arb_message(arb_bytes_id()),
            mutations in prop::collection::vec(arb_mutation(), 1..4),
        ) {
            let bytes = frame(&topic, &message);
            let prefix_len = read_length_prefix(&bytes).unwrap().unwrap().1;
            let mut body = bytes[prefix_len..].to_vec();
            let mut framed = bytes.clone();
            for mutation in &mutations {
                mutate(&mut body, mutation);
                mutate(&mut framed, mutation);
            }
            check_any_body::<BytesId>(&body);
            check_any_body::<u64>(&body);
            let (result, requested) = counting::requested_by(|| decode::<BytesId>(&framed, MAX));
            prop_assert!(requested <= allocation_bound(framed.len()));
            if let Ok(Some((_, used))) = result {
                prop_assert!(used <= framed.len());
            }
        }

        #[test]
        fn gossip_frame_len_bounds_every_gossip(
            origin in arb_bytes_id(),
            session in any::<u64>(),
            seq in any::<u64>(),
            hops in any::<u16>(),
            age_ms in any::<u32>(),
            payload_len in prop_oneof![0..300usize, 0..70_000usize],
            time_ms in proptest::option::of(any::<u64>()),
        ) {
            let payload = Bytes::from(vec![7; payload_len]);
            let mut gossip = Gossip::new(origin, session, seq, hops, age_ms, payload);
            if let Some(time_ms) = time_ms {
                gossip = gossip.with_auth(Auth { time_ms, signature: Bytes::from(vec![9; SIGNATURE_LEN]) });
            }
            let message = Message::Gossip(gossip);
            let real = frame(&topic(), &message).len();
            let bound = gossip_frame_len(payload_len, encoded_len(&origin), time_ms.is_some());
            prop_assert!(real <= bound);
            prop_assert!(bound - real <= 26);
            // A frame limit of exactly the bound always admits the message.
            prop_assert!(encode(&topic(), &message, bound, &mut Vec::new()).is_ok());
        }

        #[test]
        fn max_ihave_entries_is_the_largest_that_fits(limit in PlumtreeConfig::MIN_MESSAGE_SIZE..PlumtreeConfig::MAX_MESSAGE_SIZE) {
            let n = max_ihave_entries(limit);
            prop_assert!(ihave_frame_len(n) <= limit);
            prop_assert!(ihave_frame_len(n + 1) > limit);
        }
    }
}
