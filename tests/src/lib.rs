//! Test harness: starts the real server on `127.0.0.1:0` and talks to it over real WebSockets
//! with the real protocol (the `shared` crate's codec).

pub mod services;

use anyhow::{anyhow, bail, Context};
use asteroids_server::{Config, Server};
use futures_util::{SinkExt, StreamExt};
use shared::codec::{decode_server, encode_client};
use shared::protocol::{ClientMsg, Hello, Input, ServerMsg, Snapshot, ViewRect, Welcome};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long a test waits for any one expected message before failing.
pub const RECV_TIMEOUT: Duration = Duration::from_secs(10);

/// A small, dense world that starts fast: 400 asteroids in a 4000×4000 arena.
pub fn small_world() -> Config {
    Config {
        asteroids: 400,
        arena_size: Some(4000.0),
        frame_history: 600,
        db: asteroids_server::store::StoreLocation::memory(),
        // Tests count ships, players and bullets; the ones about AI pilots ask for them.
        ai_pilots: 0,
        ..Config::default()
    }
}

/// A fresh database file path in the system's temporary directory.
pub fn temp_db() -> std::path::PathBuf {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let path = std::env::temp_dir().join(format!(
        "asteroids-test-{}-{}.db",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    path
}

/// Starts the real server on an ephemeral loopback port.
pub async fn start_server(config: Config) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("binding 127.0.0.1:0");
    asteroids_server::start(listener, config).await.expect("starting the server")
}

/// Connects and sends a `Hello` (with a token, if given); returns the client and the
/// server's answer (`Welcome` or `Rejected`).
pub async fn say_hello(addr: SocketAddr, name: &str, token: Option<&str>) -> anyhow::Result<(Client, ServerMsg)> {
    let mut c = Client::connect(addr).await?;
    let answer = c.say_hello(name, token).await?;
    Ok((c, answer))
}

/// An upgrade the server answered with an HTTP status instead of switching protocols.
#[derive(Debug, PartialEq, Eq)]
pub struct HttpRefusal {
    /// The status (403, 429, 503).
    pub status: u16,
    /// Its `Retry-After` header, if any.
    pub retry_after: Option<String>,
}

/// A WebSocket client speaking the game protocol.
#[derive(Debug)]
pub struct Client {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// Bytes received in binary messages.
    pub bytes_in: u64,
}

/// What ended a connection, seen from the client.
#[derive(Debug, PartialEq)]
pub enum Ended {
    /// The server sent a close frame with this code and reason.
    Closed(u16, String),
    /// The connection ended without a close frame.
    Dropped,
}

impl Client {
    /// Opens the game socket.
    pub async fn connect(addr: SocketAddr) -> anyhow::Result<Client> {
        let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws")).await?;
        Ok(Client { ws, bytes_in: 0 })
    }

    /// Opens the game socket from the local address `source` (any of 127.0.0.0/8 is loopback:
    /// 127.0.0.2 is another client address to the server's per-address limits), with extra
    /// request headers. `Ok(Err(_))` when the server answered the upgrade with a status.
    pub async fn connect_from(
        source: IpAddr,
        addr: SocketAddr,
        headers: &[(&'static str, &str)],
    ) -> anyhow::Result<Result<Client, HttpRefusal>> {
        let socket = if source.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
        socket.bind(SocketAddr::new(source, 0)).with_context(|| format!("binding {source}"))?;
        let stream = socket.connect(addr).await?;
        Client::upgrade_over(stream, addr, headers).await
    }

    /// Opens the game socket over an already-connected TCP stream (one that has sent a PROXY
    /// protocol header first, say), with extra request headers. `Ok(Err(_))` when the server
    /// answered the upgrade with a status.
    pub async fn upgrade_over(
        stream: TcpStream,
        addr: SocketAddr,
        headers: &[(&'static str, &str)],
    ) -> anyhow::Result<Result<Client, HttpRefusal>> {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        use tokio_tungstenite::tungstenite::Error as WsError;
        let mut request = format!("ws://{addr}/ws").into_client_request()?;
        for (name, value) in headers {
            request.headers_mut().append(*name, value.parse()?);
        }
        match tokio_tungstenite::client_async(request, MaybeTlsStream::Plain(stream)).await {
            Ok((ws, _)) => Ok(Ok(Client { ws, bytes_in: 0 })),
            Err(WsError::Http(response)) => Ok(Err(HttpRefusal {
                status: response.status().as_u16(),
                retry_after: response.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_string),
            })),
            Err(e) => Err(e.into()),
        }
    }

    /// Completes the handshake as `name` (with a token, if given): the server's answer
    /// (`Welcome` or `Rejected`).
    pub async fn say_hello(&mut self, name: &str, token: Option<&str>) -> anyhow::Result<ServerMsg> {
        let hello = Hello {
            protocol_version: shared::PROTOCOL_VERSION,
            name: name.into(),
            token: token.map(Into::into),
            ticket: None,
        };
        self.send(&ClientMsg::Hello(hello)).await?;
        self.recv().await
    }

    /// Connects and completes the handshake as `name`.
    pub async fn join(addr: SocketAddr, name: &str) -> anyhow::Result<(Client, Welcome)> {
        let c = Client::connect(addr).await?;
        c.hello(name).await
    }

    /// Upgrades an already-connected TCP stream (for sockets with custom options) and completes
    /// the handshake as `name`.
    pub async fn join_over(stream: TcpStream, addr: SocketAddr, name: &str) -> anyhow::Result<(Client, Welcome)> {
        let (ws, _) = tokio_tungstenite::client_async(format!("ws://{addr}/ws"), MaybeTlsStream::Plain(stream)).await?;
        Client { ws, bytes_in: 0 }.hello(name).await
    }

    /// Sends a close frame and waits for the server's.
    pub async fn close(mut self) -> anyhow::Result<()> {
        self.ws.close(None).await?;
        while let Some(Ok(_)) = self.ws.next().await {}
        Ok(())
    }

    async fn hello(self, name: &str) -> anyhow::Result<(Client, Welcome)> {
        let mut c = self;
        c.send(&ClientMsg::Hello(Hello {
            protocol_version: shared::PROTOCOL_VERSION,
            name: name.into(),
            token: None,
            ticket: None,
        }))
        .await?;
        match c.recv().await? {
            ServerMsg::Welcome(w) => Ok((c, w)),
            other => bail!("expected Welcome, got {other:?}"),
        }
    }

    /// Sends one message.
    pub async fn send(&mut self, msg: &ClientMsg) -> anyhow::Result<()> {
        self.send_raw(encode_client(msg)).await
    }

    /// Sends raw bytes as one binary message.
    pub async fn send_raw(&mut self, bytes: Vec<u8>) -> anyhow::Result<()> {
        self.ws.send(Message::Binary(bytes.into())).await.context("sending")
    }

    /// Sends one WebSocket frame as is (control frames included), without flushing the
    /// write buffer first when it is a ping or pong (for floods).
    pub async fn send_frame(&mut self, msg: Message) -> anyhow::Result<()> {
        self.ws.send(msg).await.context("sending")
    }

    /// Sends a close frame with `code` and returns the first frame the server sends back
    /// within [`RECV_TIMEOUT`] (`None` if the connection ended without one).
    pub async fn close_with(mut self, code: u16) -> anyhow::Result<Option<Message>> {
        let frame = CloseFrame { code: code.into(), reason: "bye".into() };
        self.ws.send(Message::Close(Some(frame))).await.context("sending close")?;
        let deadline = tokio::time::Instant::now() + RECV_TIMEOUT;
        loop {
            match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Err(_) => bail!("nothing within {RECV_TIMEOUT:?}"),
                Ok(None | Some(Err(_))) => return Ok(None),
                Ok(Some(Ok(m @ Message::Close(_)))) => return Ok(Some(m)),
                Ok(Some(Ok(_))) => continue,
            }
        }
    }

    /// Sends a view rectangle.
    pub async fn view(&mut self, center: [f32; 2], size: [f32; 2]) -> anyhow::Result<()> {
        self.send(&ClientMsg::View(ViewRect { center, size })).await
    }

    /// Sends an input.
    pub async fn input(&mut self, seq: u32, thrust: bool, turn: i8, fire: bool) -> anyhow::Result<()> {
        self.send(&ClientMsg::Input(Input { seq, tick: 0, thrust, turn, fire })).await
    }

    /// The next server message (WebSocket control frames are skipped), within [`RECV_TIMEOUT`].
    pub async fn recv(&mut self) -> anyhow::Result<ServerMsg> {
        let deadline = tokio::time::Instant::now() + RECV_TIMEOUT;
        loop {
            let msg = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .map_err(|_| anyhow!("no message within {RECV_TIMEOUT:?}"))?
                .ok_or_else(|| anyhow!("connection ended"))??;
            match msg {
                Message::Binary(bytes) => {
                    self.bytes_in += bytes.len() as u64;
                    return decode_server(&bytes).map_err(|e| anyhow!("undecodable server message: {e}"));
                }
                Message::Close(frame) => bail!("closed by server: {frame:?}"),
                _ => continue,
            }
        }
    }

    /// The next snapshot (other messages are skipped), within [`RECV_TIMEOUT`].
    pub async fn snapshot(&mut self) -> anyhow::Result<Snapshot> {
        tokio::time::timeout(RECV_TIMEOUT, async {
            loop {
                if let ServerMsg::Snapshot(s) = self.recv().await? {
                    return Ok(s);
                }
            }
        })
        .await
        .map_err(|_| anyhow!("no snapshot within {RECV_TIMEOUT:?}"))?
    }

    /// Reads until the connection ends; returns how, and the messages seen before.
    pub async fn until_closed(&mut self, within: Duration) -> anyhow::Result<(Ended, Vec<ServerMsg>)> {
        let mut seen = Vec::new();
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let next = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .map_err(|_| anyhow!("still open after {within:?}"))?;
            match next {
                None | Some(Err(_)) => return Ok((Ended::Dropped, seen)),
                Some(Ok(Message::Close(frame))) => {
                    let (code, reason) = frame
                        .map_or((1005, String::new()), |CloseFrame { code, reason }| (code.into(), reason.to_string()));
                    return Ok((Ended::Closed(code, reason), seen));
                }
                Some(Ok(Message::Binary(b))) => seen.push(decode_server(&b).map_err(|e| anyhow!("{e}"))?),
                Some(Ok(_)) => {}
            }
        }
    }
}

impl Client {
    /// Flies as a pilot does (spinning, thrusting now and then, firing) with an input every
    /// 20 ms, reading everything, until the connection ends or `within` passes: how it ended
    /// (`None`: still open) and the last score the server sent.
    pub async fn fly_until_closed(
        &mut self,
        within: Duration,
    ) -> anyhow::Result<(Option<Ended>, Option<shared::protocol::Score>)> {
        use shared::protocol::GameEvent;
        let deadline = tokio::time::Instant::now() + within;
        let mut every = tokio::time::interval(Duration::from_millis(20));
        let (mut seq, mut score) = (0u32, None);
        loop {
            tokio::select! {
                () = tokio::time::sleep_until(deadline) => return Ok((None, score)),
                _ = every.tick() => {
                    seq += 1;
                    let _ = self.input(seq, seq % 40 < 10, 1, true).await; // a failure shows as the end
                }
                next = self.ws.next() => match next {
                    None | Some(Err(_)) => return Ok((Some(Ended::Dropped), score)),
                    Some(Ok(Message::Close(frame))) => {
                        let (code, reason) = frame
                            .map_or((1005, String::new()), |CloseFrame { code, reason }| (code.into(), reason.to_string()));
                        return Ok((Some(Ended::Closed(code, reason)), score));
                    }
                    Some(Ok(Message::Binary(b))) => {
                        if let ServerMsg::Event(GameEvent::Score(s)) = decode_server(&b).map_err(|e| anyhow!("{e}"))? {
                            score = Some(s);
                        }
                    }
                    Some(Ok(_)) => {}
                },
            }
        }
    }
}

/// A minimal HTTP/1.1 GET over loopback: returns the status code and the body. Enough for
/// the server's own JSON and text routes (fixed-length or chunked bodies).
pub async fn http_get(addr: SocketAddr, path: &str, bearer: Option<&str>) -> anyhow::Result<(u16, String)> {
    http_request(addr, "GET", path, bearer).await
}

/// [`http_get`] with any method (no request body).
pub async fn http_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    bearer: Option<&str>,
) -> anyhow::Result<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = TcpStream::connect(addr).await?;
    let auth = bearer.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    let request =
        format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Length: 0\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut raw = Vec::new();
    tokio::time::timeout(RECV_TIMEOUT, stream.read_to_end(&mut raw)).await??;
    let text = String::from_utf8(raw)?;
    let (head, body) = text.split_once("\r\n\r\n").ok_or_else(|| anyhow!("no end of headers"))?;
    let status: u16 = head.split(' ').nth(1).ok_or_else(|| anyhow!("no status"))?.parse()?;
    let chunked = head.to_ascii_lowercase().contains("transfer-encoding: chunked");
    let body = if chunked {
        let mut out = String::new();
        let mut rest = body;
        loop {
            let (size, after) = rest.split_once("\r\n").ok_or_else(|| anyhow!("bad chunk"))?;
            let size = usize::from_str_radix(size.trim(), 16)?;
            if size == 0 {
                break;
            }
            out.push_str(&after[..size]);
            rest = &after[size + 2..];
        }
        out
    } else {
        body.to_string()
    };
    Ok((status, body))
}
