//! Hostile connections: bots that break the rules on purpose, to prove the server turns them
//! away (with the documented close codes) without slowing anyone else. Each completes the
//! handshake with the page's session like any player, then misbehaves in one way. What they
//! send instead of playing is made here, by hand, so that the page's code never learns to
//! misbehave.

use rand::rngs::SmallRng;
use rand::Rng;
use shared::codec::encode_client;
use shared::protocol::{ClientMsg, Input};
use std::time::Duration;

/// How often a flooder sends: every 0.8 ms, 1,250 messages a second, about ten times the
/// server's allowed message rate.
pub const FLOOD_INTERVAL: Duration = Duration::from_micros(800);
/// How often the other hostile bots act (as often as a player thinks).
pub const ABUSE_INTERVAL: Duration = Duration::from_millis(100);
/// Longest junk message a garbage bot sends, bytes (well under the server's size limit: the
/// point is undecodable messages, not large ones).
pub const MAX_GARBAGE_LEN: usize = 63;

/// One way to misbehave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Abuse {
    /// Valid inputs at about ten times the allowed message rate.
    Flood {
        /// The last input's sequence number.
        seq: u32,
    },
    /// Random bytes instead of messages, ten a second.
    Garbage,
    /// Asks for a view like an idle player, then stops reading after its first snapshot: the
    /// server must not buffer for it.
    StopReading,
    /// Completes the handshake, then neither reads nor writes: a dead peer.
    Silent,
}

/// What a hostile bot does at one of its turns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Misdeed {
    /// Send these bytes as a binary message.
    Send(Vec<u8>),
    /// Behave like an idle player this turn (view, pings).
    Behave,
    /// Nothing.
    Nothing,
}

impl Abuse {
    /// Whether it still reads its socket (and answers for its pings), given whether it has
    /// seen a snapshot.
    pub fn reads(&self, seen_snapshot: bool) -> bool {
        match self {
            Abuse::Flood { .. } | Abuse::Garbage => true,
            Abuse::StopReading => !seen_snapshot,
            Abuse::Silent => false,
        }
    }

    /// How often it acts, if ever.
    pub fn interval(&self) -> Option<Duration> {
        match self {
            Abuse::Flood { .. } => Some(FLOOD_INTERVAL),
            Abuse::Garbage | Abuse::StopReading => Some(ABUSE_INTERVAL),
            Abuse::Silent => None,
        }
    }

    /// What it does now.
    pub fn act(&mut self, seen_snapshot: bool, rng: &mut SmallRng) -> Misdeed {
        match self {
            Abuse::Flood { seq } => {
                *seq += 1;
                // Alternating thrust: every message is a real change of controls.
                let input = Input { seq: *seq, tick: 0, thrust: seq.is_multiple_of(2), turn: 0, fire: false };
                Misdeed::Send(encode_client(&ClientMsg::Input(input)))
            }
            Abuse::Garbage => {
                let len = rng.random_range(1..=MAX_GARBAGE_LEN);
                Misdeed::Send((0..len).map(|_| rng.random()).collect())
            }
            Abuse::StopReading if !seen_snapshot => Misdeed::Behave,
            Abuse::StopReading | Abuse::Silent => Misdeed::Nothing,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use shared::codec::decode_client;

    /// A flooder sends valid inputs that change every time; garbage is mostly not a message
    /// at all; the stop-reader behaves until its first snapshot, then stops reading; a silent
    /// peer never reads or acts.
    #[test]
    fn each_abuse_misbehaves_its_own_way() {
        let mut rng = SmallRng::seed_from_u64(9);
        let mut flood = Abuse::Flood { seq: 0 };
        let inputs: Vec<_> = (0..4)
            .map(|_| match flood.act(true, &mut rng) {
                Misdeed::Send(bytes) => decode_client(&bytes).expect("a flooder's inputs are valid"),
                other => panic!("{other:?}"),
            })
            .collect();
        assert!(
            matches!(&inputs[..2], [ClientMsg::Input(a), ClientMsg::Input(b)] if a.thrust != b.thrust && b.seq == a.seq + 1)
        );
        assert_eq!(flood.interval(), Some(FLOOD_INTERVAL));

        let junk: Vec<_> = (0..100)
            .map(|_| match Abuse::Garbage.act(true, &mut rng) {
                Misdeed::Send(bytes) => bytes,
                other => panic!("{other:?}"),
            })
            .collect();
        assert!(junk.iter().all(|b| (1..=MAX_GARBAGE_LEN).contains(&b.len())));
        assert!(junk.iter().filter(|b| decode_client(b).is_err()).count() > 80, "junk is mostly undecodable");

        let mut stop = Abuse::StopReading;
        assert_eq!((stop.reads(false), stop.act(false, &mut rng)), (true, Misdeed::Behave));
        assert_eq!((stop.reads(true), stop.act(true, &mut rng)), (false, Misdeed::Nothing));
        assert!(!Abuse::Silent.reads(false) && Abuse::Silent.interval().is_none());
    }
}
