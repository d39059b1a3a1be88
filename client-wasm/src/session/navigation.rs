//! Where to connect: the universe's sectors as last heard, the page's place among them, the
//! socket to open next, and a hand-over on its way (the neighbour's socket and the ticket to
//! present there). Choosing a sector and failing over to another when one is gone are here.

use shared::protocol::{HandOver, Placement, SectorCoord, SectorStatus, UniverseMap};

/// The page's place in a universe, and where its next connection goes.
#[derive(Clone, Debug, Default)]
pub struct Navigation {
    /// The game socket to open next (`None`: the page's own server). Set by a hand-over and
    /// by failing over to another sector of the universe.
    url: Option<String>,
    /// A hand-over the server announced; its connection closes next.
    pub(crate) hand_over: Option<HandOver>,
    /// The ticket to present in the next `Hello` (taken once).
    ticket: Option<Vec<u8>>,
    /// Where the server's sector lies in its universe, from the last `Welcome` or `Spectating`.
    pub place: Option<Placement>,
    /// The universe's sectors, as last sent.
    pub universe: Option<UniverseMap>,
}

/// A sector's load, per mille of its capacity.
fn load(s: &&SectorStatus) -> u64 {
    (u64::from(s.players) * 1000) / u64::from(s.capacity.max(1))
}

impl Navigation {
    /// The game socket the page should open next: `None` for its own server's.
    pub fn socket_url(&self) -> Option<&str> {
        self.url.as_deref()
    }

    /// The ticket to present in the next `Hello`, once.
    pub(crate) fn take_ticket(&mut self) -> Option<Vec<u8>> {
        self.ticket.take()
    }

    /// The connection closed after a hand-over: the next one goes to the neighbour, with the
    /// ticket. Returns the sector it flies into.
    pub(crate) fn cross(&mut self, hand_over: HandOver) -> SectorCoord {
        self.url = Some(hand_over.url);
        self.ticket = Some(hand_over.ticket);
        hand_over.sector
    }

    /// A sector of the universe, as the page read it from `/api/universe` before its first
    /// connection (later ones come in `Universe` messages).
    pub fn know_sector(&mut self, universe_size: [u16; 2], sector: SectorStatus) {
        let map = self.universe.get_or_insert_with(|| UniverseMap { size: universe_size, sectors: Vec::new() });
        map.sectors.retain(|s| s.sector != sector.sector);
        map.sectors.push(sector);
    }

    /// Where to play: `wanted` if it is known and not full, else the least loaded sector that
    /// is not full; sets the socket to open and returns it (`None`: no universe known).
    pub fn choose_sector(&mut self, wanted: Option<SectorCoord>) -> Option<&str> {
        let map = self.universe.as_ref()?;
        let open = |s: &&SectorStatus| s.players < s.capacity;
        let chosen = map
            .sectors
            .iter()
            .filter(open)
            .find(|s| Some(s.sector) == wanted)
            .or_else(|| map.sectors.iter().filter(open).min_by_key(load))?;
        self.url = Some(chosen.url.clone());
        self.url.as_deref()
    }

    /// After a connection attempt failed: the least loaded other sector of the universe, if
    /// one is known (the page's server may be gone for good; the identity and its committed
    /// score are the same in every sector). "Other" than the socket that just failed: the
    /// one named, or else (the page's own server) the sector the page last played in.
    pub(crate) fn fail_over(&mut self) {
        let failed_sector = if self.url.is_none() { self.place.map(|p| p.sector) } else { None };
        let Some(map) = &self.universe else { return };
        let next = map
            .sectors
            .iter()
            .filter(|s| {
                Some(s.sector) != failed_sector && s.players < s.capacity && Some(s.url.as_str()) != self.url.as_deref()
            })
            .min_by_key(load);
        if let Some(next) = next {
            self.url = Some(next.url.clone());
            // A ticket is for the sector it names, not this one.
            self.ticket = None;
        }
    }
}
