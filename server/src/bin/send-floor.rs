//! The kernel's floor for the server's sends: what one small write to a TCP socket costs when
//! nothing else is done, to set beside the server's network CPU per snapshot (issue 27).
//!
//! `connections` TCP connections over loopback; one thread writes one message of each size to
//! every connection per frame, at `--hz` frames a second, as the server writes snapshots;
//! another thread reads everything. Each thread's user and system CPU time comes from
//! `/proc/thread-self/stat`, so the sender's cost per write is its own: no runtime, no
//! WebSocket framing, no diff, no encoding.
//!
//! Run: `cargo run --release -p asteroids-server --bin send-floor -- [--connections N]
//! [--secs S] [--hz HZ] [--sizes 66,128,512]`
//!
//! The loopback device hands each packet to the receiving stack at once, in a softirq raised
//! by the sender's system call; where the kernel accounts softirq time apart (as it does here:
//! the `softirq` column of `/proc/stat`), that work is not in the sender's system time, and
//! where it does not, the figure is an upper bound of the send's own cost.

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// User and system CPU time of the calling thread, in clock ticks (USER_HZ, 100 a second).
fn thread_cpu_ticks() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").expect("/proc/thread-self/stat (Linux)");
    // The command name may hold spaces; the fields after it are space-separated.
    let after = &stat[stat.rfind(')').expect("a stat line") + 2..];
    let fields: Vec<&str> = after.split(' ').collect();
    // utime and stime are the 14th and 15th fields of the line, the 12th and 13th after the name.
    (fields[11].parse().expect("utime"), fields[12].parse().expect("stime"))
}

fn arg<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::args()
        .skip_while(|a| a != name)
        .nth(1)
        .map_or(default, |v| v.parse().unwrap_or_else(|_| panic!("{name}: not a valid value")))
}

fn arg_text(name: &str) -> Option<String> {
    std::env::args().skip_while(|a| a != name).nth(1)
}

/// The softirq time of the whole machine so far, in clock ticks (`/proc/stat`).
fn softirq_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/stat").expect("/proc/stat (Linux)");
    let cpu = stat.lines().next().expect("the cpu line");
    cpu.split_whitespace().nth(7).and_then(|t| t.parse().ok()).expect("softirq")
}

/// Reads every connection accepted on `listener` until `stop`: nonblocking, one pass over all
/// connections, then a millisecond's sleep when a pass read nothing.
fn read_all(listener: TcpListener, expected: usize, stop: Arc<AtomicBool>) -> (u64, (u64, u64)) {
    let mut conns = Vec::with_capacity(expected);
    while conns.len() < expected {
        let (c, _) = listener.accept().expect("accept");
        c.set_nonblocking(true).expect("nonblocking");
        conns.push(c);
    }
    let start = thread_cpu_ticks();
    let mut buf = vec![0u8; 64 * 1024];
    let mut bytes = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let mut any = false;
        for c in &mut conns {
            loop {
                match c.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        bytes += n as u64;
                        any = true;
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) => panic!("read: {e}"),
                }
            }
        }
        if !any {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    let end = thread_cpu_ticks();
    (bytes, (end.0 - start.0, end.1 - start.1))
}

fn main() {
    let connections: usize = arg("--connections", 1000);
    let secs: u64 = arg("--secs", 10);
    let hz: u64 = arg("--hz", 20);
    let sizes: Vec<usize> = arg_text("--sizes")
        .unwrap_or_else(|| "66,128,512".into())
        .split(',')
        .map(|s| s.parse().expect("--sizes: byte counts"))
        .collect();
    println!("# send-floor: {connections} connections, {hz} frames/s, {secs} s per size");
    for size in sizes {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let target = listener.local_addr().expect("address");
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let reader = std::thread::spawn(move || read_all(listener, connections, s));
        let mut conns: Vec<TcpStream> = (0..connections)
            .map(|_| {
                let c = TcpStream::connect(target).expect("connect");
                c.set_nodelay(true).expect("nodelay");
                c
            })
            .collect();
        let message = vec![0x82u8; size];
        let frame = Duration::from_nanos(1_000_000_000 / hz);
        let frames = secs * hz;
        let started = Instant::now();
        let before = thread_cpu_ticks();
        let softirq_before = softirq_ticks();
        for f in 0..frames {
            for c in &mut conns {
                c.write_all(&message).expect("write");
            }
            let due = started + frame * (f as u32 + 1);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
        }
        let after = thread_cpu_ticks();
        let softirq = softirq_ticks() - softirq_before;
        let writes = frames * connections as u64;
        let (user, system) = (after.0 - before.0, after.1 - before.1);
        let per = |ticks: u64| ticks as f64 * 10_000.0 / writes as f64;
        std::thread::sleep(Duration::from_millis(200));
        stop.store(true, Ordering::Relaxed);
        let (bytes, (reader_user, reader_system)) = reader.join().expect("reader");
        assert_eq!(bytes, writes * size as u64, "every byte written was read");
        println!(
            "size={size} writes={writes} sender: user {:.2} + system {:.2} us per write | reader: user {:.2} + system {:.2} us per write | machine softirq {:.2} us per write",
            per(user),
            per(system),
            per(reader_user),
            per(reader_system),
            per(softirq)
        );
        drop(conns);
    }
}
