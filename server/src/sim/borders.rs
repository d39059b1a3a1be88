//! The borders phase: ships beyond an open edge of a sector leave for the neighbour behind it.
//!
//! Only in a sector of a universe (the game has a [`shared::grid::Grid`]). A ship whose motion
//! took it beyond an edge with a neighbour (the edges `shared::kinematics::OpenEdges` leaves
//! open, so clients predicted it through) is handed over when its pilot is online and the
//! neighbour is alive now ([`Surroundings::live_edges`]): the player leaves this world, ship
//! and all, and its connection is dismissed with the ship's exact state in the neighbour's
//! coordinates, its identity and its score (a `Departure`, see `handover.rs`); the session
//! turns that into a signed ticket. Its score changes were already handed to the store as they
//! happened, so nothing waits to be carried but this session's figures.
//!
//! The pilot's bullets still in flight leave this world with it (a hit scored to a player who
//! is gone would be scored to nobody).
//!
//! Any other ship beyond an open edge (an AI pilot's, a detached pilot's waiting to be resumed,
//! or any ship while the neighbour is down) is turned back, as a closed edge would have done,
//! and its epoch set: its clients predicted it through, so they are sent the correction.

use super::game::Game;
use super::Surroundings;
use shared::protocol::EntityKind;

/// Grid steps (1/128 unit) a turned-back ship is moved inside the edge it crossed: a ship
/// left beyond the edge would be turned back again next tick if its pilot kept thrusting
/// outwards.
const TURN_BACK_INSET: i32 = 1;

impl Game {
    pub(super) fn borders(&mut self, surroundings: &Surroundings) {
        let Some(grid) = self.config.grid else { return };
        let live = surroundings.live_edges;
        let [hx, hy] = grid.arena_half_size.map(|h| (h * shared::quant::POS_SCALE) as i32);
        let mut leaving = Vec::new();
        let mut turned = Vec::new();
        for e in self.entities.iter().filter(|e| e.kind == EntityKind::Ship) {
            let p = e.state.pos;
            if p[0].abs() <= hx && p[1].abs() <= hy {
                continue;
            }
            let Some((to, state)) = grid.crossing(&e.state) else { continue };
            let edge_live = match (to.x.cmp(&grid.sector.x), to.y.cmp(&grid.sector.y)) {
                (std::cmp::Ordering::Greater, _) => live.right,
                (std::cmp::Ordering::Less, _) => live.left,
                (_, std::cmp::Ordering::Greater) => live.top,
                _ => live.bottom,
            };
            let owner = e.owner.and_then(|id| self.players.get(id).map(|p| (id, p)));
            match owner {
                Some((id, p)) if edge_live && p.is_human_online() && p.dismiss.is_some() => {
                    leaving.push((id, to, state));
                }
                _ => turned.push(e.id),
            }
        }
        for id in turned {
            if let Some(e) = self.entities.get_mut(id) {
                for axis in 0..2 {
                    let half = [hx, hy][axis];
                    if e.state.pos[axis].abs() > half {
                        let sign = e.state.pos[axis].signum();
                        e.state.pos[axis] = sign * (half - TURN_BACK_INSET);
                        if e.state.vel[axis].signum() == sign {
                            e.state.vel[axis] = -e.state.vel[axis];
                        }
                    }
                }
                e.epoch = self.tick;
                self.counters.edge_turnbacks += 1;
            }
        }
        for (id, to, state) in leaving {
            self.depart(id, to, state, surroundings.unix_ms);
        }
    }
}
