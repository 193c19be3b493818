//! Framing on a libp2p stream: outgoing frames are encoded by the runtime
//! ([`hypar_proto::wire::encode`]) and written with their topic and origin
//! shortened to the stream's references ([`wire::StreamTables::write`]); incoming
//! bytes are split into keep-alives ([`wire::KEEP_ALIVE`]) and frames decoded
//! with [`wire::StreamTables::decode`], which checks the declared length
//! against the limit before the body arrives. Streams are one-way, so a
//! codec's tables serve either its writes or its reads.

use std::io;

use asynchronous_codec::{Decoder, Encoder};
use bytes::{Buf, Bytes, BytesMut};
use libp2p::PeerId;

use hypar_proto::wire::{self, Frame};
use hypar_proto::TopicId;

pub(crate) struct FrameCodec {
    max_frame: usize,
    /// The topics and origins this stream has named.
    tables: wire::StreamTables<PeerId>,
    /// Bytes left in the read buffer after the last decode.
    buffered: usize,
    /// Bytes arrived since [`FrameCodec::take_arrived`] was last called,
    /// even if they are only part of a frame.
    arrived: bool,
    /// The topic of the frame written last, and the bytes its references
    /// saved (until [`FrameCodec::take_shortened`]).
    shortened: Option<(TopicId, usize)>,
}

impl FrameCodec {
    pub(crate) fn new(max_frame: usize) -> Self {
        FrameCodec { max_frame, tables: wire::StreamTables::default(), buffered: 0, arrived: false, shortened: None }
    }

    /// The topic of the frame written last and the bytes it went out
    /// shorter than it was handed over, once.
    pub(crate) fn take_shortened(&mut self) -> Option<(TopicId, usize)> {
        self.shortened.take()
    }

    /// Whether any byte arrived since the last call: a peer in the middle of
    /// a large frame on a slow link is not silent.
    pub(crate) fn take_arrived(&mut self) -> bool {
        std::mem::take(&mut self.arrived)
    }

    /// The next item at the front of `src`. A run of keep-alives is one
    /// item, so a peer streaming them costs one wake-up per read, not per
    /// byte.
    fn decode_item(&mut self, src: &mut BytesMut) -> Result<Option<Inbound>, io::Error> {
        let keep_alives = src.iter().take_while(|b| **b == wire::KEEP_ALIVE).count();
        if keep_alives > 0 {
            src.advance(keep_alives);
            return Ok(Some(Inbound::KeepAlive));
        }
        match self.tables.decode(src, self.max_frame) {
            Ok(Some((frame, used))) => {
                src.advance(used);
                Ok(Some(Inbound::Frame(Box::new(frame), used)))
            }
            Ok(None) => Ok(None),
            Err(wire::WireError::BadFrame { size, reason }) => {
                src.advance(size);
                Ok(Some(Inbound::BadFrame(reason, size)))
            }
            Err(e) => Err(io::Error::new(io::ErrorKind::InvalidData, e)),
        }
    }
}

/// What arrived on a stream.
#[derive(Debug)]
pub(crate) enum Inbound {
    /// A frame, with its size on the wire.
    Frame(Box<Frame<PeerId>>, usize),
    /// A keep-alive.
    KeepAlive,
    /// A whole frame whose body did not decode, skipped (the stream goes
    /// on), with its size.
    BadFrame(String, usize),
}

impl Decoder for FrameCodec {
    type Item = Inbound;
    type Error = io::Error;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Self::Item>, io::Error> {
        if src.len() > self.buffered {
            self.arrived = true;
        }
        let item = self.decode_item(src);
        self.buffered = src.len();
        item
    }
}

impl Encoder for FrameCodec {
    type Item<'a> = Bytes;
    type Error = io::Error;

