//! The damping-exact motion model: what rapier2d 0.36.1 does to a body with no contacts in one
//! tick, written once for the server's bookkeeping and every client's prediction.
//!
//! One tick of rapier (see `staged_island_solver/worker.rs` in rapier2d 0.36.1), for a body
//! whose centre of mass is at its origin:
//!
//! 1. `substeps` times, with `h = dt / substeps`: the external force is added to the velocity
//!    (`v += (F · m⁻¹) · h`), the speed is capped (linear: [`Kinematics::max_linear_speed`];
//!    angular: `(π/4) / dt`), the rotation advances by the linearized update
//!    `(c, s) ← (c − ωh·s, s + ωh·c)` and is renormalized, and the position advances
//!    `x += v·h` (symplectic Euler);
//! 2. once, with the full dt: `v ← v · 1/(1 + dt·c_lin)`, `ω ← ω · 1/(1 + dt·c_ang)`.
//!
//! The game then applies its own rules ([`Kinematics::post_step`]: a ship's speed limit, the
//! arena's bouncing edges) and snaps the state to the wire grid ([`crate::quant`]). The server
//! moves every entity with this model (rapier detects its contacts), and every client predicts
//! with it. Only `+ − × ÷ sqrt` are used, which IEEE 754 makes exact everywhere, so native and
//! wasm clients agree with the server bit for bit. The integration test
//! `kinematics_vs_rapier` holds this model to real rapier bodies.
//!
//! [`closed_form`] gives the same motion for whole ticks as a formula; it uses `powi` and is for
//! visuals and documentation only, never for state.

use crate::constants::{BULLET_RADIUS, BULLET_SPEED, DT_SECS, MAX_LINEAR_SPEED, MUZZLE_GAP, SHIP_RADIUS, SUBSTEPS};
use crate::entity::EntityKind;
use crate::quant::{Body, Ctrl, QState};
use glam::Vec2;
use serde::{Deserialize, Serialize};

/// Rapier's per-step rotation cap, radians (`MAX_ROTATION` in its solver).
const MAX_ROTATION_PER_STEP: f32 = core::f64::consts::FRAC_PI_4 as f32;

/// Damping coefficients of one kind of body, per second (rapier's `linear_damping` and
/// `angular_damping`).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Damping {
    /// Linear damping coefficient `c_lin`.
    pub linear: f32,
    /// Angular damping coefficient `c_ang`.
    pub angular: f32,
}

/// Everything a client needs to predict motion exactly as the server simulates it. Sent in
/// `Welcome`, so a client cannot drift from the server it talks to.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Kinematics {
    /// Tick length, seconds.
    pub dt: f32,
    /// Solver substeps per tick.
    pub substeps: u32,
    /// Rapier's linear speed cap, units per second.
    pub max_linear_speed: f32,
    /// Half the arena's width and height; bodies beyond an edge and moving outwards bounce.
    pub arena_half_size: [f32; 2],
    /// Ship damping.
    pub ship: Damping,
    /// Asteroid damping (all sizes).
    pub asteroid: Damping,
    /// Bullet damping.
    pub bullet: Damping,
    /// A ship's acceleration while thrusting, units per second² (ships have unit mass, so this
    /// is also the force rapier is given).
    pub ship_thrust: f32,
    /// A ship's turn rate while turning, radians per second.
    pub ship_turn_rate: f32,
    /// A ship's top speed, units per second, enforced by the server after each step.
    pub ship_max_speed: f32,
    /// The arena's edges that ships fly through (into a neighbouring sector of a universe);
    /// every other edge, and every edge for asteroids and bullets, bounces.
    pub open_edges: OpenEdges,
}

/// Which of the arena's edges ships cross instead of bouncing: those with a neighbouring
/// sector behind them. A lone server has none.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenEdges {
    /// The edge at −x.
    pub left: bool,
    /// The edge at +x.
    pub right: bool,
    /// The edge at −y.
    pub bottom: bool,
    /// The edge at +y.
    pub top: bool,
}

impl Kinematics {
    /// The game's tuning for an arena of the given half size.
    pub fn new(arena_half_size: [f32; 2]) -> Self {
        Kinematics {
            dt: DT_SECS,
            substeps: SUBSTEPS,
            max_linear_speed: MAX_LINEAR_SPEED,
            arena_half_size,
            ship: Damping { linear: 0.6, angular: 0.0 },
            asteroid: Damping { linear: 0.0, angular: 0.0 },
            bullet: Damping { linear: 0.0, angular: 0.0 },
            ship_thrust: 420.0,
            ship_turn_rate: 4.0,
            ship_max_speed: 420.0,
            open_edges: OpenEdges::default(),
        }
    }

