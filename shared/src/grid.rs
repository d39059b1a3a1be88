//! A sector's place in its universe's grid: which edges lead somewhere, where a ship that
//! crosses one lands, and where the sector lies in universe coordinates.
//!
//! Every sector has the same square-or-not arena, centred on its local origin; sector
//! `(x, y)`'s centre sits at universe coordinates `(x · width, y · height)`. A ship beyond the
//! right edge of `(x, y)` at local `(px, py)` is at local `(px − width, py)` in `(x + 1, y)`.
//! The mapping is done on the wire grid (integers), and an arena side is a whole number of
//! grid steps, so the ship's state in the next sector is exact: nothing is rounded.

use crate::kinematics::OpenEdges;
use crate::protocol::{Placement, SectorCoord};
use crate::quant::{QState, POS_SCALE};

/// Largest number of columns or rows a universe may have.
pub const MAX_UNIVERSE_SIDE: u16 = 256;

/// This sector in its universe.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Grid {
    /// The universe's columns and rows.
    pub size: [u16; 2],
    /// This sector.
    pub sector: SectorCoord,
    /// Half the arena's width and height (every sector's).
    pub arena_half_size: [f32; 2],
}

impl Grid {
    /// The grid of a `size` universe seen from `sector`; the error says what is wrong.
    pub fn new(size: [u16; 2], sector: SectorCoord, arena_half_size: [f32; 2]) -> Result<Grid, String> {
        if size[0] == 0 || size[1] == 0 || size[0] > MAX_UNIVERSE_SIDE || size[1] > MAX_UNIVERSE_SIDE {
            return Err(format!(
                "a universe has 1 to {MAX_UNIVERSE_SIDE} columns and rows, not {}×{}",
                size[0], size[1]
            ));
        }
        if sector.x >= size[0] || sector.y >= size[1] {
            return Err(format!(
                "sector {},{} is outside a {}×{} universe (columns and rows count from 0)",
                sector.x, sector.y, size[0], size[1]
            ));
        }
        for half in arena_half_size {
            let steps = half * 2.0 * POS_SCALE;
            if steps.fract() != 0.0 || steps >= (1u32 << 24) as f32 {
                return Err(format!("an arena side of {} is not a whole number of position steps", half * 2.0));
            }
        }
        Ok(Grid { size, sector, arena_half_size })
    }

    /// The neighbour `dx` columns and `dy` rows away, if the universe has it.
    pub fn neighbour(&self, dx: i32, dy: i32) -> Option<SectorCoord> {
        let x = i32::from(self.sector.x) + dx;
        let y = i32::from(self.sector.y) + dy;
        let inside = (0..i32::from(self.size[0])).contains(&x) && (0..i32::from(self.size[1])).contains(&y);
        inside.then_some(SectorCoord { x: x as u16, y: y as u16 })
    }

    /// The edges with a neighbour behind them: ships fly through those.
    pub fn open_edges(&self) -> OpenEdges {
        OpenEdges {
            left: self.neighbour(-1, 0).is_some(),
            right: self.neighbour(1, 0).is_some(),
            bottom: self.neighbour(0, -1).is_some(),
            top: self.neighbour(0, 1).is_some(),
        }
    }

    /// Universe coordinates of this sector's local origin.
    pub fn offset(&self) -> [f32; 2] {
        let [hx, hy] = self.arena_half_size;
        [f32::from(self.sector.x) * hx * 2.0, f32::from(self.sector.y) * hy * 2.0]
    }

    /// What a page needs to know of it.
    pub fn placement(&self) -> Placement {
        Placement { sector: self.sector, universe_size: self.size, offset: self.offset() }
    }

    /// Where a ship in `state` goes, if it is beyond an open edge: the neighbour, and the same
    /// state in the neighbour's coordinates (moved by one arena side, exactly). Past a corner,
    /// the edge it is further beyond decides.
    pub fn crossing(&self, state: &QState) -> Option<(SectorCoord, QState)> {
        let side = self.arena_half_size.map(|h| (h * 2.0 * POS_SCALE) as i32);
        let half = side.map(|s| s / 2);
        // How far beyond each edge (in grid steps), and which way it leads.
        let beyond = [
            (state.pos[0] - half[0], 1, 0),
            (-half[0] - state.pos[0], -1, 0),
            (state.pos[1] - half[1], 0, 1),
            (-half[1] - state.pos[1], 0, -1),
        ];
        let (_, dx, dy) = beyond
            .into_iter()
            .filter(|&(by, dx, dy)| by > 0 && self.neighbour(dx, dy).is_some())
            .max_by_key(|&(by, _, _)| by)?;
        let to = self.neighbour(dx, dy)?;
        let mut moved = *state;
        moved.pos[0] -= dx * side[0];
        moved.pos[1] -= dy * side[1];
        Some((to, moved))
    }
}

