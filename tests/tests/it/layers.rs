//! The server's plan between its rooms, read from its source: which module may name which.
//! A simple scan (paths written `crate::a::b` or `super::b`, outside comments), enough to
//! catch the imports that have tangled the layers before.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every module of `server/src` (by path, `sim::game`), with its source without comments.
fn modules() -> BTreeMap<String, String> {
    modules_under("../server/src")
}

/// Every module of the crate whose source is at `dir` (from `tests/`).
fn modules_under(dir: &str) -> BTreeMap<String, String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut found = BTreeMap::new();
    let mut dirs = vec![root.clone()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("the source directory is readable") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                found.insert(module_of(&root, &path), code_of(&path));
            }
        }
    }
    found
}

/// `sim/game.rs` → `sim::game`; `sim/mod.rs` → `sim`; `lib.rs` → ``.
fn module_of(root: &Path, file: &Path) -> String {
    let relative: PathBuf = file.strip_prefix(root).expect("under the source directory").with_extension("");
    let parts: Vec<String> = relative.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    let parts: Vec<&str> = parts.iter().map(String::as_str).filter(|p| !matches!(*p, "mod" | "lib" | "main")).collect();
    parts.join("::")
}

/// The file's lines with `//` comments (doc comments included) cut off, up to its unit
/// tests (a `#[cfg(test)] mod` at the end of the file: tests sit above every layer, and may
/// name any).
fn code_of(file: &Path) -> String {
    let text = std::fs::read_to_string(file).expect("a readable source file");
    let lines: Vec<&str> = text.lines().collect();
    let tests =
        lines.windows(2).position(|w| w[0] == "#[cfg(test)]" && w[1].starts_with("mod ")).unwrap_or(lines.len());
    lines[..tests].iter().map(|line| line.split("//").next().unwrap_or("")).collect::<Vec<_>>().join("\n")
}

/// The modules `module`'s code names, resolved against `known` (the longest known prefix of
/// each path), itself and its own submodules excluded.
fn names(module: &str, code: &str, known: &BTreeMap<String, String>) -> BTreeSet<String> {
    let mut paths = Vec::new();
    for prefix in ["crate::", "super::"] {
        for (at, _) in code.match_indices(prefix) {
            if code[..at].ends_with("super::") || code[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_') {
                continue; // the middle of a path (`super::super::`, `x::crate::`), read from its start
            }
            // `crate::` starts at the root; each `super::` goes up one module from this one.
            let mut base: Vec<&str> = if prefix == "crate::" { Vec::new() } else { module.split("::").collect() };
            let mut rest = &code[at..];
            rest = rest.strip_prefix("crate::").unwrap_or(rest);
            while let Some(up) = rest.strip_prefix("super::") {
                base.pop();
                rest = up;
            }
            let base = base.join("::");
            // `super::*` (a test module's glob of its own file) names nothing new.
            let join = |tail: &str| match (base.is_empty(), tail.is_empty()) {
                (_, true) => String::new(),
                (true, false) => tail.to_string(),
                (false, false) => format!("{base}::{tail}"),
            };
            if let Some(group) = rest.strip_prefix('{') {
                // `super::{a, b::c}`: each item.
                for item in group.split('}').next().unwrap_or("").split(',') {
                    paths.push(join(&path_at(item.trim())));
                }
            } else {
                paths.push(join(&path_at(rest)));
            }
        }
    }
    paths
        .into_iter()
        .filter(|path| !path.is_empty())
        .filter_map(|path| {
            let mut parts: Vec<&str> = path.split("::").collect();
            while !parts.is_empty() && !known.contains_key(&parts.join("::")) {
                parts.pop();
            }
            let named = parts.join("::");
            let own = named == module || named.starts_with(&format!("{module}::"));
            (!parts.is_empty() && !own).then_some(named)
        })
        .collect()
}

/// The path at the start of `text` (`a::b` of `a::b::{c, d}` or `a::b(…)`).
fn path_at(text: &str) -> String {
    let end = text.find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':')).unwrap_or(text.len());
    text[..end].trim_end_matches(':').to_string()
}

/// The simulation knows nothing of the universe, the store, the network, the operators'
/// figures or the wall clock: whatever comes from outside reaches it as an event or as the
/// tick's surroundings. (Regression: `sim` named `universe` 13 times and read the wall clock
/// mid-tick, closing an import cycle of about fifteen files.)
#[test]
fn the_simulation_names_nothing_outside_it() {
    let known = modules();
    let mut outside = Vec::new();
    for (module, code) in known.iter().filter(|(m, _)| *m == "sim" || m.starts_with("sim::")) {
        for named in names(module, code, &known) {
            if named != "sim" && !named.starts_with("sim::") {
                outside.push(format!("{module} names {named}"));
            }
        }
        for clock in ["SystemTime", "unix_ms("] {
            if code.contains(clock) {
                outside.push(format!("{module} reads the wall clock ({clock})"));
            }
        }
    }
    assert!(outside.is_empty(), "{outside:#?}");
    assert!(known.contains_key("sim::game") && known.contains_key("universe"), "the scan finds the modules");
}

