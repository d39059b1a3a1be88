//! Real PostgreSQL and Redis servers for tests, each started fresh in a temporary directory
//! on a free loopback port, and stopped and removed when dropped.
//!
//! Tests of the universe (several server processes sharing PostgreSQL; sectors registering
//! in Redis) must run against the real services, not a mock: what they test is exactly what a
//! mock would get wrong (unique violations under a race, a connection dying with its server,
//! a restart). So these starters fail the test, with a message saying what to install, when
//! the binaries are missing: CI installs them (`scripts/setup.sh`), and a test that skipped
//! itself would pass while testing nothing.
//!
//! PostgreSQL refuses to run as root: when the tests run as root, `initdb` and `pg_ctl` run as
//! the `postgres` user (`runuser`), in a directory handed to that user; otherwise they run as
//! the tests' own user. Only the server runs as that user: clients (`pg_isready`,
//! `createdb`) connect over TCP like any other.

use anyhow::{bail, Context};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Longest a service may take to accept connections after it was started.
pub const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How often readiness is checked while waiting.
pub const READY_POLL: Duration = Duration::from_millis(50);
/// Where Debian installs PostgreSQL's server binaries, one directory per major version.
pub const POSTGRES_LIB: &str = "/usr/lib/postgresql";
/// The system user PostgreSQL runs as when the tests run as root.
pub const POSTGRES_USER: &str = "postgres";
/// The database role the tests connect as (the superuser `initdb` creates).
pub const POSTGRES_ROLE: &str = "postgres";
/// The database created for the test.
pub const POSTGRES_DB: &str = "asteroids_test";
/// Attempts at a free port: the port is found free, then bound by the server a moment
/// later, and another process can take it in between.
pub const PORT_ATTEMPTS: usize = 3;