    fn encode(&mut self, frame: Bytes, dst: &mut BytesMut) -> Result<(), io::Error> {
        self.shortened = self.tables.write(&frame, dst);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use asynchronous_codec::Decoder;
    use bytes::{Bytes, BytesMut};
    use hypar_proto::wire;
    use hypar_proto::{Message, TopicId};
    use libp2p::PeerId;

    use super::{FrameCodec, Inbound};

    #[test]
    fn keep_alives_and_frames_interleave() {
        let mut frame = Vec::new();
        wire::encode(&TopicId::from_name("chat"), &Message::<PeerId>::Prune, 1024, &mut frame).unwrap();
        let mut buf = BytesMut::new();
        buf.extend_from_slice(&[wire::KEEP_ALIVE]);
        buf.extend_from_slice(&frame);
        buf.extend_from_slice(&[wire::KEEP_ALIVE, wire::KEEP_ALIVE]);
        buf.extend_from_slice(&frame[..3]);
        let mut codec = FrameCodec::new(1024);
        let mut got = Vec::new();
        while let Some(item) = codec.decode(&mut buf).unwrap() {
            got.push(match item {
                Inbound::KeepAlive => "keep-alive".to_string(),
                Inbound::Frame(f, size) => format!("{} of {size} bytes", f.message.kind()),
                Inbound::BadFrame(reason, _) => format!("bad frame: {reason}"),
            });
        }
        // The two keep-alives in a row are one item.
        assert_eq!(got, ["keep-alive", &format!("prune of {} bytes", frame.len()), "keep-alive"]);
        assert_eq!(&buf[..], &frame[..3], "the start of the next frame waits for the rest");
    }

    #[test]
    fn a_frame_with_a_bad_body_is_skipped_and_the_stream_goes_on() {
        let mut frame = Vec::new();
        wire::encode(&TopicId::from_name("chat"), &Message::<PeerId>::Prune, 1024, &mut frame).unwrap();
        let mut bad = frame.clone();
        *bad.last_mut().unwrap() = 99; // no such message variant
        let mut buf = BytesMut::new();
        buf.extend_from_slice(&bad);
        buf.extend_from_slice(&frame);
        let mut codec = FrameCodec::new(1024);
        assert!(matches!(codec.decode(&mut buf).unwrap(), Some(Inbound::BadFrame(r, _)) if r.contains("99")));
        assert!(matches!(codec.decode(&mut buf).unwrap(), Some(Inbound::Frame(..))));
        assert!(buf.is_empty());
        // A bad length prefix cannot be skipped: the stream fails.
        let mut buf = BytesMut::from(&[0x80u8, 0x00][..]);
        assert!(codec.decode(&mut buf).is_err());
    }

    #[test]
    fn a_stream_names_its_topic_in_full_once() {
        use asynchronous_codec::Encoder;
        let topic = TopicId::from_name("chat");
        let mut frame = Vec::new();
        wire::encode(&topic, &Message::<PeerId>::Prune, 1024, &mut frame).unwrap();
        let (mut writer, mut reader) = (FrameCodec::new(1024), FrameCodec::new(1024));
        let mut buf = BytesMut::new();
        for _ in 0..3 {
            writer.encode(Bytes::from(frame.clone()), &mut buf).unwrap();
        }
        assert_eq!(buf.len(), frame.len() + 2 * (frame.len() - 32));
        for _ in 0..3 {
            let Some(Inbound::Frame(f, _)) = reader.decode(&mut buf).unwrap() else { panic!("no frame") };
            assert_eq!((f.topic, f.message), (topic, Message::Prune));
        }
        assert!(buf.is_empty());
        // A new stream's reader has no table yet: a short reference fails it.
        let mut buf = BytesMut::from(&[3u8, wire::VERSION, 1, 10][..]);
        assert!(FrameCodec::new(1024).decode(&mut buf).is_err());
    }

    #[test]
    fn part_of_a_frame_counts_as_heard() {
        let mut frame = Vec::new();
        wire::encode(&TopicId::from_name("chat"), &Message::<PeerId>::Prune, 1024, &mut frame).unwrap();
        let mut codec = FrameCodec::new(1024);
        let mut buf = BytesMut::new();
        assert!(codec.decode(&mut buf).unwrap().is_none());
        assert!(!codec.take_arrived(), "nothing arrived yet");
        buf.extend_from_slice(&frame[..2]);
        assert!(codec.decode(&mut buf).unwrap().is_none());
        assert!(codec.take_arrived(), "the first bytes of a frame are news from the peer");
        assert!(codec.decode(&mut buf).unwrap().is_none());
        assert!(!codec.take_arrived(), "decoding the same bytes again is not");
        buf.extend_from_slice(&frame[2..]);
        assert!(matches!(codec.decode(&mut buf).unwrap(), Some(Inbound::Frame(..))));
        assert!(codec.take_arrived());
    }
}