    /// The damping of a kind of entity.
    pub fn damping(&self, kind: EntityKind) -> Damping {
        match kind {
            EntityKind::Ship => self.ship,
            EntityKind::Bullet => self.bullet,
            EntityKind::AsteroidLarge | EntityKind::AsteroidMedium | EntityKind::AsteroidSmall => self.asteroid,
        }
    }

    /// What a ship's controls do for the coming tick: the force to apply (world frame, along
    /// the nose given by the orientation at the start of the tick) and the angular velocity to
    /// set. Other kinds get no force and keep their spin. The server calls this to drive
    /// rapier; [`Kinematics::step`] calls it to predict.
    pub fn intent(&self, kind: EntityKind, ctrl: Ctrl, body: &Body) -> (Vec2, Option<f32>) {
        if kind != EntityKind::Ship {
            return (Vec2::ZERO, None);
        }
        let force = if ctrl.thrust() { body.rot * self.ship_thrust } else { Vec2::ZERO };
        let angvel = match ctrl.turn() {
            1 => self.ship_turn_rate,
            -1 => -self.ship_turn_rate,
            _ => 0.0,
        };
        (force, Some(angvel))
    }

    /// One rapier step of a free body (no contacts), mirrored operation for operation.
    pub fn step(&self, body: &mut Body, kind: EntityKind, ctrl: Ctrl) {
        let (force, angvel) = self.intent(kind, ctrl, body);
        if let Some(w) = angvel {
            body.angvel = w;
        }
        let h = self.dt / self.substeps as f32;
        // Rapier: `force * effective_inv_mass * h`; every replicated body has unit inverse mass
        // along both axes where a force is applied (ships), and zero force otherwise.
        let incr = force * Vec2::ONE * h;
        let inv_dt = if self.dt == 0.0 { 0.0 } else { 1.0 / self.dt };
        let max_ang = MAX_ROTATION_PER_STEP * inv_dt;
        // With no force the velocity cannot change between substeps, so once it is under the
        // cap it stays there: the cap's square root is taken once instead of every substep
        // (the result is the same, bit for bit; most bodies are force-free asteroids).
        let mut settled = false;
        for _ in 0..self.substeps {
            body.vel += incr;
            if !settled {
                let n = body.vel.length();
                if n > self.max_linear_speed {
                    body.vel *= self.max_linear_speed / n;
                } else {
                    settled = incr == Vec2::ZERO;
                }
            }
            if body.angvel.abs() > max_ang {
                body.angvel = body.angvel.signum() * max_ang;
            }
            let dang = body.angvel * h;
            let (c, s) = (body.rot.x, body.rot.y);
            let (nc, ns) = (c - dang * s, s + dang * c);
            let len = (nc * nc + ns * ns).sqrt();
            body.rot = if len > f32::EPSILON { Vec2::new(nc / len, ns / len) } else { Vec2::X };
            body.pos += body.vel * h;
        }
        let damping = self.damping(kind);
        body.vel *= 1.0 / (1.0 + self.dt * damping.linear);
        body.angvel *= 1.0 / (1.0 + self.dt * damping.angular);
    }

    /// The game's rules after the physics step, applied by the server to rapier's result and by
    /// clients to their prediction: a ship's top speed, and the arena's edges (a body beyond an
    /// edge and still moving outwards has that velocity component reversed, unless it is a
    /// ship and the edge is open: see [`Kinematics::open_edges`]).
    pub fn post_step(&self, body: &mut Body, kind: EntityKind) {
        let open = if kind == EntityKind::Ship {
            let n = body.vel.length();
            if n > self.ship_max_speed {
                body.vel *= self.ship_max_speed / n;
            }
            self.open_edges
        } else {
            OpenEdges::default()
        };
        let [hx, hy] = self.arena_half_size;
        if (body.pos.x > hx && body.vel.x > 0.0 && !open.right) || (body.pos.x < -hx && body.vel.x < 0.0 && !open.left)
        {
            body.vel.x = -body.vel.x;
        }
        if (body.pos.y > hy && body.vel.y > 0.0 && !open.top) || (body.pos.y < -hy && body.vel.y < 0.0 && !open.bottom)
        {
            body.vel.y = -body.vel.y;
        }
    }

