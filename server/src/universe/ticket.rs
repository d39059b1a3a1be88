//! Signing and checking hand-over tickets.
//!
//! A ticket is the claims' bytes ([`shared::ticket::Claims`]) followed by their HMAC-SHA256
//! under the universe's secret, which every sector holds and no client does: a client can
//! carry a ticket but not make or change one. A sector accepts a ticket only if the MAC is
//! right, it is the ticket's target, and the ticket has not expired; that it is used once
//! is checked against the directory ([`super::directory::Directory::claim_ticket`]), since
//! only a store every sector shares can know that.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use shared::protocol::SectorCoord;
use shared::ticket::{decode_claims, encode_claims, Claims};
use std::time::Duration;

/// How long a ticket is valid after it is issued: enough for a page to open a connection to
/// the next sector over a slow link, short enough that a copied ticket is soon worthless.
pub const TICKET_VALIDITY: Duration = Duration::from_secs(10);

/// Shortest universe secret accepted, bytes: the MAC is only as strong as its key.
pub const MIN_SECRET_BYTES: usize = 16;

/// Bytes of the MAC at a ticket's end.
const MAC_BYTES: usize = 32;

/// Domain separation: these keys sign nothing else.
const CONTEXT: &[u8] = b"asteroids hand-over ticket v1\0";

/// Why a ticket was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TicketError {
    /// Not signed with the universe's secret (or not a ticket at all).
    Forged,
    /// Past its expiry.
    Expired,
    /// Meant for another sector.
    WrongSector,
    /// Already used.
    Replayed,
    /// Issued to a connection from another address.
    WrongHolder,
}

impl TicketError {
    /// For the player and the log.
    pub fn message(self) -> &'static str {
        match self {
            TicketError::Forged => "the hand-over ticket is not valid",
            TicketError::Expired => "the hand-over ticket has expired",
            TicketError::WrongSector => "the hand-over ticket is for another sector",
            TicketError::Replayed => "the hand-over ticket was already used",
            TicketError::WrongHolder => "the hand-over ticket was issued to another address",
        }
    }
}

/// A 16-byte digest of `text`, under `purpose` (so that digests for different purposes never
/// match): what a ticket carries instead of a store's fingerprint or a client's address.
pub fn digest(purpose: &str, text: &str) -> [u8; 16] {
    let full = Sha256::new().chain_update(purpose).chain_update([0]).chain_update(text).finalize();
    let mut out = [0; 16];
    out.copy_from_slice(&full[..16]);
    out
}

/// The digest a ticket issued to a connection from `address` carries (see [`Claims::holder`]).
pub fn holder(address: &crate::net::address::AddressKey) -> [u8; 16] {
    digest("asteroids ticket holder", &address.to_string())
}

/// Signs and checks tickets with the universe's secret.
#[derive(Clone)]
pub struct TicketKey {
    secret: Vec<u8>,
}

impl std::fmt::Debug for TicketKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TicketKey(..)")
    }
}

impl TicketKey {
    /// A key from the universe's secret; refused when shorter than [`MIN_SECRET_BYTES`].
    pub fn new(secret: &[u8]) -> Result<TicketKey, String> {
        if secret.len() < MIN_SECRET_BYTES {
            return Err(format!("the universe secret must be at least {MIN_SECRET_BYTES} bytes"));
        }
        Ok(TicketKey { secret: secret.to_vec() })
    }