/// A fresh directory under the system's temporary directory.
fn temp_dir(tag: &str) -> anyhow::Result<PathBuf> {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "asteroids-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

/// A loopback port nothing listens on right now.
fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Whether this process runs as root (its `/proc/self` belongs to uid 0).
fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// Runs `command` to completion; its output becomes the error if it fails.
fn run(mut command: Command, what: &str) -> anyhow::Result<()> {
    let out = command.output().with_context(|| format!("running {what}"))?;
    if !out.status.success() {
        bail!(
            "{what} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// Waits until `ready` says yes, at most [`READY_TIMEOUT`].
fn wait_until(what: &str, mut ready: impl FnMut() -> bool) -> anyhow::Result<()> {
    let deadline = Instant::now() + READY_TIMEOUT;
    while !ready() {
        if Instant::now() > deadline {
            bail!("{what} was not ready within {READY_TIMEOUT:?}");
        }
        std::thread::sleep(READY_POLL);
    }
    Ok(())
}

/// The newest PostgreSQL's binary directory under [`POSTGRES_LIB`] (`…/<major>/bin`).
fn postgres_bin() -> anyhow::Result<PathBuf> {
    let missing = || {
        format!(
            "PostgreSQL's server binaries are not installed (no {POSTGRES_LIB}/<version>/bin/initdb): \
             apt-get install -y postgresql (scripts/setup.sh installs it)"
        )
    };
    let versions = std::fs::read_dir(POSTGRES_LIB).with_context(missing)?;
    let newest = versions
        .filter_map(|e| e.ok())
        .filter_map(|e| Some((e.file_name().to_str()?.parse::<f64>().ok()?, e.path().join("bin"))))
        .filter(|(_, bin)| bin.join("initdb").is_file() && bin.join("pg_ctl").is_file())
        .max_by(|a, b| a.0.total_cmp(&b.0));
    newest.map(|(_, bin)| bin).with_context(missing)
}

/// A PostgreSQL server of its own: a fresh cluster in a temporary directory, listening on a
/// free loopback port (and a socket in that directory), trusting loopback connections only,
/// with a database [`POSTGRES_DB`] for the test. Stopped and removed when dropped.
#[derive(Debug)]
pub struct Postgres {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    as_postgres_user: bool,
    running: bool,
}

impl Postgres {
    /// Creates the cluster, starts it and creates the test's database.
    pub fn start() -> anyhow::Result<Postgres> {
        let bin = postgres_bin()?;
        let dir = temp_dir("postgres")?;
        let as_postgres_user = running_as_root();
        if as_postgres_user {
            let mut chown = Command::new("chown");
            chown.arg(format!("{POSTGRES_USER}:")).arg(&dir);
            run(chown, "chown of the PostgreSQL directory (is there a postgres user?)")?;
        }
        let mut pg = Postgres { bin, dir, port: 0, as_postgres_user, running: false };
        let mut initdb = pg.server_command("initdb");
        initdb.arg("-D").arg(pg.data()).args([
            "--auth=trust",
            "--username",
            POSTGRES_ROLE,
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        ]);
        run(initdb, "initdb")?;
        // Trust, and only over loopback (the server listens on 127.0.0.1 alone) and its socket.
        std::fs::write(pg.data().join("pg_hba.conf"), "local all all trust\nhost all all 127.0.0.1/32 trust\n")
            .context("writing pg_hba.conf")?;
        let mut last_error = None;
        for _ in 0..PORT_ATTEMPTS {
            pg.port = free_port()?;
            match pg.start_again() {
                Ok(()) => {
                    last_error = None;
                    break;
                }
                Err(e) => last_error = Some(e),
            }
        }
        if let Some(e) = last_error {
            return Err(e.context(format!("starting PostgreSQL (log: {})", pg.dir.join("log").display())));
        }
        let mut createdb = Command::new(pg.bin.join("createdb"));
        createdb.args(["-h", "127.0.0.1", "-p", &pg.port.to_string(), "-U", POSTGRES_ROLE, POSTGRES_DB]);
        run(createdb, "createdb")?;
        Ok(pg)
    }

    /// The cluster's data directory.
    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// A command running one of PostgreSQL's server binaries as the user it must run as.
    fn server_command(&self, binary: &str) -> Command {
        let program = self.bin.join(binary);
        let mut command = if self.as_postgres_user {
            let mut c = Command::new("runuser");
            c.args(["-u", POSTGRES_USER, "--"]).arg(program);
            c
        } else {
            Command::new(program)
        };
        // The postgres user may not be allowed into the tests' working directory.
        command.current_dir(&self.dir);
        command
    }

    /// The URL of the test's database.
    pub fn url(&self) -> String {
        format!("postgres://{POSTGRES_ROLE}@127.0.0.1:{}/{POSTGRES_DB}", self.port)
    }

    /// The loopback port it listens on (the same across a stop and a start).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Starts the stopped server again: same data, same port. Returns once it accepts
    /// connections.
    pub fn start_again(&mut self) -> anyhow::Result<()> {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off",
            self.port,
            self.dir.display()
        );
        let mut pg_ctl = self.server_command("pg_ctl");
        pg_ctl.arg("-D").arg(self.data()).args(["-l"]).arg(self.dir.join("log")).args([
            "-o",
            &options,
            "-w",
            "-t",
            &READY_TIMEOUT.as_secs().to_string(),
            "start",
        ]);
        run(pg_ctl, "pg_ctl start")?;
        self.running = true;
        let isready = self.bin.join("pg_isready");
        let port = self.port.to_string();
        wait_until("PostgreSQL", || {
            Command::new(&isready)
                .args(["-q", "-h", "127.0.0.1", "-p", &port, "-U", POSTGRES_ROLE])
                .status()
                .is_ok_and(|s| s.success())
        })
    }

    /// Stops the server (`-m fast`: connections are ended, as in a restart) and returns once
    /// it is down.
    pub fn stop(&mut self) -> anyhow::Result<()> {
        self.pg_ctl_stop("fast")
    }

    fn pg_ctl_stop(&mut self, mode: &str) -> anyhow::Result<()> {
        if !self.running {
            return Ok(());
        }
        let mut pg_ctl = self.server_command("pg_ctl");
        pg_ctl.arg("-D").arg(self.data()).args(["-m", mode, "-w", "stop"]);
        run(pg_ctl, "pg_ctl stop")?;
        self.running = false;
        Ok(())
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if let Err(e) = self.pg_ctl_stop("immediate") {
            eprintln!("stopping the test's PostgreSQL: {e:#}");
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A Redis server of its own on a free loopback port, with no persistence, its working
/// directory a temporary one. Stopped and removed when dropped.
#[derive(Debug)]
pub struct Redis {
    child: Option<Child>,
    dir: PathBuf,
    port: u16,
}

/// The Redis server binary, found on `PATH`.
pub const REDIS_SERVER: &str = "redis-server";

impl Redis {
    /// Starts it and returns once it answers a `PING`.
    pub fn start() -> anyhow::Result<Redis> {
        let dir = temp_dir("redis")?;
        let mut redis = Redis { child: None, dir, port: 0 };
        let mut last_error = None;
        for _ in 0..PORT_ATTEMPTS {
            redis.port = free_port()?;
            match redis.spawn() {
                Ok(()) => return Ok(redis),
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error.unwrap_or_else(|| anyhow::anyhow!("no attempt made")))
    }

    fn spawn(&mut self) -> anyhow::Result<()> {
        let log = std::fs::File::create(self.dir.join("log"))?;
        let child = Command::new(REDIS_SERVER)
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| {
                format!("starting {REDIS_SERVER}: is it installed? (apt-get install -y redis-server; scripts/setup.sh)")
            })?;
        self.child = Some(child);
        let port = self.port;
        let mut exited = false;
        let ready = wait_until("Redis", || {
            if let Some(Ok(Some(_))) = self.child.as_mut().map(Child::try_wait) {
                exited = true;
                return true;
            }
            ping(port)
        });
        if exited {
            self.child = None;
            bail!("{REDIS_SERVER} exited at start: {}", read_log(&self.dir.join("log")));
        }
        ready
    }

    /// The URL to connect to.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The loopback port it listens on (the same across a restart).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills the server (as a crash would: no persistence, so it comes back empty) and starts
    /// it again on the same port; returns once it answers a `PING`.
    pub fn restart(&mut self) -> anyhow::Result<()> {
        self.kill();
        self.spawn()
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Whether a Redis server on `port` answers `PING` with `+PONG`.
fn ping(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else { return false };
    let _ = stream.set_read_timeout(Some(READY_POLL * 10));
    let mut answer = [0u8; 7];
    stream.write_all(b"PING\r\n").is_ok() && stream.read_exact(&mut answer).is_ok() && &answer == b"+PONG\r\n"
}

fn read_log(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| format!("(no log: {e})"))
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
