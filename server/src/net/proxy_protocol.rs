//! The PROXY protocol (versions 1 and 2, as HAProxy specifies it): how a TCP balancer in
//! front of the server tells it whose connection it is relaying. Without it, every player
//! behind a balancer shares the balancer's address, and one client's quota (connections, new
//! identities) is everyone's.
//!
//! A balancer that speaks it sends one header before the client's first byte:
//!
//! - **v1**, a text line: `PROXY TCP4 198.51.100.7 203.0.113.1 51234 443\r\n` (also `TCP6`,
//!   and `UNKNOWN` for a connection it cannot describe, such as its own health check), at most
//!   [`V1_MAX_BYTES`];
//! - **v2**, binary: the 12-byte [`V2_SIGNATURE`], a version and command byte (`0x21` PROXY,
//!   `0x20` LOCAL: the balancer's own connection), an address-family byte, a big-endian length
//!   and that many bytes of addresses and optional TLVs.
//!
//! Only peers the operator names with `--proxy-protocol-from` may send one, and each of their
//! connections must begin with one ([`read_header`]): a header from anyone else would let any
//! client claim any address, and a balancer's connection without one would be its clients'
//! traffic under its own address. The header is read exactly, byte for byte, so the request
//! after it is left in the socket for the HTTP server.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;
use tokio::io::AsyncReadExt;

/// The longest v1 line, its `\r\n` included (the specification's bound).
pub const V1_MAX_BYTES: usize = 107;
/// What every v2 header starts with.
pub const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";
/// A v2 header's fixed part: the signature, version and command, family, length.
const V2_FIXED_BYTES: usize = 16;
/// Bytes read before either version's header can be told apart; both are longer
/// (`PROXY UNKNOWN\r\n` is 15), so reading them never takes a byte of the request.
const SNIFF_BYTES: usize = 8;

/// What a header says about the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Relayed {
    /// A client's connection, from this address.
    Client(SocketAddr),
    /// The balancer's own connection (v2 LOCAL, v1 UNKNOWN, or an address family other than
    /// IPv4 and IPv6): the peer's address stands.
    Local,
}

/// Why a header was refused (the connection is then closed unanswered).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeaderError {
    /// The connection did not start with a PROXY header.
    Missing,
    /// It started like one, but is not a well-formed one.
    Malformed,
    /// A v2 header longer than `--max-proxy-header-bytes`.
    TooLong,
    /// The header did not arrive within the first-byte deadline, or the connection closed
    /// part-way through it.
    Incomplete,
    /// The connection closed before sending a byte (a balancer's TCP health check, a
    /// browser's preconnect): nothing to complain of.
    Closed,
    /// Not a byte within the first-byte deadline (a silent connection, like any other).
    Silent,
}

impl std::fmt::Display for HeaderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            HeaderError::Missing => "no PROXY protocol header",
            HeaderError::Malformed => "a malformed PROXY protocol header",
            HeaderError::TooLong => "a PROXY protocol header over --max-proxy-header-bytes",
            HeaderError::Incomplete => "an incomplete PROXY protocol header",
            HeaderError::Closed => "closed before sending anything",
            HeaderError::Silent => "nothing sent before the first-byte deadline",
        })
    }
}

/// Reads the PROXY header `stream` must begin with, and nothing after it, within `deadline`.
/// A v2 header may be at most `max_bytes` long.
pub async fn read_header<S: tokio::io::AsyncRead + Unpin>(
    stream: &mut S,
    max_bytes: usize,
    deadline: Duration,
) -> Result<Relayed, HeaderError> {
    let started = tokio::time::Instant::now();
    let mut first = [0u8; 1];
    match tokio::time::timeout(deadline, stream.read(&mut first)).await {
        Ok(Ok(1)) => {}
        Ok(Ok(_)) | Ok(Err(_)) => return Err(HeaderError::Closed),
        Err(_) => return Err(HeaderError::Silent),
    }
    let left = deadline.saturating_sub(started.elapsed());
    match tokio::time::timeout(left, read(stream, first[0], max_bytes)).await {
        Ok(read) => read,
        Err(_) => Err(HeaderError::Incomplete),
    }
}

