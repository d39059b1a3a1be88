//! The one encode/decode pair, and the validation every inbound message gets at the socket.
//!
//! [`decode_client`] is the server's only way to turn bytes into a [`ClientMsg`]: it bounds
//! the size, rejects trailing bytes, and checks every number and string, so that what reaches
//! the simulation is valid by construction (no NaN ever reaches the physics).

use crate::constants::{MAX_CLIENT_MESSAGE_BYTES, MAX_TOKEN_LEN, NAME_LEN};
use crate::protocol::{ClientMsg, ServerMsg};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// Why bytes were not a valid message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// Longer than [`MAX_CLIENT_MESSAGE_BYTES`].
    TooLarge {
        /// The message's length in bytes.
        len: usize,
    },
    /// Not a postcard encoding of a message (truncated, unknown tag, bad varint, bad UTF-8…).
    Malformed(String),
    /// A valid message followed by extra bytes.
    TrailingBytes {
        /// How many bytes were left over.
        extra: usize,
    },
    /// Well-formed but with a value out of range (non-finite number, bad turn, oversize
    /// string).
    Invalid(&'static str),
}

impl core::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            DecodeError::TooLarge { len } => write!(f, "message of {len} bytes exceeds {MAX_CLIENT_MESSAGE_BYTES}"),
            DecodeError::Malformed(e) => write!(f, "malformed message: {e}"),
            DecodeError::TrailingBytes { extra } => {
                write!(f, "{extra} trailing bytes after message")
            }
            DecodeError::Invalid(what) => write!(f, "invalid message: {what}"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// Encodes a server message.
pub fn encode_server(msg: &ServerMsg) -> Vec<u8> {
    encode(msg)
}

/// The encoded length of a server message, without encoding it (for bandwidth accounting).
pub fn encoded_len_server(msg: &ServerMsg) -> usize {
    encoded_len(msg)
}

/// The encoded length of any part of a message (an entity's record, a list of ids), without
/// encoding it: what that part costs inside its message.
pub fn encoded_len<T: serde::Serialize + ?Sized>(part: &T) -> usize {
    postcard::serialize_with_flavor::<_, postcard::ser_flavors::Size, usize>(part, Default::default())
        .expect("protocol types always serialize")
}

/// Bytes a server message of `payload_len` bytes takes on the wire: the payload plus its
/// WebSocket frame header (RFC 6455 §5.2: 2 bytes, plus a 2- or 8-byte extended length from
/// 126 and 65,536 bytes on; server frames are unmasked, so no masking key). Bandwidth figures
/// (the bots' report, the benchmark) count this, as the network does.
pub fn ws_frame_len(payload_len: usize) -> u64 {
    let header = if payload_len < 126 {
        2
    } else if payload_len <= 65_535 {
        4
    } else {
        10
    };
    payload_len as u64 + header
}

/// Encodes a client message.
pub fn encode_client(msg: &ClientMsg) -> Vec<u8> {
    encode(msg)
}

fn encode<T: Serialize>(msg: &T) -> Vec<u8> {
    // Serializing these plain types into a Vec cannot fail: no maps with non-string keys, no
    // sequences of unknown length, and allocation failure aborts.
    postcard::to_allocvec(msg).expect("protocol types always serialize")
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, DecodeError> {
    let (msg, rest) = postcard::take_from_bytes::<T>(bytes).map_err(|e| DecodeError::Malformed(e.to_string()))?;
    if !rest.is_empty() {
        return Err(DecodeError::TrailingBytes { extra: rest.len() });
    }
    Ok(msg)
}

/// Decodes and validates a message from a client.
pub fn decode_client(bytes: &[u8]) -> Result<ClientMsg, DecodeError> {
    if bytes.len() > MAX_CLIENT_MESSAGE_BYTES {
        return Err(DecodeError::TooLarge { len: bytes.len() });
    }
    let msg: ClientMsg = decode(bytes)?;
    validate(&msg)?;
    Ok(msg)
}

/// Decodes a message from the server (clients trust the server's values).
pub fn decode_server(bytes: &[u8]) -> Result<ServerMsg, DecodeError> {
    decode(bytes)
}

fn validate(msg: &ClientMsg) -> Result<(), DecodeError> {
    match msg {
        ClientMsg::Hello(hello) => {
            // The name's content is checked by `validate_name` during the handshake (the answer
            // to a bad name is a `Rejected`, not a protocol error); here only its size.
            if hello.name.len() > NAME_LEN.end() * 4 {
                return Err(DecodeError::Invalid("name too long"));
            }
            if hello.token.as_ref().is_some_and(|t| t.len() > MAX_TOKEN_LEN) {
                return Err(DecodeError::Invalid("token too long"));
            }
            if hello.ticket.as_ref().is_some_and(|t| t.len() > crate::constants::MAX_TICKET_BYTES) {
                return Err(DecodeError::Invalid("hand-over ticket too long"));
            }
        }
        ClientMsg::Input(input) => {
            if !(-1..=1).contains(&input.turn) {
                return Err(DecodeError::Invalid("turn must be -1, 0 or 1"));
            }
        }
        ClientMsg::View(view) => {
            let all = [view.center[0], view.center[1], view.size[0], view.size[1]];
            if !all.iter().all(|v| v.is_finite()) {
                return Err(DecodeError::Invalid("non-finite view"));
            }
            if view.size[0] < 0.0 || view.size[1] < 0.0 {
                return Err(DecodeError::Invalid("negative view size"));
            }
        }
        ClientMsg::Ping { .. } | ClientMsg::Spectate { .. } => {}
    }
    Ok(())
}

/// Why a name was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameError {
    /// Empty after trimming, or longer than [`NAME_LEN`].
    Length,
    /// Contains something other than letters, digits, spaces, `-`, `_` and `.`.
    Characters,
}

/// Checks a display name and returns it trimmed. Letters and digits of any script are allowed,
/// plus single spaces, `-`, `_` and `.`; control characters and everything else are not.
pub fn validate_name(name: &str) -> Result<String, NameError> {
    let name = name.trim();
    let len = name.chars().count();
    if !NAME_LEN.contains(&len) {
        return Err(NameError::Length);
    }
    let ok = name.chars().all(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_' | '.'));
    if !ok || name.contains("  ") {
        return Err(NameError::Characters);
    }
    Ok(name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::*;
    use proptest::prelude::*;

    fn hello() -> ClientMsg {
        ClientMsg::Hello(Hello {
            protocol_version: crate::PROTOCOL_VERSION,
            name: "Ada".into(),
            token: None,
            ticket: None,
        })
    }

    /// The computed length is the encoded length.
    /// The frame header grows at the lengths RFC 6455 sets: 2 bytes below 126, 4 up to
    /// 65,535, 10 beyond.
    #[test]
    fn ws_frame_len_adds_the_header() {
        assert_eq!(ws_frame_len(0), 2);
        assert_eq!(ws_frame_len(125), 127);
        assert_eq!(ws_frame_len(126), 130);
        assert_eq!(ws_frame_len(65_535), 65_539);
        assert_eq!(ws_frame_len(65_536), 65_546);
    }

    #[test]
    fn encoded_len_matches() {
        let msg = ServerMsg::Pong { nonce: 300, tick: 70_000 };
        assert_eq!(encoded_len_server(&msg), encode_server(&msg).len());
    }

    /// Entity ids beyond 2³² travel intact (ids never wrap); small ones still cost one byte.
    #[test]
    fn wide_entity_ids_round_trip() {
        let snap = |id| ServerMsg::Snapshot(Snapshot { tick: 1, left: vec![id], ..Default::default() });
        for id in [1, u32::MAX as EntityId, 1 << 40, EntityId::MAX] {
            assert_eq!(decode_server(&encode_server(&snap(id))).unwrap(), snap(id));
        }
        assert_eq!(encode_server(&snap(5)).len() + 5, encode_server(&snap(1 << 40)).len(), "varints: 1 byte, 6 bytes");
    }

    /// Valid client messages survive encode → decode unchanged.
    #[test]
    fn client_round_trip() {
        let msgs = [
            hello(),
            ClientMsg::Input(Input { seq: 7, tick: 0, thrust: true, turn: -1, fire: true }),
            ClientMsg::View(ViewRect { center: [1.5, -2.0], size: [1920.0, 1080.0] }),
            ClientMsg::Ping { nonce: 99 },
        ];
        for m in msgs {
            assert_eq!(decode_client(&encode_client(&m)).unwrap(), m);
        }
    }

    /// Oversized, trailing, non-finite and out-of-range inputs are errors, not panics.
    #[test]
    fn rejects_bad_client_messages() {
        assert!(matches!(decode_client(&vec![0u8; MAX_CLIENT_MESSAGE_BYTES + 1]), Err(DecodeError::TooLarge { .. })));
        let mut bytes = encode_client(&ClientMsg::Ping { nonce: 1 });
        bytes.push(0);
        assert_eq!(decode_client(&bytes), Err(DecodeError::TrailingBytes { extra: 1 }));
        let nan = ClientMsg::View(ViewRect { center: [f32::NAN, 0.0], size: [1.0, 1.0] });
        assert!(matches!(decode_client(&encode_client(&nan)), Err(DecodeError::Invalid(_))));
        let turn = ClientMsg::Input(Input { seq: 1, tick: 0, thrust: false, turn: 5, fire: false });
        assert!(matches!(decode_client(&encode_client(&turn)), Err(DecodeError::Invalid(_))));
        assert!(matches!(decode_client(&[200]), Err(DecodeError::Malformed(_))));
        assert!(matches!(decode_client(&[]), Err(DecodeError::Malformed(_))));
        // A hand-over ticket of up to MAX_TICKET_BYTES passes; one byte more is invalid.
        let ticketed = |len: usize| {
            let Ok(ClientMsg::Hello(h)) = decode_client(&encode_client(&hello())) else { unreachable!() };
            ClientMsg::Hello(Hello { ticket: Some(vec![7; len]), ..h })
        };
        let max = crate::constants::MAX_TICKET_BYTES;
        assert_eq!(decode_client(&encode_client(&ticketed(max))), Ok(ticketed(max)));
        assert_eq!(
            decode_client(&encode_client(&ticketed(max + 1))),
            Err(DecodeError::Invalid("hand-over ticket too long"))
        );
    }

    /// Names: trimmed, bounded, and limited to a safe alphabet.
    #[test]
    fn names() {
        assert_eq!(validate_name("  Ada Lovelace ").unwrap(), "Ada Lovelace");
        assert_eq!(validate_name("Zoë_2"), Ok("Zoë_2".into()));
        assert_eq!(validate_name(""), Err(NameError::Length));
        assert_eq!(validate_name(&"x".repeat(21)), Err(NameError::Length));
        assert_eq!(validate_name("a<b>"), Err(NameError::Characters));
        assert_eq!(validate_name("a\u{7}b"), Err(NameError::Characters));
    }

    fn finite() -> impl Strategy<Value = f32> {
        -1.0e6f32..1.0e6
    }

    /// Every valid client message.
    fn client_msg() -> impl Strategy<Value = ClientMsg> {
        prop_oneof![
            ("[a-zA-Z0-9 ._-]{1,20}", proptest::option::of("[a-f0-9]{0,64}"), any::<u32>()).prop_map(
                |(name, token, v)| ClientMsg::Hello(Hello { protocol_version: v, name, token, ticket: None })
            ),
            (any::<u32>(), any::<bool>(), -1i8..=1, any::<bool>())
                .prop_map(|(seq, thrust, turn, fire)| ClientMsg::Input(Input { seq, tick: 0, thrust, turn, fire })),
            (finite(), finite(), 0.0f32..1.0e5, 0.0f32..1.0e5)
                .prop_map(|(x, y, w, h)| ClientMsg::View(ViewRect { center: [x, y], size: [w, h] })),
            any::<u32>().prop_map(|nonce| ClientMsg::Ping { nonce }),
        ]
    }

    /// A string length prefix far beyond the message fails at once, allocating nothing for it:
    /// postcard checks a length against the bytes actually present before it allocates.
    #[test]
    fn huge_length_prefixes_fail_without_allocating() {
        // Hello { protocol_version: 1, name: <length u32::MAX> … }
        let bytes = [0x00, 0x01, 0xff, 0xff, 0xff, 0xff, 0x0f, b'a', b'b'];
        assert!(matches!(decode_client(&bytes), Err(DecodeError::Malformed(_))));
    }

    proptest! {
        /// Every valid client message round-trips through encode and decode unchanged.
        #[test]
        fn every_valid_message_round_trips(msg in client_msg()) {
            prop_assert_eq!(decode_client(&encode_client(&msg)).unwrap(), msg);
        }

        /// Any valid message with bytes flipped, cut or appended decodes to an error or a valid
        /// message, never a panic.
        #[test]
        fn mutated_valid_messages_never_panic(
            msg in client_msg(),
            edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
            cut in any::<Option<prop::sample::Index>>(),
            extra in proptest::collection::vec(any::<u8>(), 0..4),
        ) {
            let mut bytes = encode_client(&msg);
            for (at, byte) in edits {
                let i = at.index(bytes.len());
                bytes[i] = byte;
            }
            if let Some(c) = cut {
                bytes.truncate(c.index(bytes.len() + 1));
            }
            bytes.extend(extra);
            if let Ok(decoded) = decode_client(&bytes) {
                prop_assert!(validate(&decoded).is_ok());
            }
        }

        /// Arbitrary bytes decode to an error or a valid message, never a panic.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..MAX_CLIENT_MESSAGE_BYTES + 8)) {
            if let Ok(msg) = decode_client(&bytes) {
                prop_assert!(validate(&msg).is_ok());
            }
        }

        /// Valid messages with one byte flipped or cut decode to an error or a valid message.
        #[test]
        fn mutated_messages_never_panic(seq in any::<u32>(), at in any::<prop::sample::Index>(), byte in any::<u8>(), cut in any::<bool>()) {
            let mut bytes = encode_client(&ClientMsg::Input(Input { seq, tick: 0, thrust: true, turn: 1, fire: false }));
            let i = at.index(bytes.len());
            if cut { bytes.truncate(i) } else { bytes[i] = byte }
            if let Ok(msg) = decode_client(&bytes) {
                prop_assert!(validate(&msg).is_ok());
            }
        }
    }
}