    fn mac(&self, claims: &[u8]) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.secret).expect("HMAC takes keys of any length");
        mac.update(CONTEXT);
        mac.update(claims);
        mac
    }

    /// The ticket for `claims`.
    pub fn sign(&self, claims: &Claims) -> Vec<u8> {
        let mut bytes = encode_claims(claims);
        let tag = self.mac(&bytes).finalize().into_bytes();
        bytes.extend_from_slice(&tag);
        bytes
    }

    /// The claims of a ticket that this key signed, for sector `me`, not expired at
    /// `now_unix_ms` (single use is checked elsewhere).
    pub fn verify(&self, ticket: &[u8], me: SectorCoord, now_unix_ms: u64) -> Result<Claims, TicketError> {
        let split = ticket.len().checked_sub(MAC_BYTES).ok_or(TicketError::Forged)?;
        let (body, tag) = ticket.split_at(split);
        // Constant-time comparison: the time taken says nothing about how much of a guess was right.
        self.mac(body).verify_slice(tag).map_err(|_| TicketError::Forged)?;
        let claims = decode_claims(body).ok_or(TicketError::Forged)?;
        if claims.to != me {
            return Err(TicketError::WrongSector);
        }
        if now_unix_ms > claims.expires_unix_ms {
            return Err(TicketError::Expired);
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::ticket::Traveller;

    fn claims() -> Claims {
        Claims {
            nonce: [1; 16],
            from: SectorCoord { x: 0, y: 0 },
            to: SectorCoord { x: 1, y: 0 },
            crossed_unix_ms: 1000,
            expires_unix_ms: 11_000,
            store: digest("store", "sqlite:/tmp/a.db"),
            holder: [7; 16],
            traveller: Traveller {
                identity: Some(3),
                name: "Ada".into(),
                state: Default::default(),
                fire: false,
                score: Default::default(),
                total_before: 0,
                life_ticks: 0,
                shield_ticks: 0,
                cooldown_ticks: 0,
                recent_kills: Vec::new(),
            },
        }
    }

    /// A signed ticket opens for its sector until it expires; any changed byte, another key,
    /// another sector or a later time is refused with the reason.
    #[test]
    fn tickets_are_checked() {
        let key = TicketKey::new(b"0123456789abcdef").unwrap();
        let to = SectorCoord { x: 1, y: 0 };
        let ticket = key.sign(&claims());
        assert_eq!(key.verify(&ticket, to, 11_000), Ok(claims()));
        assert_eq!(key.verify(&ticket, to, 11_001), Err(TicketError::Expired));
        assert_eq!(key.verify(&ticket, SectorCoord { x: 0, y: 0 }, 5000), Err(TicketError::WrongSector));
        for i in 0..ticket.len() {
            let mut bad = ticket.clone();
            bad[i] ^= 1;
            assert_eq!(key.verify(&bad, to, 5000), Err(TicketError::Forged), "byte {i}");
        }
        let other = TicketKey::new(b"0123456789abcdeF").unwrap();
        assert_eq!(other.verify(&ticket, to, 5000), Err(TicketError::Forged));
        assert_eq!(key.verify(&ticket[..20], to, 5000), Err(TicketError::Forged));
        assert_eq!(key.verify(&[], to, 5000), Err(TicketError::Forged));
        assert!(TicketKey::new(b"short").is_err());
    }

    /// The largest ticket a pilot can carry fits what a `Hello` may hold: the longest name,
    /// the most kills remembered, every number at its widest.
    #[test]
    fn the_largest_ticket_fits_a_hello() {
        let key = TicketKey::new(b"0123456789abcdef").unwrap();
        let mut big = claims();
        big.crossed_unix_ms = u64::MAX;
        big.expires_unix_ms = u64::MAX;
        let t = &mut big.traveller;
        t.identity = Some(i64::MAX);
        t.name = "W".repeat(*shared::constants::NAME_LEN.end());
        t.score = shared::protocol::Score {
            hits: u32::MAX,
            kills: u32::MAX,
            deaths: u32::MAX,
            points: u32::MAX,
            total_points: u32::MAX,
            best_life_ticks: u32::MAX,
        };
        let window = shared::constants::KILL_REPEAT_WINDOW.get();
        t.recent_kills = vec![(i64::MAX, window); crate::sim::players::MAX_CARRIED_KILLS];
        let ticket = key.sign(&big);
        assert!(ticket.len() <= shared::constants::MAX_TICKET_BYTES, "{} bytes", ticket.len());
    }
}