async fn read<S: tokio::io::AsyncRead + Unpin>(
    stream: &mut S,
    first: u8,
    max_bytes: usize,
) -> Result<Relayed, HeaderError> {
    let incomplete = |_| HeaderError::Incomplete;
    let mut head = vec![0u8; SNIFF_BYTES];
    head[0] = first;
    stream.read_exact(&mut head[1..]).await.map_err(incomplete)?;
    if head[..] == V2_SIGNATURE[..SNIFF_BYTES] {
        head.resize(V2_FIXED_BYTES, 0);
        stream.read_exact(&mut head[SNIFF_BYTES..]).await.map_err(incomplete)?;
        if head[..12] != V2_SIGNATURE {
            return Err(HeaderError::Malformed);
        }
        let len = usize::from(u16::from_be_bytes([head[14], head[15]]));
        if V2_FIXED_BYTES + len > max_bytes {
            return Err(HeaderError::TooLong);
        }
        head.resize(V2_FIXED_BYTES + len, 0);
        stream.read_exact(&mut head[V2_FIXED_BYTES..]).await.map_err(incomplete)?;
        return parse_v2(&head);
    }
    if !head.starts_with(b"PROXY ") {
        return Err(HeaderError::Missing);
    }
    // The line's end is not known in advance: read a byte at a time, never past it.
    while !head.ends_with(b"\r\n") {
        if head.len() == V1_MAX_BYTES {
            return Err(HeaderError::Malformed);
        }
        let mut byte = [0u8; 1];
        stream.read_exact(&mut byte).await.map_err(incomplete)?;
        head.push(byte[0]);
    }
    parse_v1(&head)
}

/// A whole v1 line, `\r\n` included.
pub fn parse_v1(line: &[u8]) -> Result<Relayed, HeaderError> {
    if line.starts_with(b"PROXY UNKNOWN") && line.ends_with(b"\r\n") {
        // The rest of the line may be anything (even not text), and is ignored.
        return Ok(Relayed::Local);
    }
    let text = line.strip_suffix(b"\r\n").and_then(|l| std::str::from_utf8(l).ok()).ok_or(HeaderError::Malformed)?;
    let mut words = text.split(' ');
    if words.next() != Some("PROXY") {
        return Err(HeaderError::Missing);
    }
    let family = words.next().ok_or(HeaderError::Malformed)?;
    let fields: Vec<&str> = words.collect();
    let [source, destination, source_port, destination_port] = fields[..] else {
        return Err(HeaderError::Malformed);
    };
    let address = |text: &str| match family {
        "TCP4" => text.parse::<Ipv4Addr>().map(IpAddr::V4).map_err(|_| HeaderError::Malformed),
        "TCP6" => text.parse::<Ipv6Addr>().map(IpAddr::V6).map_err(|_| HeaderError::Malformed),
        _ => Err(HeaderError::Malformed),
    };
    address(destination)?;
    let ip = address(source)?;
    let port = |p: &str| {
        let digits = !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit());
        digits.then(|| p.parse::<u16>().ok()).flatten().ok_or(HeaderError::Malformed)
    };
    port(destination_port)?;
    Ok(Relayed::Client(SocketAddr::new(ip, port(source_port)?)))
}

/// A whole v2 header: the fixed part and its announced length.
pub fn parse_v2(header: &[u8]) -> Result<Relayed, HeaderError> {
    if header.len() < V2_FIXED_BYTES || header[..12] != V2_SIGNATURE {
        return Err(HeaderError::Missing);
    }
    let body = &header[V2_FIXED_BYTES..];
    if body.len() != usize::from(u16::from_be_bytes([header[14], header[15]])) {
        return Err(HeaderError::Malformed);
    }
    let (version, command) = (header[12] >> 4, header[12] & 0x0f);
    if version != 2 {
        return Err(HeaderError::Malformed);
    }
    match command {
        0 => return Ok(Relayed::Local),
        1 => {}
        _ => return Err(HeaderError::Malformed),
    }
    // The transport: unspecified, stream or datagram; nothing else is defined.
    if header[13] & 0x0f > 2 {
        return Err(HeaderError::Malformed);
    }
    let source = match header[13] >> 4 {
        // AF_INET: source and destination addresses, then their ports.
        1 if body.len() >= 12 => {
            let ip = Ipv4Addr::from(<[u8; 4]>::try_from(&body[..4]).expect("4 bytes"));
            SocketAddr::new(ip.into(), u16::from_be_bytes([body[8], body[9]]))
        }
        // AF_INET6.
        2 if body.len() >= 36 => {
            let ip = Ipv6Addr::from(<[u8; 16]>::try_from(&body[..16]).expect("16 bytes"));
            SocketAddr::new(ip.into(), u16::from_be_bytes([body[32], body[33]]))
        }
        1 | 2 => return Err(HeaderError::Malformed),
        // AF_UNSPEC and AF_UNIX: no address to use; the peer's stands.
        0 | 3 => return Ok(Relayed::Local),
        _ => return Err(HeaderError::Malformed),
    };
    Ok(Relayed::Client(source))
}