/// Parses `X,Y` (a sector, or a universe's columns and rows).
pub fn parse_pair(text: &str) -> Result<[u16; 2], String> {
    let (a, b) = text.split_once(',').ok_or_else(|| format!("{text:?}: expected two numbers as X,Y"))?;
    let num = |s: &str| s.trim().parse::<u16>().map_err(|_| format!("{text:?}: {s:?} is not a number from 0 to 65535"));
    Ok([num(a)?, num(b)?])
}

/// Parses a sector's `X,Y`.
pub fn parse_sector(text: &str) -> Result<SectorCoord, String> {
    parse_pair(text).map(|[x, y]| SectorCoord { x, y })
}

/// `X,Y`, as the directory and the flags write a sector.
pub fn sector_name(sector: SectorCoord) -> String {
    format!("{},{}", sector.x, sector.y)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::Ctrl;

    fn at(x: u16, y: u16) -> Grid {
        Grid::new([3, 2], SectorCoord { x, y }, [1000.0, 500.0]).unwrap()
    }

    fn ship(pos: [i32; 2]) -> QState {
        QState { pos, vel: [100, 0], rot: [16384, 0], angvel: 0, ctrl: Ctrl(Ctrl::THRUST) }
    }

    /// Corners and sides open exactly the edges that have a neighbour.
    #[test]
    fn edges_open_where_a_neighbour_is() {
        let corner = at(0, 0).open_edges();
        assert_eq!((corner.left, corner.right, corner.bottom, corner.top), (false, true, false, true));
        let middle = at(1, 1).open_edges();
        assert_eq!((middle.left, middle.right, middle.bottom, middle.top), (true, true, true, false));
        assert_eq!(Grid::new([1, 1], SectorCoord::default(), [10.0, 10.0]).unwrap().open_edges(), OpenEdges::default());
    }

    /// A ship beyond an open edge lands one arena side over, in the neighbour, everything
    /// else unchanged; one beyond a closed edge, or inside, goes nowhere.
    #[test]
    fn crossing_moves_the_state_by_one_side_exactly() {
        let g = at(1, 0);
        let right = ship([1000 * 128 + 5, 77]);
        let (to, moved) = g.crossing(&right).unwrap();
        assert_eq!(to, SectorCoord { x: 2, y: 0 });
        assert_eq!(moved, QState { pos: [-1000 * 128 + 5, 77], ..right });
        let (to, moved) = g.crossing(&ship([-1000 * 128 - 1, 0])).unwrap();
        assert_eq!((to, moved.pos), (SectorCoord { x: 0, y: 0 }, [1000 * 128 - 1, 0]));
        let (to, moved) = g.crossing(&ship([0, 500 * 128 + 3])).unwrap();
        assert_eq!((to, moved.pos), (SectorCoord { x: 1, y: 1 }, [0, -500 * 128 + 3]));
        assert_eq!(g.crossing(&ship([0, -500 * 128 - 3])), None, "no row below");
        assert_eq!(g.crossing(&ship([1000 * 128, 0])), None, "on the edge is inside");
        // Past a corner, the edge it is further beyond.
        let (to, _) = g.crossing(&ship([1000 * 128 + 9, 500 * 128 + 2])).unwrap();
        assert_eq!(to, SectorCoord { x: 2, y: 0 });
    }

    /// Bad sizes and sectors are refused with a reason.
    #[test]
    fn bad_grids_are_refused() {
        assert!(Grid::new([0, 2], SectorCoord::default(), [10.0, 10.0]).is_err());
        assert!(Grid::new([2, 2], SectorCoord { x: 2, y: 0 }, [10.0, 10.0]).is_err());
        assert!(Grid::new([2, 2], SectorCoord::default(), [10.001, 10.0]).is_err());
        assert_eq!(parse_pair("3, 4"), Ok([3, 4]));
        assert!(parse_pair("3").is_err() && parse_pair("-1,2").is_err());
        assert_eq!(at(2, 1).offset(), [4000.0, 1000.0]);
    }
}
