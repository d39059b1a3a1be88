//! The simulation's own counts, declared once: [`SimCounters`] is made from the list in
//! `sim_counters!`, and so are their rows of the operators' table (`crate::metrics`), so a
//! new counter is one line here plus its increment where it happens.
//!
//! The tick's phases count into the game's copy and the loop into its own (ticks missed or
//! slow, events dropped); the frame publishes their sum ([`SimCounters::plus`]).

/// Calls `$with!` with every counter of the simulation: its doc (the operators' help), its
/// name (in `/admin/stats`), and its Prometheus name.
macro_rules! sim_counters {
    ($with:ident) => {
        $with! {
            /// Ticks skipped because the simulation fell too far behind.
            missed_ticks "asteroids_missed_ticks_total";
            /// Ticks that took more than twice their budget.
            slow_ticks "asteroids_slow_ticks_total";
            /// Bodies found with a non-finite state and removed (should stay 0: inputs are validated).
            nonfinite_bodies "asteroids_nonfinite_bodies_total";
            /// Inputs that reached the simulation after the tick they named and were applied at once.
            late_inputs "asteroids_late_inputs_total";
            /// Ships turned back at an open edge of a sector: no neighbour alive behind it, or no connection to follow the ship (AI pilots, ghosts).
            edge_turnbacks "asteroids_edge_turnbacks_total";
            /// Inputs that named a tick more than MAX_INPUT_LEAD ahead and were applied at that bound.
            early_inputs "asteroids_early_inputs_total";
            /// Player events (deaths, spawns, scores) dropped because a session did not drain its channel.
            dropped_events "asteroids_dropped_events_total";
            /// Pilots back on their waiting ship within 2 s of dropping their connection (a flaky link, or a try at dodging).
            quick_rejoins "asteroids_quick_rejoins_total";
        }
    };
}
pub(crate) use sim_counters;

/// Makes [`SimCounters`] from the list.
macro_rules! declare {
    ($( $(#[doc = $doc:literal])+ $name:ident $prom:literal; )+) => {
        /// The simulation's counts since it started (see `sim_counters!` in `counters.rs`).
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
        pub struct SimCounters {
            $( $(#[doc = $doc])+ pub $name: u64, )+
        }

        impl SimCounters {
            /// Every count of `self` and `other` added up (each is counted by one of them).
            pub fn plus(&self, other: &SimCounters) -> SimCounters {
                SimCounters { $( $name: self.$name + other.$name, )+ }
            }
        }
    };
}
sim_counters!(declare);

#[cfg(test)]
mod tests {
    use super::*;

    /// Sums are taken field by field.
    #[test]
    fn counters_add_up() {
        let a = SimCounters { late_inputs: 2, missed_ticks: 1, ..SimCounters::default() };
        let b = SimCounters { late_inputs: 3, edge_turnbacks: 4, ..SimCounters::default() };
        let sum = a.plus(&b);
        assert_eq!((sum.late_inputs, sum.missed_ticks, sum.edge_turnbacks, sum.early_inputs), (5, 1, 4, 0));
    }
}
