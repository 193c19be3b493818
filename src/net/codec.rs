//! Framing on a libp2p stream: outgoing frames are encoded by the runtime
//! ([`hypar_proto::wire::encode`]) and written as they are; incoming bytes
//! are split and decoded with [`hypar_proto::wire::decode`], which checks
//! the declared length against the limit before the body arrives.

use std::io;

use asynchronous_codec::{Decoder, Encoder};
use bytes::{Buf, Bytes, BytesMut};
use libp2p::PeerId;

use hypar_proto::wire::{self, Frame};

pub(crate) struct FrameCodec {
    pub max_frame: usize,
}

impl Decoder for FrameCodec {
    type Item = (Frame<PeerId>, usize);
    type Error = io::Error;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Self::Item>, io::Error> {
        match wire::decode::<PeerId>(src, self.max_frame) {
            Ok(Some((frame, used))) => {
                src.advance(used);
                Ok(Some((frame, used)))
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
