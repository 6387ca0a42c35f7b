//! The data channel once it is open: what the session reads and writes,
//! how a peer that has gone is noticed (its port refusing our packets, the
//! connection state), and an orderly close.

use super::{runtime, Error, DISCONNECT_GRACE};
use bytes::{Bytes, BytesMut};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use webrtc::data_channel::{DataChannel, DataChannelEvent};
use webrtc::peer_connection::{PeerConnection, RTCPeerConnectionState};

/// How long closing waits for what was sent to be acknowledged: the last
/// frame (a goodbye) must reach the peer before the connection, and with it
/// a TURN allocation, goes away.
const CLOSE_DRAIN: Duration = Duration::from_secs(2);

/// Polls the channel continuously (the driver stalls otherwise) and forwards
/// messages into a bounded queue.
pub(super) async fn pump(dc: Arc<dyn DataChannel>, tx: mpsc::Sender<Incoming>, open: tokio::sync::oneshot::Sender<()>) {
    let mut open = Some(open);
    while let Some(ev) = dc.poll().await {
        match ev {
            DataChannelEvent::OnOpen => {
                if let Some(o) = open.take() {
                    let _ = o.send(());
                }
            }
            DataChannelEvent::OnMessage(m) => {
                if tx.send(Incoming::Message(m.data.freeze())).await.is_err() {
                    return;
                }
            }
            DataChannelEvent::OnClose => break,
            _ => {}
        }
    }
    let _ = tx.send(Incoming::Closed).await;
}

pub(super) enum Incoming {
    Message(Bytes),
    Closed,
}

/// An open, reliable, ordered data channel.
pub struct Channel {
    pub(super) pc: Arc<dyn PeerConnection>,
    pub(super) dc: Arc<dyn DataChannel>,
    pub(super) incoming: mpsc::Receiver<Incoming>,
    pub(super) state: watch::Receiver<RTCPeerConnectionState>,
    pub(super) peer_port: Arc<runtime::PeerPort>,
}

/// What `Channel::recv` yields.
#[derive(Debug)]
pub enum Received {
    Message(Bytes),
    /// The peer closed the channel, or its socket: a browser tab that
    /// closes sends nothing, but its port then refuses our packets.
    Closed,
}

impl Channel {
    /// Sends one message; waits while the send buffer is full.
    pub async fn send(&self, data: &[u8]) -> Result<(), Error> {
        self.send_owned(BytesMut::from(data)).await
    }

    /// Sends a buffer the caller gives up, saving a copy per message.
    pub async fn send_owned(&self, data: BytesMut) -> Result<(), Error> {
        self.sender().send_owned(data).await
    }

    /// A cheap handle for sending from another task.
    pub fn sender(&self) -> ChannelSender {
        ChannelSender { dc: self.dc.clone(), state: self.state.clone() }
    }

    /// Next message; `Err(Lost)` when the connection fails or stays
    /// disconnected past the grace period.
    pub async fn recv(&mut self) -> Result<Received, Error> {
        // What has already arrived comes first: a peer that says why it
        // stops and then closes must be heard, not taken for lost.
        tokio::select! {
            biased;
            msg = self.incoming.recv() => Ok(match msg {
                Some(Incoming::Message(b)) => Received::Message(b),
                Some(Incoming::Closed) | None => Received::Closed,
            }),
            _ = wait_lost(self.state.clone()) => Err(Error::Lost),
            _ = self.peer_port.closed() => {
                tracing::info!("the peer's port refuses our packets (ICMP port unreachable): it has left");
                Ok(Received::Closed)
            }
        }
    }

    /// Waits (a few seconds at most) until everything sent has been
    /// acknowledged, so closing next loses nothing in flight.
    pub async fn drain(&self) {
        let _ = tokio::time::timeout(Duration::from_secs(5), async {
            // A round trip on a LAN is well under a millisecond: polling
            // every 10 ms made every close 10 ms late (the demo's close step
            // went from 1.7 to 12.6 ms).
            while matches!(self.dc.outstanding_bytes().await, Ok(n) if n > 0) {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        })
        .await;
    }

    /// Closes the channel and the connection; the peer sees the channel close
    /// within milliseconds. What was sent is delivered first (a few seconds at
    /// most, and only while connected): through a relay, closing also ends
    /// the TURN allocation, and whatever was still unacknowledged then (the
    /// goodbye) would never arrive, leaving the peer to time out (issue 14:
    /// 3 of 7 transfers through coturn ended with exit 4 after all bytes).
    pub async fn close(self) {
        // A peer whose port refuses our packets (a closed browser tab) will
        // acknowledge nothing: waiting for it would only delay the exit.
        if *self.state.borrow() == RTCPeerConnectionState::Connected {
            tokio::select! {
                _ = tokio::time::timeout(CLOSE_DRAIN, self.drain()) => {}
                _ = self.peer_port.closed() => {}
            }
        }
        let _ = self.dc.close().await;
        let _ = self.pc.close().await;
    }
}

#[derive(Clone)]
pub struct ChannelSender {
    dc: Arc<dyn DataChannel>,
    state: watch::Receiver<RTCPeerConnectionState>,
}

impl ChannelSender {
    pub async fn send(&self, data: &[u8]) -> Result<(), Error> {
        self.send_owned(BytesMut::from(data)).await
    }

    /// With the send buffer full, webrtc's send waits for acknowledgements
    /// that a vanished peer never sends: the connection state decides.
    pub async fn send_owned(&self, data: BytesMut) -> Result<(), Error> {
        tokio::select! {
            sent = self.dc.send(data) => sent.map_err(|_| Error::Lost),
            _ = wait_lost(self.state.clone()) => Err(Error::Lost),
        }
    }

    /// A text message: what a browser page's `onmessage` gets as a string.
    pub async fn send_text(&self, text: &str) -> Result<(), Error> {
        tokio::select! {
            sent = self.dc.send_text(text) => sent.map_err(|_| Error::Lost),
            _ = wait_lost(self.state.clone()) => Err(Error::Lost),
        }
    }
}

async fn wait_lost(mut state: watch::Receiver<RTCPeerConnectionState>) {
    loop {
        let current = *state.borrow_and_update();
        match current {
            RTCPeerConnectionState::Failed | RTCPeerConnectionState::Closed => return,
            RTCPeerConnectionState::Disconnected => {
                let recovered =
                    tokio::time::timeout(DISCONNECT_GRACE, state.wait_for(|s| *s == RTCPeerConnectionState::Connected))
                        .await;
                match recovered {
                    Ok(Ok(_)) => continue,
                    Ok(Err(_)) | Err(_) => return,
                }
            }
            _ => {
                if state.changed().await.is_err() {
                    // The connection is gone with its handler: nothing more
                    // will ever arrive.
                    return std::future::pending().await;
                }
            }
        }
    }
}
