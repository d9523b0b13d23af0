//! A real nats-server with JetStream on a loopback port and a temporary
//! store, for tests: started from flags, or from a configuration file (the
//! broker configuration `deploy/` ships, rewritten for loopback ports); a
//! server can be killed or stopped gracefully and started again on the same
//! port and store. Shared by the e2e crate and the `lineaged` binary test
//! (which includes this file by path), so it depends on std, tempfile and
//! async-nats only.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long nats-server may take to report its port.
const START_WAIT: Duration = Duration::from_secs(30);
/// How long a graceful stop may take before the server is killed.
const GRACEFUL_STOP_WAIT: Duration = Duration::from_secs(15);

/// A real nats-server with JetStream, killed and cleaned up on drop.
#[derive(Debug)]
pub struct NatsServer {
    child: Option<Child>,
    port: u16,
    /// The JetStream store; kept across restarts of the same server.
    store: tempfile::TempDir,
    /// The configuration file it was started from (which names the port
    /// and the store), or `None` for one started from flags.
    config: Option<PathBuf>,
}

impl NatsServer {
    /// Starts a server on a port chosen by the server itself.
    pub fn start() -> Self {
        let store = tempfile::tempdir().expect("temporary store dir");
        let (child, port) = spawn_nats(None, store.path());
        Self {
            child: Some(child),
            port,
            store,
            config: None,
        }
    }

    /// Starts a server on a given port (for "lineaged came up first").
    pub fn start_on(port: u16) -> Self {
        let store = tempfile::tempdir().expect("temporary store dir");
        let (child, port) = spawn_nats(Some(port), store.path());
        Self {
            child: Some(child),
            port,
            store,
            config: None,
        }
    }

    /// Starts a server from a configuration file, which must name a fixed
    /// loopback port and `store` as its JetStream `store_dir` (so that a
    /// restart finds both again).
    pub fn start_with_config(config: &Path, store: tempfile::TempDir) -> Self {
        let (child, port) = spawn_nats_with_config(config);
        Self {
            child: Some(child),
            port,
            store,
            config: Some(config.to_path_buf()),
        }
    }

    /// The process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The JetStream store directory.
    pub fn store_dir(&self) -> &Path {
        self.store.path()
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops the server, keeping its store: SIGKILL, as a crash or an
    /// out-of-memory kill would.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops the server as an operator or systemd would: SIGTERM, after
    /// which it closes its clients and JetStream store and exits. Killed
    /// if it has not exited within a bound.
    pub fn stop_gracefully(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        // std has no way to send SIGTERM; the `kill` utility does.
        let signalled = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .is_ok_and(|status| status.success());
        let deadline = Instant::now() + GRACEFUL_STOP_WAIT;
        while signalled && Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        assert!(signalled, "could not send SIGTERM to nats-server");
        panic!("nats-server did not exit within {GRACEFUL_STOP_WAIT:?} of SIGTERM");
    }

    /// Empties the JetStream store of a stopped server, as if its disk had
    /// been replaced: started again, it rejoins its cluster as a new
    /// replica and catches up from the others.
    pub fn wipe_store(&mut self) {
        assert!(
            self.child.is_none(),
            "stop the server before wiping its store"
        );
        for entry in std::fs::read_dir(self.store.path()).expect("read the store dir") {
            let path = entry.expect("a store entry").path();
            if path.is_dir() {
                std::fs::remove_dir_all(&path).expect("remove a store dir");
            } else {
                std::fs::remove_file(&path).expect("remove a store file");
            }
        }
    }

    /// Starts it again on the same port and store.
    pub fn restart(&mut self) {
        self.stop();
        let (child, _) = match &self.config {
            Some(config) => spawn_nats_with_config(config),
            None => spawn_nats(Some(self.port), self.store.path()),
        };
        self.child = Some(child);
    }

    pub async fn client(&self) -> async_nats::Client {
        async_nats::connect(self.url())
            .await
            .expect("connect to the test nats-server")
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn nats_server_binary() -> String {
    std::env::var("NATS_SERVER_BIN").unwrap_or_else(|_| "nats-server".into())
}

/// Spawns nats-server from flags and waits until it says where it listens.
fn spawn_nats(port: Option<u16>, store: &Path) -> (Child, u16) {
    let port_arg = port.map_or("-1".to_owned(), |p| p.to_string());
    let mut command = Command::new(nats_server_binary());
    command
        .args(["-a", "127.0.0.1", "-p", &port_arg, "-js", "-sd"])
        .arg(store);
    wait_for_port(command)
}

/// Spawns nats-server from a configuration file and waits until it says
/// where it listens.
fn spawn_nats_with_config(config: &Path) -> (Child, u16) {
    let mut command = Command::new(nats_server_binary());
    command.arg("-c").arg(config);
    wait_for_port(command)
}

/// Starts `command` and reads the client port from its log.
fn wait_for_port(mut command: Command) -> (Child, u16) {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("nats-server must be installed (scripts/test.sh installs it)");
    let stderr = child.stderr.take().expect("piped stderr");
    let (sender, receiver) = mpsc::channel::<Result<u16, String>>();
    // Drain stderr for the life of the server so it never blocks on a full
    // pipe; report the listening port once, or, if the server exits first
    // (a configuration it refuses), what it said.
    std::thread::spawn(move || {
        let mut sender = Some(sender);
        let mut said = Vec::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if sender.is_some() {
                // The last lines are the ones that say why it stopped.
                if said.len() == 40 {
                    said.remove(0);
                }
                said.push(line.clone());
            }
            if let Some(rest) = line.split("Listening for client connections on ").nth(1)
                && let Some(port) = rest
                    .trim()
                    .rsplit(':')
                    .next()
                    .and_then(|p| p.parse::<u16>().ok())
                && let Some(sender) = sender.take()
            {
                let _ = sender.send(Ok(port));
            }
        }
        if let Some(sender) = sender {
            let _ = sender.send(Err(said.join("\n")));
        }
    });
    match receiver.recv_timeout(START_WAIT) {
        Ok(Ok(port)) => (child, port),
        Ok(Err(said)) => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("nats-server exited before listening:\n{said}");
        }
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("nats-server did not report its client port");
        }
    }
}

/// Returns a loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("bind an ephemeral port")
}
