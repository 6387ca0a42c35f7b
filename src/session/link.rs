//! What a transfer needs from the data channel, so the session logic can
//! also run against a scripted peer: the fuzzer feeds it arbitrary messages
//! and unit tests play exact exchanges without a network.

use crate::peer::{self, Channel, Received};
use bytes::{Bytes, BytesMut};
use std::collections::VecDeque;

#[allow(async_fn_in_trait)] // driven on one task (block_on); no Send bound needed
pub trait Link {
    async fn send(&self, data: &[u8]) -> Result<(), peer::Error>;
    async fn send_owned(&self, data: BytesMut) -> Result<(), peer::Error>;
    async fn recv(&mut self) -> Result<Received, peer::Error>;
    /// Waits until what was sent is acknowledged (bounded).
    async fn drain(&self);
    async fn close(self);
}

impl Link for Channel {
    async fn send(&self, data: &[u8]) -> Result<(), peer::Error> {
        Channel::send(self, data).await
    }
    async fn send_owned(&self, data: BytesMut) -> Result<(), peer::Error> {
        Channel::send_owned(self, data).await
    }
    async fn recv(&mut self) -> Result<Received, peer::Error> {
        Channel::recv(self).await
    }
    async fn drain(&self) {
        Channel::drain(self).await
    }
    async fn close(self) {
        Channel::close(self).await
    }
}

/// A peer that says exactly `incoming`, then closes the channel (or, when
/// `silent`, says nothing more but keeps it open); what we send is kept for
/// inspection.
#[derive(Debug, Default)]
pub struct ScriptedLink {
    pub incoming: VecDeque<Bytes>,
    pub sent: std::sync::Mutex<Vec<Vec<u8>>>,
    pub silent: bool,
    /// How long the peer takes over each message: a slow peer, or one
    /// that drips keepalives.
    pub pace: Option<std::time::Duration>,
}

impl ScriptedLink {
    pub fn new(messages: impl IntoIterator<Item = Vec<u8>>) -> Self {
        ScriptedLink { incoming: messages.into_iter().map(Bytes::from).collect(), ..Default::default() }
    }

    /// A peer that hangs after its script, the connection still up.
    pub fn then_silent(messages: impl IntoIterator<Item = Vec<u8>>) -> Self {
        ScriptedLink { silent: true, ..Self::new(messages) }
    }
}

impl Link for ScriptedLink {
    async fn send(&self, data: &[u8]) -> Result<(), peer::Error> {
        self.sent.lock().map_err(|_| peer::Error::Lost)?.push(data.to_vec());
        Ok(())
    }
    async fn send_owned(&self, data: BytesMut) -> Result<(), peer::Error> {
        self.send(&data).await
    }
    async fn recv(&mut self) -> Result<Received, peer::Error> {
        if let (Some(pace), false) = (self.pace, self.incoming.is_empty()) {
            tokio::time::sleep(pace).await;
        }
        match self.incoming.pop_front() {
            Some(message) => Ok(Received::Message(message)),
            None if self.silent => std::future::pending().await,
            None => Ok(Received::Closed),
        }
    }
    async fn drain(&self) {}
    async fn close(self) {}
}
