//! The leaderboard phase and hotspot, once a second: the top pilots online (AI pilots
//! marked; in a universe, ranked with the other sectors' as the directory lists them), the
//! all-time top
//! (as the score store last committed it), the number of players, and the hotspot (the centre
//! of the grid cell with the most ships and bullets: where the action is). Each of its three
//! parts is re-encoded only when it changed, so sessions send it only then.

use super::frame::Standing;
use super::game::Game;
use super::Surroundings;
use shared::constants::{HOTSPOT_CELL, LEADERBOARD_SIZE};
use shared::protocol::{EntityKind, Leaderboard, LeaderboardEntry};
use std::collections::HashMap;
use std::sync::Arc;

impl Game {
    pub(super) fn update_leaderboard(&mut self, surroundings: &Surroundings) {
        // Players waiting to be resumed are not online: only connected ones rank. AI pilots
        // rank too, marked as such, but only humans count as online.
        let mut top: Vec<LeaderboardEntry> = self
            .players
            .iter()
            .filter(|(_, p)| p.session != 0)
            .map(|(_, p)| LeaderboardEntry {
                name: p.name.clone(),
                points: p.score.points,
                kills: p.score.kills,
                ai: p.is_ai(),
            })
            .collect();
        let online = self.players.iter().filter(|(_, p)| p.is_human_online()).count() as u32;
        rank(&mut top);
        let here = Standing { online, top };
        // In a universe, the board is the universe's: the other sectors' pilots online (as the
        // directory last listed them) ranked with this world's.
        let (online, top) = match self.config.grid {
            Some(_) => {
                let others = &surroundings.elsewhere;
                let mut top: Vec<LeaderboardEntry> = here.top.iter().chain(&others.top).cloned().collect();
                // A pilot crossing may be listed by the sector it left and the one it entered
                // (names are unique among humans; AI pilots of one name fly in every sector).
                top.sort_by(|a, b| a.name.cmp(&b.name).then(b.points.cmp(&a.points)));
                top.dedup_by(|later, first| !later.ai && !first.ai && later.name == first.name);
                rank(&mut top);
                (here.online + others.online, top)
            }
            None => (here.online, here.top.clone()),
        };
        let all_time = surroundings.all_time.as_ref().clone();
        let board = Leaderboard { online, top, hotspot: self.hotspot(), all_time };
        if let Some(next) = self.leaderboard.next(board, here) {
            self.leaderboard = Arc::new(next);
        }
    }
}

/// Best first (points, then kills, then name), at most [`LEADERBOARD_SIZE`].
fn rank(top: &mut Vec<LeaderboardEntry>) {
    top.sort_by(|a, b| b.points.cmp(&a.points).then(b.kills.cmp(&a.kills)).then(a.name.cmp(&b.name)));
    top.truncate(LEADERBOARD_SIZE);
}

impl Game {
    /// The centre of the [`HOTSPOT_CELL`] with the most ships and bullets (ties: the lowest
    /// cell), if any.
    fn hotspot(&self) -> Option<[f32; 2]> {
        let mut cells: HashMap<(i32, i32), u32> = HashMap::new();
        for e in self.entities.iter().filter(|e| matches!(e.kind, EntityKind::Ship | EntityKind::Bullet)) {
            let p = e.state.position();
            *cells.entry(((p.x / HOTSPOT_CELL).floor() as i32, (p.y / HOTSPOT_CELL).floor() as i32)).or_default() += 1;
        }
        cells
            .into_iter()
            .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)))
            .map(|((x, y), _)| [(x as f32 + 0.5) * HOTSPOT_CELL, (y as f32 + 0.5) * HOTSPOT_CELL])
    }
}