/// The cycles among the modules of `known` whose path starts with `prefix`: each as the list
/// of its modules, in order.
fn cycles(known: &BTreeMap<String, String>, prefix: &str) -> Vec<Vec<String>> {
    let inside = |m: &str| prefix.is_empty() || m == prefix || m.starts_with(&format!("{prefix}::"));
    let graph: BTreeMap<String, BTreeSet<String>> = known
        .iter()
        .filter(|(m, _)| inside(m))
        .map(|(m, code)| (m.clone(), names(m, code, known).into_iter().filter(|n| inside(n)).collect()))
        .collect();
    // A cycle is a path back to where it started; each is reported once, from its least module.
    let mut found = Vec::new();
    for start in graph.keys() {
        let mut stack = vec![(start.clone(), vec![start.clone()])];
        while let Some((at, path)) = stack.pop() {
            for next in graph.get(&at).into_iter().flatten() {
                if next == start {
                    found.push(path.clone());
                } else if next > start && !path.contains(next) {
                    let mut longer = path.clone();
                    longer.push(next.clone());
                    stack.push((next.clone(), longer));
                }
            }
        }
    }
    found
}

/// One owner per socket: the session, the fan-out and the link that writes the socket name
/// each other one way only. (Regression: `net/session.rs` and `net/fanout.rs` both wrote the
/// WebSocket and imported each other.)
#[test]
fn the_network_modules_import_one_way() {
    let found = cycles(&modules(), "net");
    assert!(found.is_empty(), "import cycles in net/: {found:#?}");
    assert!(modules().contains_key("net::link"), "the scan finds the modules");
}

/// No import cycle between the page's modules (regression: `layout` and `scene` named each
/// other, for the view's padding).
#[test]
fn the_pages_modules_import_one_way() {
    let known = modules_under("../client-wasm/src");
    let found = cycles(&known, "");
    assert!(found.is_empty(), "import cycles in client-wasm/src: {found:#?}");
    assert!(known.contains_key("session::connection") && known.contains_key("layout"), "the scan finds the modules");
}

/// The server's rooms, each as one node: a top-level module (`sim`, `store`, `universe`…),
/// but each module of `net` on its own (the network edge is a set of rooms, not one).
fn room(module: &str) -> String {
    let parts: Vec<&str> = module.split("::").collect();
    let depth = if parts[0] == "net" { 2 } else { 1 };
    parts[..depth.min(parts.len())].join("::")
}

/// No import cycle between the server's rooms: every layer names only the layers below it
/// (`ARCHITECTURE.md`, "Layers"). (Regression: the universe closed a cycle of about fifteen
/// files through the simulation, the store and the configuration; the operators' figures and
/// the counters, and the admin routes and the HTTP routes, named each other.)
#[test]
fn the_rooms_import_one_way() {
    let known = modules();
    let mut rooms: BTreeMap<String, String> = BTreeMap::new();
    for (module, code) in &known {
        let named: Vec<String> = names(module, code, &known).into_iter().map(|n| room(&n)).collect();
        // Each room's code, as the paths it names (the scan reads them back the same way).
        let entry = rooms.entry(room(module)).or_default();
        for n in named.into_iter().filter(|n| *n != room(module)) {
            entry.push_str(&format!("use crate::{n};\n"));
        }
    }
    let found = cycles(&rooms, "");
    assert!(found.is_empty(), "import cycles between rooms: {found:#?}");
    assert!(rooms.contains_key("sim") && rooms.contains_key("net::session"), "the scan finds the rooms");
}

/// The scan itself: it resolves `crate::`, `super::` and grouped paths to modules.
#[test]
fn the_scan_resolves_paths_to_modules() {
    let known: BTreeMap<String, String> = ["sim", "sim::game", "sim::frame", "universe", "net", "net::session"]
        .map(|m| (m.to_string(), String::new()))
        .into();
    let code =
        "use super::{frame::Frame, game};\nlet t = crate::universe::ticket::now();\nuse super::super::net::session;";
    let named = names("sim::publish", code, &known);
    let expected: BTreeSet<String> = ["sim::frame", "sim::game", "universe", "net::session"].map(String::from).into();
    assert_eq!(named, expected);
    assert!(names("sim", "use super::{x};", &known).is_empty(), "a path to no module names none");
    let tangled: BTreeMap<String, String> = [
        ("net::a", "use super::b::X;"),
        ("net::b", "use crate::net::c;"),
        ("net::c", "fn f() { super::a::g() }"),
        ("net::d", "use super::a;"),
        ("sim", "use crate::net::a;"),
    ]
    .map(|(m, code)| (m.to_string(), code.to_string()))
    .into();
    assert_eq!(cycles(&tangled, "net"), vec![vec!["net::a".to_string(), "net::b".into(), "net::c".into()]]);
}
