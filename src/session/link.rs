//! What a session needs from the data channel, so the session logic (the
//! transfer, pipe and chat, the commit-reveal exchange) can also run
//! against a scripted peer: the fuzzer feeds it arbitrary messages and unit
//! tests play exact exchanges without a network.

use crate::peer::{self, Channel, ChannelSender, Received};
use bytes::{Bytes, BytesMut};
use std::collections::VecDeque;
use std::future::Future;
use std::sync::{Arc, Mutex};

#[allow(async_fn_in_trait)] // driven on one task (block_on); no Send bound needed
pub trait Link {
    /// A second handle that only sends, for a task feeding input while
    /// this one receives.
    type Sender: LinkSender;
    fn sender(&self) -> Self::Sender;
    async fn send(&self, data: &[u8]) -> Result<(), peer::Error>;
    async fn send_owned(&self, data: BytesMut) -> Result<(), peer::Error>;
    async fn recv(&mut self) -> Result<Received, peer::Error>;
    /// Waits until what was sent is acknowledged (bounded).
    async fn drain(&self);
    async fn close(self);
}

/// The sending half a spawned task owns; its futures are `Send` because
/// that task runs on the runtime's threads.
pub trait LinkSender: Send + Sync + 'static {
    fn send(&self, data: &[u8]) -> impl Future<Output = Result<(), peer::Error>> + Send;
    /// A text message (a browser page's `onmessage` gets a string).
    fn send_text(&self, text: &str) -> impl Future<Output = Result<(), peer::Error>> + Send;
}

impl LinkSender for ChannelSender {
    fn send(&self, data: &[u8]) -> impl Future<Output = Result<(), peer::Error>> + Send {
        ChannelSender::send(self, data)
    }
    fn send_text(&self, text: &str) -> impl Future<Output = Result<(), peer::Error>> + Send {
        ChannelSender::send_text(self, text)
    }
}

impl Link for Channel {
    type Sender = ChannelSender;
    fn sender(&self) -> ChannelSender {
        Channel::sender(self)
    }
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
/// inspection. A message can be held back until we have sent a number of
/// messages (`gated`), as a real peer answers only what it has received.
#[derive(Debug, Default)]
pub struct ScriptedLink {
    pub incoming: VecDeque<Bytes>,
    /// For each of `incoming`, how many messages we must have sent first.
    pub gates: VecDeque<usize>,
    pub sent: Arc<Mutex<Vec<Vec<u8>>>>,
    sent_more: Arc<tokio::sync::Notify>,
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

    /// A peer whose each message waits until we have sent that many.
    pub fn gated(messages: impl IntoIterator<Item = (usize, Vec<u8>)>) -> Self {
        let (gates, incoming): (VecDeque<usize>, VecDeque<Bytes>) =
            messages.into_iter().map(|(after, m)| (after, Bytes::from(m))).unzip();
        ScriptedLink { incoming, gates, ..Default::default() }
    }

    fn sent_count(&self) -> usize {
        self.sent.lock().map(|s| s.len()).unwrap_or(usize::MAX)
    }
}

/// What a `ScriptedLink`'s input task sends, recorded with the rest.
#[derive(Debug, Clone)]
pub struct ScriptedSender {
    sent: Arc<Mutex<Vec<Vec<u8>>>>,
    sent_more: Arc<tokio::sync::Notify>,
}

impl ScriptedSender {
    fn record(&self, data: &[u8]) -> Result<(), peer::Error> {
        self.sent.lock().map_err(|_| peer::Error::Lost)?.push(data.to_vec());
        self.sent_more.notify_waiters();
        Ok(())
    }
}

impl LinkSender for ScriptedSender {
    fn send(&self, data: &[u8]) -> impl Future<Output = Result<(), peer::Error>> + Send {
        std::future::ready(self.record(data))
    }
    fn send_text(&self, text: &str) -> impl Future<Output = Result<(), peer::Error>> + Send {
        std::future::ready(self.record(text.as_bytes()))
    }
}

impl Link for ScriptedLink {
    type Sender = ScriptedSender;
    fn sender(&self) -> ScriptedSender {
        ScriptedSender { sent: self.sent.clone(), sent_more: self.sent_more.clone() }
    }
    async fn send(&self, data: &[u8]) -> Result<(), peer::Error> {
        self.sender().record(data)
    }
    async fn send_owned(&self, data: BytesMut) -> Result<(), peer::Error> {
        self.send(&data).await
    }
    async fn recv(&mut self) -> Result<Received, peer::Error> {
        if let Some(&after) = self.gates.front() {
            loop {
                let notified = self.sent_more.notified();
                if self.sent_count() >= after {
                    break;
                }
                notified.await;
            }
            self.gates.pop_front();
        }
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
