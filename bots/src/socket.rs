//! How a bot's connection is opened: the server's address (resolved once for the whole swarm,
//! not once per bot), the local address to bind (see [`crate::source`]), TCP_NODELAY (as a
//! browser's socket has), and the WebSocket handshake on that stream. What goes over it
//! belongs to [`crate::bot`].

use std::net::{Ipv4Addr, SocketAddr};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::WebSocketStream;

/// A bot's socket.
pub type Ws = WebSocketStream<TcpStream>;

/// The socket's read buffer, bytes. tungstenite zero-fills the free part of it before every
/// read, and its default (128 KiB) would cost thousands of bots more time than their
/// messages; a snapshot is about 70 bytes, the first one of a view a few kilobytes, and a
/// larger message is simply read in several pieces.
const READ_BUFFER_BYTES: usize = 4 * 1024;

/// Where the bots connect.
#[derive(Clone, Debug)]
pub struct Endpoint {
    /// The game socket's URL (the WebSocket handshake names it).
    pub url: String,
    /// The server's address.
    pub server: SocketAddr,
}

/// A `ws://` URL's host (without the brackets of an IPv6 literal) and port.
pub fn host_and_port(url: &str) -> Result<(String, u16), String> {
    let request = url.into_client_request().map_err(|e| format!("bad URL {url}: {e}"))?;
    let uri = request.uri();
    match uri.scheme_str() {
        Some("ws") => {}
        Some("wss") => return Err(format!("{url}: the swarm speaks plain ws:// (no TLS)")),
        _ => return Err(format!("{url}: not a ws:// URL")),
    }
    let host = uri.host().ok_or_else(|| format!("{url}: no host"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']').to_string();
    Ok((host, uri.port_u16().unwrap_or(80)))
}

impl Endpoint {
    /// Resolves `url`'s host: to an IPv4 address when `ipv4` (sockets bound to IPv4 source
    /// addresses reach only those), else to its first address.
    pub async fn resolve(url: &str, ipv4: bool) -> Result<Endpoint, String> {
        let (host, port) = host_and_port(url)?;
        let mut addresses =
            tokio::net::lookup_host((host.as_str(), port)).await.map_err(|e| format!("resolve {host}: {e}"))?;
        let server = if ipv4 { addresses.find(SocketAddr::is_ipv4) } else { addresses.next() };
        let server = server.ok_or_else(|| format!("{host} has no {}address", if ipv4 { "IPv4 " } else { "" }))?;
        Ok(Endpoint { url: url.to_string(), server })
    }

    /// Opens a WebSocket to the server, from `source` if given.
    pub async fn open(&self, source: Option<Ipv4Addr>) -> Result<Ws, String> {
        let socket = if self.server.is_ipv4() { TcpSocket::new_v4() } else { TcpSocket::new_v6() };
        let socket = socket.map_err(|e| format!("socket: {e}"))?;
        if let Some(ip) = source {
            // Port 0: the kernel picks a free port of this address's own range.
            socket.bind(SocketAddr::from((ip, 0))).map_err(|e| format!("bind {ip}: {e}"))?;
        }
        let stream = socket.connect(self.server).await.map_err(|e| format!("connect: {e}"))?;
        stream.set_nodelay(true).map_err(|e| format!("nodelay: {e}"))?;
        let config = WebSocketConfig::default().read_buffer_size(READ_BUFFER_BYTES);
        let (ws, _) = tokio_tungstenite::client_async_with_config(self.url.as_str(), stream, Some(config))
            .await
            .map_err(|e| format!("connect: {e}"))?;
        Ok(ws)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hosts come without brackets, ports default to 80, and only ws:// is spoken.
    #[test]
    fn urls_give_host_and_port() {
        assert_eq!(host_and_port("ws://127.0.0.1:18080/ws"), Ok(("127.0.0.1".into(), 18080)));
        assert_eq!(host_and_port("ws://[::1]:9/ws"), Ok(("::1".into(), 9)));
        assert_eq!(host_and_port("ws://example.com/ws"), Ok(("example.com".into(), 80)));
        assert!(host_and_port("wss://example.com/ws").unwrap_err().contains("no TLS"));
        assert!(host_and_port("http://example.com/ws").is_err());
    }

    /// A socket bound to another loopback address reaches a server on 127.0.0.1, and the
    /// server sees that address as the peer (Linux routes all of 127.0.0.0/8 to loopback).
    #[tokio::test]
    async fn binds_the_source_address() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let server = listener.local_addr().unwrap();
        let endpoint = Endpoint { url: format!("ws://{server}/ws"), server };
        let source = Ipv4Addr::new(127, 0, 0, 7);
        let client = tokio::spawn(async move { endpoint.open(Some(source)).await.map(|_| ()) });
        let (_stream, peer) = listener.accept().await.unwrap();
        assert_eq!(peer.ip(), source);
        client.abort();
    }
}