    /// One whole tick from a grid state to the next grid state: step, rules, quantize. This is
    /// what the server's world does to a body that nothing touched.
    pub fn tick(&self, state: &QState, kind: EntityKind) -> QState {
        let mut body = state.body();
        self.step(&mut body, kind, state.ctrl);
        self.post_step(&mut body, kind);
        QState::from_body(&body, state.ctrl)
    }

    /// `ticks` whole ticks (see [`Kinematics::tick`]).
    pub fn advance(&self, state: &QState, kind: EntityKind, ticks: u32) -> QState {
        let mut s = *state;
        for _ in 0..ticks {
            s = self.tick(&s, kind);
        }
        s
    }

    /// The state `frac` (in `[0, 1]`) of the way through the tick after `state`, for
    /// rendering between ticks: the next tick is predicted exactly and the pose is
    /// interpolated towards it (see [`lerp_pose`]). Returns (position, (cos, sin)).
    pub fn render_pose(&self, state: &QState, kind: EntityKind, frac: f32) -> (Vec2, Vec2) {
        lerp_pose(state, &self.tick(state, kind), frac)
    }

    /// The bullet a ship fires from `ship` (its state at the end of the tick before the shot):
    /// from the muzzle, at [`BULLET_SPEED`] along the nose plus the ship's own velocity. The
    /// server spawns exactly this, and the bullet then moves with the rest of the tick; a
    /// client predicting its own shots calls the same function.
    pub fn shot(&self, ship: &Body) -> Body {
        let nose = ship.rot.normalize_or(Vec2::X);
        let pos = ship.pos + nose * (SHIP_RADIUS + BULLET_RADIUS + MUZZLE_GAP);
        Body { pos, vel: ship.vel + nose * BULLET_SPEED, rot: nose, angvel: 0.0 }
    }
}

/// The pose `frac` (in `[0, 1]`) of the way from state `a` to state `b` one tick later, for
/// rendering between ticks: positions linearly, the rotation pair linearly then renormalized.
/// Returns (position, (cos, sin)).
pub fn lerp_pose(a: &QState, b: &QState, frac: f32) -> (Vec2, Vec2) {
    let (a, b) = (a.body(), b.body());
    let frac = frac.clamp(0.0, 1.0);
    let pos = a.pos + (b.pos - a.pos) * frac;
    let rot = a.rot + (b.rot - a.rot) * frac;
    let len = rot.length();
    (pos, if len > f32::EPSILON { rot / len } else { Vec2::X })
}

