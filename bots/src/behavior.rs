//! What the swarm is told to do ([`Behavior`], a command-line choice) and what each bot then
//! is ([`Role`]): a player with a [`Pilot`], or a hostile connection with an [`Abuse`].

use crate::abuse::Abuse;
use crate::pilot::{Fight, Pilot, Voyage, Wander};
use rand::rngs::SmallRng;
use rand::Rng;

/// The swarm's behaviour, as chosen on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Behavior {
    /// Flies around: thrusts, turns at random, never fires.
    Wander,
    /// Hunts: turns towards the nearest ship (or asteroid), closes in, fires when aligned.
    Fight,
    /// Connected and watching, never touching the controls.
    Idle,
    /// A mix per bot: 40 % wander, 40 % fight, 20 % idle.
    Mix,
    /// Travels: heads for an edge with a neighbouring sector and flies on through it, a new
    /// heading in every sector (with `--universe`, the bots cross sectors).
    Voyage,
    /// A mix for a universe: 40 % voyage, 40 % fight, 20 % idle.
    UniverseMix,
    /// Hostile: sends inputs at about ten times the allowed message rate.
    Flood,
    /// Hostile: sends random bytes instead of messages, ten a second.
    Garbage,
    /// Hostile: stops reading after its first snapshot (the server must not buffer for it).
    StopReading,
    /// Hostile: completes the handshake, then neither reads nor writes (a dead peer).
    Silent,
}

/// What one bot is.
#[derive(Clone, Debug)]
pub enum Role {
    /// A player, flown by a pilot through the page's session and controls.
    Player(Pilot),
    /// A connection that breaks the rules on purpose.
    Hostile(Abuse),
}

impl Behavior {
    /// Whether this behaviour breaks the rules on purpose (its bots are expected to be
    /// disconnected by the server).
    pub fn is_hostile(self) -> bool {
        matches!(self, Behavior::Flood | Behavior::Garbage | Behavior::StopReading | Behavior::Silent)
    }

    /// The role of one bot (resolves `Mix` with the bot's random source).
    pub fn role(self, rng: &mut SmallRng) -> Role {
        match self {
            Behavior::Mix => match rng.random_range(0..10) {
                0..=3 => Behavior::Wander,
                4..=7 => Behavior::Fight,
                _ => Behavior::Idle,
            }
            .role(rng),
            Behavior::UniverseMix => match rng.random_range(0..10) {
                0..=3 => Behavior::Voyage,
                4..=7 => Behavior::Fight,
                _ => Behavior::Idle,
            }
            .role(rng),
            Behavior::Voyage => Role::Player(Pilot::Voyage(Voyage::default())),
            Behavior::Wander => Role::Player(Pilot::Wander(Wander::default())),
            Behavior::Fight => Role::Player(Pilot::Fight(Fight::default())),
            Behavior::Idle => Role::Player(Pilot::Idle),
            Behavior::Flood => Role::Hostile(Abuse::Flood { seq: 0 }),
            Behavior::Garbage => Role::Hostile(Abuse::Garbage),
            Behavior::StopReading => Role::Hostile(Abuse::StopReading),
            Behavior::Silent => Role::Hostile(Abuse::Silent),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    /// `mix` makes players only, in roughly its stated shares; hostile behaviours make
    /// hostile roles.
    #[test]
    fn mix_makes_players_in_their_shares() {
        let mut rng = SmallRng::seed_from_u64(2);
        let (mut wander, mut fight, mut idle) = (0, 0, 0);
        for _ in 0..1000 {
            match Behavior::Mix.role(&mut rng) {
                Role::Player(Pilot::Wander(_)) => wander += 1,
                Role::Player(Pilot::Fight(_)) => fight += 1,
                Role::Player(Pilot::Idle) => idle += 1,
                Role::Player(Pilot::Voyage(_)) => panic!("mix made a voyager"),
                Role::Hostile(a) => panic!("mix made a hostile bot: {a:?}"),
            }
        }
        assert!((350..450).contains(&wander) && (350..450).contains(&fight) && (150..250).contains(&idle));
        for b in [Behavior::Flood, Behavior::Garbage, Behavior::StopReading, Behavior::Silent] {
            assert!(b.is_hostile() && matches!(b.role(&mut rng), Role::Hostile(_)), "{b:?}");
        }
    }
}
