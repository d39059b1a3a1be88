//! Where the pilot stands: this session's score and the leaderboard, as the server last said
//! (what the HUD reads). Scores continue across a hand-over: the Welcome of a ship arriving
//! from another sector does not reset them.

use shared::protocol::{Leaderboard, LeaderboardEntry, Score, WorldStatus};

/// The pilot's score and the boards.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Standing {
    /// This session's score.
    pub score: Score,
    /// The latest leaderboard.
    pub leaderboard: Leaderboard,
}

impl Standing {
    /// A `Welcome` with `total_points` all-time: a new session starts from zero, unless the
    /// ship arrived from another sector (`arrival`), whose ticket carried the session on.
    pub(crate) fn welcomed(&mut self, total_points: u32, arrival: bool) {
        if !arrival {
            self.score = Score { total_points, ..Score::default() };
        }
    }

    /// The players online and the hotspot.
    pub(crate) fn world(&mut self, world: WorldStatus) {
        (self.leaderboard.online, self.leaderboard.hotspot) = (world.online, world.hotspot);
    }

    /// The online top.
    pub(crate) fn top(&mut self, top: Vec<LeaderboardEntry>) {
        self.leaderboard.top = top;
    }

    /// The all-time top.
    pub(crate) fn all_time(&mut self, top: Vec<LeaderboardEntry>) {
        self.leaderboard.all_time = top;
    }
}