/// The closed form of damped coasting over `n` whole ticks, with `r = 1/(1 + dt·c)`:
/// `v_n = v_0·rⁿ`, `p_n = p_0 + v_0·dt·r·(1 − rⁿ)/(1 − r)` (damping applies at the end of each
/// tick, so the first tick moves by the undamped `v_0·dt`: the sum is `v_0·dt·Σ_{k<n} rᵏ`).
/// For visuals and documentation only: `powi` is not exact across platforms, and quantization
/// is ignored. Returns (position, velocity).
pub fn closed_form(p0: Vec2, v0: Vec2, dt: f32, damping: f32, n: i32) -> (Vec2, Vec2) {
    let r = 1.0 / (1.0 + dt * damping);
    let rn = r.powi(n);
    let sum = if damping == 0.0 { n as f32 } else { (1.0 - rn) / (1.0 - r) };
    (p0 + v0 * dt * sum, v0 * rn)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k() -> Kinematics {
        Kinematics::new([5000.0, 5000.0])
    }

    /// The substep loop without quantization agrees with the closed form up to rounding.
    #[test]
    fn loop_matches_closed_form() {
        for damping in [0.0f32, 0.3, 0.6, 2.0] {
            let mut kin = k();
            kin.asteroid.linear = damping;
            let mut body =
                Body { pos: Vec2::new(10.0, -20.0), vel: Vec2::new(150.0, -75.0), rot: Vec2::X, angvel: 0.0 };
            for _ in 0..600 {
                kin.step(&mut body, EntityKind::AsteroidLarge, Ctrl(0));
            }
            let (p, v) = closed_form(Vec2::new(10.0, -20.0), Vec2::new(150.0, -75.0), kin.dt, damping, 600);
            assert!(
                (p - body.pos).length() < 0.05 * (1.0 + p.length() * 1e-4),
                "damping {damping}: {p} vs {}",
                body.pos
            );
            assert!((v - body.vel).length() < 1e-3, "damping {damping}: {v} vs {}", body.vel);
        }
    }

    /// A damped ship that stops thrusting comes to rest on the grid, and stays there.
    #[test]
    fn damped_ship_comes_to_rest() {
        let kin = k();
        let mut q = QState::from_body(
            &Body { pos: Vec2::ZERO, vel: Vec2::new(300.0, 0.0), rot: Vec2::X, angvel: 0.0 },
            Ctrl(0),
        );
        q = kin.advance(&q, EntityKind::Ship, 60 * 60);
        assert_eq!(q.vel, [0, 0]);
        assert_eq!(kin.tick(&q, EntityKind::Ship), q);
    }

    /// Thrust accelerates along the nose and the top speed holds.
    #[test]
    fn thrust_respects_top_speed() {
        let kin = k();
        let mut q = QState::from_body(
            &Body { pos: Vec2::ZERO, vel: Vec2::ZERO, rot: Vec2::Y, angvel: 0.0 },
            Ctrl(Ctrl::THRUST),
        );
        q = kin.advance(&q, EntityKind::Ship, 600);
        let b = q.body();
        assert!(b.vel.y > 0.9 * kin.ship_max_speed && b.vel.length() <= kin.ship_max_speed + 1e-3, "{b:?}");
        assert!(b.vel.x.abs() < 1e-3);
    }

    /// An open edge lets ships through and still turns asteroids and bullets back; the
    /// closed edges still turn ships back.
    #[test]
    fn open_edges_let_only_ships_through() {
        let mut kin = Kinematics::new([100.0, 100.0]);
        kin.open_edges = OpenEdges { right: true, ..OpenEdges::default() };
        let start = |vel: Vec2| {
            QState::from_body(&Body { pos: Vec2::new(90.0, 90.0), vel, rot: Vec2::X, angvel: 0.0 }, Ctrl(0))
        };
        let ship = kin.advance(&start(Vec2::new(200.0, 0.0)), EntityKind::Ship, 30).body();
        assert!(ship.pos.x > 150.0 && ship.vel.x > 0.0, "{ship:?}");
        let rock = kin.advance(&start(Vec2::new(200.0, 0.0)), EntityKind::AsteroidSmall, 30).body();
        assert!(rock.pos.x < 104.0 && rock.vel.x < 0.0, "{rock:?}");
        let up = kin.advance(&start(Vec2::new(0.0, 200.0)), EntityKind::Ship, 30).body();
        assert!(up.pos.y < 104.0 && up.vel.y < 0.0, "{up:?}");
    }

    /// A body crossing an edge turns back and stays within reach of the arena.
    #[test]
    fn arena_edges_bounce() {
        let kin = Kinematics::new([100.0, 100.0]);
        let q = QState::from_body(
            &Body { pos: Vec2::new(90.0, 0.0), vel: Vec2::new(200.0, 0.0), rot: Vec2::X, angvel: 0.0 },
            Ctrl(0),
        );
        let mut s = q;
        let mut max_x = f32::MIN;
        for _ in 0..120 {
            s = kin.tick(&s, EntityKind::AsteroidSmall);
            max_x = max_x.max(s.body().pos.x);
        }
        assert!(max_x < 100.0 + 200.0 / 60.0 + 0.01, "{max_x}");
        assert!(s.body().vel.x < 0.0 || s.body().pos.x < 100.0);
    }

    /// Turning rotates the pair at the turn rate and keeps it (nearly) unit length.
    #[test]
    fn turning_rotates() {
        let kin = k();
        let q = QState::from_body(
            &Body { pos: Vec2::ZERO, vel: Vec2::ZERO, rot: Vec2::X, angvel: 0.0 },
            Ctrl(Ctrl::TURN_LEFT),
        );
        let s = kin.advance(&q, EntityKind::Ship, 15);
        let b = s.body();
        let angle = b.rot.y.atan2(b.rot.x);
        assert!((angle - kin.ship_turn_rate * 15.0 / 60.0).abs() < 0.01, "{angle}");
        assert!((b.rot.length() - 1.0).abs() < 1e-3);
    }
}
