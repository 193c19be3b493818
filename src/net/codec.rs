//! Framing on a libp2p stream: outgoing frames are encoded by the runtime
//! ([`hypar_proto::wire::encode`]) and written as they are; incoming bytes
//! are split into keep-alives ([`wire::KEEP_ALIVE`]) and frames decoded with
//! [`hypar_proto::wire::decode`], which checks the declared length against
//! the limit before the body arrives.

use std::io;

use asynchronous_codec::{Decoder, Encoder};
use bytes::{Buf, Bytes, BytesMut};
use libp2p::PeerId;

use hypar_proto::wire::{self, Frame};

pub(crate) struct FrameCodec {
    pub max_frame: usize,
}

/// What arrived on a stream.
#[derive(Debug)]
pub(crate) enum Inbound {
    /// A frame, with its size on the wire.
    Frame(Frame<PeerId>, usize),
    /// A keep-alive.
    KeepAlive,
}

impl Decoder for FrameCodec {
    type Item = Inbound;
    type Error = io::Error;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Self::Item>, io::Error> {
        if src.first() == Some(&wire::KEEP_ALIVE) {
            src.advance(1);
            return Ok(Some(Inbound::KeepAlive));
        }
        match wire::decode::<PeerId>(src, self.max_frame) {
            Ok(Some((frame, used))) => {
                src.advance(used);
                Ok(Some(Inbound::Frame(frame, used)))
            }
            Ok(None) => Ok(None),
            Err(e) => Err(io::Error::new(io::ErrorKind::InvalidData, e)),
        }
    }
}

impl Encoder for FrameCodec {
    type Item<'a> = Bytes;
    type Error = io::Error;

    fn encode(&mut self, frame: Bytes, dst: &mut BytesMut) -> Result<(), io::Error> {
        dst.extend_from_slice(&frame);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use asynchronous_codec::Decoder;
    use bytes::BytesMut;
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
        let mut codec = FrameCodec { max_frame: 1024 };
        let mut got = Vec::new();
        while let Some(item) = codec.decode(&mut buf).unwrap() {
            got.push(match item {
                Inbound::KeepAlive => "keep-alive".to_string(),
                Inbound::Frame(f, size) => format!("{} of {size} bytes", f.message.kind()),
            });
        }
        assert_eq!(got, ["keep-alive", &format!("prune of {} bytes", frame.len()), "keep-alive", "keep-alive"]);
        assert_eq!(&buf[..], &frame[..3], "the start of the next frame waits for the rest");
    }
}
