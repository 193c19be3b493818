//! Node identities: Ed25519 keypairs in libp2p's protobuf key encoding, so
//! other libp2p tools can read them.

use std::fmt;

use libp2p::identity;

use crate::{Error, PeerId};

/// An Ed25519 identity. The node's [`PeerId`] derives from its public key.
#[derive(Clone)]
pub struct Keypair(pub(crate) identity::Keypair);

impl Keypair {
    /// A fresh random identity.
    pub fn generate() -> Self {
        Keypair(identity::Keypair::generate_ed25519())
    }

    /// The secret key in libp2p's protobuf encoding, to persist the identity.
    /// Keep it secret.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.0.to_protobuf_encoding().expect("Ed25519 keys always encode")
    }

    /// Read an identity written by [`Keypair::to_bytes`] (or by any libp2p
    /// tool). Only Ed25519 keys are accepted.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        let key = identity::Keypair::from_protobuf_encoding(bytes)
            .map_err(|e| Error::InvalidKeypair(format!("{e} ({} bytes given)", bytes.len())))?;
        if key.clone().try_into_ed25519().is_err() {
            return Err(Error::InvalidKeypair(format!("a {:?} key; only Ed25519 is supported", key.key_type())));
        }
        Ok(Keypair(key))
    }

    /// The peer id of this identity.
    pub fn peer_id(&self) -> PeerId {
        self.0.public().to_peer_id()
    }
}

impl fmt::Debug for Keypair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Keypair({})", self.peer_id())
    }
}
