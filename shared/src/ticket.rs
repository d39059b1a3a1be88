//! What a hand-over ticket says: the ship, the pilot and the score that leave one sector of a
//! universe for its neighbour (see [`crate::protocol::ServerMsg::HandOver`]).
//!
//! The client carries a ticket without reading it; the sector that issues it signs these
//! claims and the one that redeems it checks the signature (the server does both, with the
//! universe's secret). They live here because every serialized type does: postcard is not
//! self-describing, so one declaration is the format for every sector, whatever its build.

use crate::protocol::{Score, SectorCoord};
use crate::quant::QState;
use serde::{Deserialize, Serialize};

/// Who crosses, and everything the next sector needs to continue exactly.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Traveller {
    /// The pilot's persistent identity (`None`: a guest, whose score is not stored).
    pub identity: Option<i64>,
    /// Its display name.
    pub name: String,
    /// The ship's state at the end of the tick it crossed, already in the next sector's
    /// coordinates (moved by one arena side across the edge), controls included.
    pub state: QState,
    /// Whether the trigger was held (the controls' other half is in `state.ctrl`).
    pub fire: bool,
    /// This session's figures, carried on.
    pub score: Score,
    /// All-time points before this session.
    pub total_before: u32,
    /// How long the ship has flown, ticks (for the longest life).
    pub life_ticks: u32,
    /// Ticks of spawn protection left.
    pub shield_ticks: u32,
    /// Ticks until the gun may fire again.
    pub cooldown_ticks: u32,
    /// The identities the pilot scored a kill of in the last five minutes, and how many ticks
    /// ago (newest first, a bounded few): a kill of the same victim again scores nothing in
    /// the next sector either.
    pub recent_kills: Vec<(i64, u32)>,
}

/// A ticket's signed content.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Random, unique per ticket: the key under which its single use is recorded.
    pub nonce: [u8; 16],
    /// The sector that issued it.
    pub from: SectorCoord,
    /// The only sector that accepts it.
    pub to: SectorCoord,
    /// Unix milliseconds at the end of the tick the ship crossed: the next sector moves the
    /// ship on by the ticks since, so it continues where it would be had it never stopped.
    pub crossed_unix_ms: u64,
    /// Unix milliseconds after which it is refused.
    pub expires_unix_ms: u64,
    /// Which store holds the traveller's identity (the issuing sector's): a sector with
    /// another store cannot know that identity, and takes the pilot in as a guest.
    pub store: String,
    /// The ship and its pilot.
    pub traveller: Traveller,
}

/// The claims' bytes (what the issuer signs).
pub fn encode_claims(claims: &Claims) -> Vec<u8> {
    postcard::to_allocvec(claims).expect("ticket claims always serialize")
}

/// The claims in `bytes`, which must hold nothing else.
pub fn decode_claims(bytes: &[u8]) -> Option<Claims> {
    match postcard::take_from_bytes::<Claims>(bytes) {
        Ok((claims, [])) => Some(claims),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Claims survive the round trip; a byte more or less is refused.
    #[test]
    fn claims_round_trip_exactly() {
        let claims = Claims {
            nonce: [7; 16],
            from: SectorCoord { x: 0, y: 1 },
            to: SectorCoord { x: 1, y: 1 },
            crossed_unix_ms: 1_800_000_000_000,
            expires_unix_ms: 1_800_000_010_000,
            store: "postgres://db.example:5432/asteroids".into(),
            traveller: Traveller {
                identity: Some(42),
                name: "Ada".into(),
                state: QState {
                    pos: [-640_000, 1200],
                    vel: [51_200, -3],
                    rot: [16384, 0],
                    angvel: 0,
                    ctrl: Default::default(),
                },
                fire: true,
                score: Score { hits: 3, points: 4, total_points: 90, ..Score::default() },
                total_before: 86,
                life_ticks: 900,
                shield_ticks: 0,
                cooldown_ticks: 5,
                recent_kills: vec![(42, 600), (7, 17_999)],
            },
        };
        let bytes = encode_claims(&claims);
        assert_eq!(decode_claims(&bytes), Some(claims));
        assert_eq!(decode_claims(&bytes[..bytes.len() - 1]), None);
        assert_eq!(decode_claims(&[bytes.as_slice(), &[0]].concat()), None);
    }
}
