//! What an operator's figure is, apart from where it is read: its names, kind and help, and
//! the value it reads ([`Reading`]). Below both the server's counters (`crate::stats`, whose
//! macro declares their rows) and the operators' documents (`crate::metrics`, which renders
//! every row), so neither names the other to share these.

use serde_json::Value;

/// What kind of series a figure is, in Prometheus' terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Only ever grows (until a restart); Prometheus name ends in `_total`.
    Counter,
    /// Goes up and down.
    Gauge,
    /// Cumulative buckets, a sum and a count.
    Histogram,
}

impl Kind {
    pub(crate) fn prometheus(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// One number: integers stay integers in the JSON.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Num {
    /// A count.
    Int(u64),
    /// A measurement.
    Real(f64),
}

impl Num {
    /// An `f32` measurement, widened through its shortest decimal form, so that 0.39126 ms
    /// reads as that and not as 0.3912619948387146 in either document.
    pub(crate) fn from_f32(x: f32) -> Num {
        Num::Real(x.to_string().parse().unwrap_or(f64::NAN))
    }

    pub(crate) fn json(self) -> Value {
        match self {
            Num::Int(n) => n.into(),
            // JSON has no NaN or infinity; a figure that is not finite reads as null.
            Num::Real(x) => serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number),
        }
    }

    pub(crate) fn prometheus(self) -> String {
        match self {
            Num::Int(n) => n.to_string(),
            Num::Real(x) => x.to_string(),
        }
    }
}

/// A figure's value at one moment.
#[derive(Clone, Debug, PartialEq)]
pub enum Reading {
    /// One number.
    One(Num),
    /// One number per value of a label: in the JSON an object keyed by the label's value, in
    /// Prometheus one series per value.
    By {
        /// The Prometheus label's name.
        label: &'static str,
        /// Each label value (also the JSON key) and its number.
        values: Vec<(&'static str, Num)>,
    },
    /// A histogram: cumulative counts at most each upper bound, the count and the sum.
    Histogram {
        /// `(upper bound, observations at most that)`, ascending; `+Inf` is `count`.
        buckets: Vec<(f64, u64)>,
        /// Observations.
        count: u64,
        /// Sum of the observations.
        sum: f64,
    },
}

/// One figure: declared once, rendered into both documents. `Read` is how it is read: a
/// function of the server's counters (the `stats!` rows) or of everything the operators'
/// documents are made from (`crate::metrics::Sources`).
#[derive(Clone, Copy, Debug)]
pub struct Figure<Read> {
    /// Its name in `/admin/stats`.
    pub json: &'static str,
    /// Its name in `/metrics`.
    pub prom: &'static str,
    /// Counter, gauge or histogram.
    pub kind: Kind,
    /// What it means (the Prometheus `HELP`; one line).
    pub help: &'static str,
    /// Reads it now.
    pub read: Read,
}

impl<Read> Figure<Read> {
    /// Its names, kind and help, without how it is read.
    pub fn head(&self) -> Figure<()> {
        Figure { json: self.json, prom: self.prom, kind: self.kind, help: self.help, read: () }
    }
}