/// A v2 PROXY header for a TCP connection from `source` to `destination` (for tests, tools
/// and the bot swarm behind a balancer): both addresses of one family.
pub fn v2_header(source: SocketAddr, destination: SocketAddr) -> Vec<u8> {
    let mut h = V2_SIGNATURE.to_vec();
    h.push(0x21);
    let mut body = Vec::new();
    match (source, destination) {
        (SocketAddr::V4(s), SocketAddr::V4(d)) => {
            h.push(0x11);
            body.extend(s.ip().octets());
            body.extend(d.ip().octets());
        }
        (s, d) => {
            h.push(0x21);
            let v6 = |a: SocketAddr| match a.ip() {
                IpAddr::V4(v4) => v4.to_ipv6_mapped(),
                IpAddr::V6(v6) => v6,
            };
            body.extend(v6(s).octets());
            body.extend(v6(d).octets());
        }
    }
    body.extend(source.port().to_be_bytes());
    body.extend(destination.port().to_be_bytes());
    h.extend((body.len() as u16).to_be_bytes());
    h.extend(body);
    h
}

/// A v1 PROXY line for a TCP connection from `source` to `destination`.
pub fn v1_header(source: SocketAddr, destination: SocketAddr) -> String {
    let family = if source.is_ipv4() { "TCP4" } else { "TCP6" };
    format!("PROXY {family} {} {} {} {}\r\n", source.ip(), destination.ip(), source.port(), destination.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    /// Reads a header from `bytes` followed by a request, and returns what it said and what
    /// is left for the HTTP server.
    async fn read_from(bytes: &[u8], max: usize) -> (Result<Relayed, HeaderError>, Vec<u8>) {
        let mut input = bytes.to_vec();
        input.extend(b"GET / HTTP/1.1\r\n");
        let mut stream = &input[..];
        let relayed = read_header(&mut stream, max, Duration::from_secs(1)).await;
        (relayed, stream.to_vec())
    }

    /// Both versions, both families: the source is the client, and the request after the
    /// header is left unread.
    #[tokio::test]
    async fn headers_name_the_client_and_leave_the_request() {
        let cases = [
            (addr("198.51.100.7:51234"), addr("203.0.113.1:443")),
            (addr("[2001:db8::7]:4711"), addr("[2001:db8::1]:443")),
        ];
        for (source, destination) in cases {
            for header in [v1_header(source, destination).into_bytes(), v2_header(source, destination)] {
                let (relayed, rest) = read_from(&header, 1024).await;
                assert_eq!(relayed, Ok(Relayed::Client(source)), "{header:?}");
                assert_eq!(rest, b"GET / HTTP/1.1\r\n", "exactly the header was read");
            }
        }
    }

    /// The balancer's own connections keep its address; TLVs after the addresses are
    /// skipped.
    #[tokio::test]
    async fn local_connections_and_tlvs() {
        let mut local = V2_SIGNATURE.to_vec();
        local.extend([0x20, 0x00, 0, 0]);
        assert_eq!(read_from(&local, 1024).await, (Ok(Relayed::Local), b"GET / HTTP/1.1\r\n".to_vec()));
        let unknown = b"PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n";
        assert_eq!(read_from(unknown, 1024).await.0, Ok(Relayed::Local));
        assert_eq!(read_from(b"PROXY UNKNOWN\r\n", 1024).await.0, Ok(Relayed::Local));
        assert_eq!(read_from(b"PROXY UNKNOWN \xff\xfe\r\n", 1024).await.0, Ok(Relayed::Local), "not text");
        let mut with_tlv = v2_header(addr("198.51.100.7:1"), addr("203.0.113.1:2"));
        with_tlv.extend([0x05, 0x00, 0x03, b'a', b'b', b'c']); // PP2_TYPE_UNIQUE_ID
        let len = u16::from_be_bytes([with_tlv[14], with_tlv[15]]) + 6;
        with_tlv[14..16].copy_from_slice(&len.to_be_bytes());
        let (relayed, rest) = read_from(&with_tlv, 1024).await;
        assert_eq!(relayed, Ok(Relayed::Client(addr("198.51.100.7:1"))));
        assert_eq!(rest, b"GET / HTTP/1.1\r\n");
    }

    /// A request without a header, malformed headers, one over the limit and one cut short
    /// are all refused, each for its reason.
    #[tokio::test]
    async fn bad_headers_are_refused() {
        assert_eq!(read_from(b"", 1024).await.0, Err(HeaderError::Missing), "a plain request");
        let mut nothing: &[u8] = &[];
        let closed = read_header(&mut nothing, 1024, Duration::from_secs(1)).await;
        assert_eq!(closed, Err(HeaderError::Closed), "a health check that only connects");
        let mut dgram_v3 = v2_header(addr("198.51.100.7:1"), addr("203.0.113.1:2"));
        dgram_v3[13] = 0x13;
        assert_eq!(read_from(&dgram_v3, 1024).await.0, Err(HeaderError::Malformed), "transport 3");
        for bad in [
            &b"PROXY TCP4 198.51.100.7 203.0.113.1 51234\r\n"[..],
            b"PROXY TCP4 2001:db8::7 203.0.113.1 1 2\r\n",
            b"PROXY TCP6 198.51.100.7 203.0.113.1 1 2\r\n",
            b"PROXY TCP4 198.51.100.7 203.0.113.1 65536 2\r\n",
            b"PROXY TCP4 198.51.100.7 203.0.113.1 +1 2\r\n",
            b"PROXY UDP4 198.51.100.7 203.0.113.1 1 2\r\n",
            b"PROXY TCP4  198.51.100.7 203.0.113.1 1 2\r\n",
            b"PROXY TCP4 198.51.100.7 nonsense 1 2\r\n",
            b"PROXY TCP4 198.51.100.7 203.0.113.1 1 x\r\n",
        ] {
            assert_eq!(read_from(bad, 1024).await.0, Err(HeaderError::Malformed), "{}", String::from_utf8_lossy(bad));
        }
        let endless = [b"PROXY ".to_vec(), vec![b'1'; 200]].concat();
        assert_eq!(read_from(&endless, 1024).await.0, Err(HeaderError::Malformed), "no end within 107 bytes");
        let mut v3 = v2_header(addr("198.51.100.7:1"), addr("203.0.113.1:2"));
        v3[12] = 0x31;
        assert_eq!(read_from(&v3, 1024).await.0, Err(HeaderError::Malformed), "version 3");
        let mut short = v2_header(addr("198.51.100.7:1"), addr("203.0.113.1:2"));
        short[15] = 4; // AF_INET with 4 bytes of addresses
        short.truncate(V2_FIXED_BYTES + 4);
        assert_eq!(read_from(&short, 1024).await.0, Err(HeaderError::Malformed));
        let mut long = v2_header(addr("198.51.100.7:1"), addr("203.0.113.1:2"));
        long[14..16].copy_from_slice(&2000u16.to_be_bytes());
        assert_eq!(read_from(&long, 1024).await.0, Err(HeaderError::TooLong));
        let header = v2_header(addr("198.51.100.7:1"), addr("203.0.113.1:2"));
        let mut cut = &header[..20];
        let result = read_header(&mut cut, 1024, Duration::from_secs(1)).await;
        assert_eq!(result, Err(HeaderError::Incomplete), "the connection closed mid-header");
    }

    /// A header that never completes is given up at the deadline; a connection that sends
    /// nothing is silent, not a bad header.
    #[tokio::test]
    async fn a_slow_header_times_out() {
        let (_quiet, mut silent) = tokio::io::duplex(64);
        let result = read_header(&mut silent, 1024, Duration::from_millis(100)).await;
        assert_eq!(result, Err(HeaderError::Silent));
        let (mut client, mut server) = tokio::io::duplex(64);
        use tokio::io::AsyncWriteExt;
        client.write_all(b"PROXY TCP4 198.51.").await.unwrap();
        let started = std::time::Instant::now();
        let result = read_header(&mut server, 1024, Duration::from_millis(200)).await;
        assert_eq!(result, Err(HeaderError::Incomplete));
        assert!(started.elapsed() < Duration::from_secs(1));
    }
}
