//! A real nats-server with JetStream on a loopback port and a temporary
//! store, for tests. Shared by the e2e crate and the `lineaged` binary test
//! (which includes this file by path), so it depends on std, tempfile and
//! async-nats only.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// How long nats-server may take to report its port.
const START_WAIT: Duration = Duration::from_secs(30);

/// A real nats-server with JetStream, killed and cleaned up on drop.
#[derive(Debug)]
pub struct NatsServer {
    child: Option<Child>,
    port: u16,
    /// The JetStream store; kept across restarts of the same server.
    store: tempfile::TempDir,
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
        }
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops the server, keeping its store.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port and store.
    pub fn restart(&mut self) {
        self.stop();
        let (child, _) = spawn_nats(Some(self.port), self.store.path());
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

/// Spawns nats-server and waits until it says where it listens.
fn spawn_nats(port: Option<u16>, store: &Path) -> (Child, u16) {
    let port_arg = port.map_or("-1".to_owned(), |p| p.to_string());
    let mut child = Command::new(nats_server_binary())
        .args(["-a", "127.0.0.1", "-p", &port_arg, "-js", "-sd"])
        .arg(store)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("nats-server must be installed (scripts/test.sh installs it)");
    let stderr = child.stderr.take().expect("piped stderr");
    let (sender, receiver) = mpsc::channel();
    // Drain stderr for the life of the server so it never blocks on a full
    // pipe; report the listening port once.
    std::thread::spawn(move || {
        let mut sender = Some(sender);
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(rest) = line.split("Listening for client connections on ").nth(1)
                && let Some(port) = rest
                    .trim()
                    .rsplit(':')
                    .next()
                    .and_then(|p| p.parse::<u16>().ok())
                && let Some(sender) = sender.take()
            {
                let _ = sender.send(port);
            }
        }
    });
    match receiver.recv_timeout(START_WAIT) {
        Ok(port) => (child, port),
        Err(_) => {
            let _ = child.kill();
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
