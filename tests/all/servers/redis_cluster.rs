//! A local three-node Redis Cluster for one test: three `redis-server`s in cluster mode on
//! free ports of 127.0.0.1, each in its own folder, no persistence, joined by
//! `redis-cli --cluster create` as three masters without replicas (each owns a third of the
//! 16384 hash slots); killed on drop. The delivery worker suite runs both on one Redis
//! ([`super::redis`]) and on this cluster.
//!
//! A node also listens on its port + 10000 (the cluster bus), so node ports are picked at
//! most 55535, with that second port free too.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Masters in the cluster (the fewest `redis-cli --cluster create` accepts).
const NODES: usize = 3;
/// How long a fresh node may take to answer `PING`.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the joined nodes may take to report `cluster_state:ok`.
const JOIN_TIMEOUT: Duration = Duration::from_secs(20);
/// Ports tried per node: another process may take the free port we picked before Redis binds it.
const PORT_ATTEMPTS: usize = 5;
/// From a node's port to its cluster bus port (fixed by Redis).
const BUS_OFFSET: u16 = 10_000;

/// Three running cluster nodes that agree the cluster is up.
#[derive(Debug)]
pub struct RedisCluster {
    ports: Vec<u16>,
    /// Only held: dropping a node kills it.
    _nodes: Vec<Node>,
}

impl RedisCluster {
    /// Starts three nodes, joins them into one cluster and waits until every node reports
    /// `cluster_state:ok`.
    pub fn start() -> RedisCluster {
        let nodes: Vec<Node> = (0..NODES).map(|_| Node::start()).collect();
        let ports = nodes.iter().map(|node| node.port).collect();
        let cluster = RedisCluster {
            ports,
            _nodes: nodes,
        };
        cluster.create();
        cluster.wait_ok();
        cluster
    }

    /// The nodes' ports on 127.0.0.1.
    pub fn ports(&self) -> &[u16] {
        &self.ports
    }

    /// `redis://127.0.0.1:PORT/` of every node.
    pub fn urls(&self) -> Vec<String> {
        let url = |port| format!("redis://127.0.0.1:{port}/");
        self.ports.iter().map(url).collect()
    }

    /// The first node's URL: where a cluster client starts (it learns the others from it).
    pub fn seed_url(&self) -> String {
        self.urls().swap_remove(0)
    }

    /// `redis-cli --cluster create`: splits the slots between the nodes and introduces them.
    fn create(&self) {
        let address = |port| format!("127.0.0.1:{port}");
        let addresses: Vec<String> = self.ports.iter().map(address).collect();
        let mut args = vec!["--cluster", "create"];
        args.extend(addresses.iter().map(String::as_str));
        args.extend(["--cluster-replicas", "0", "--cluster-yes"]);
        if let Err(why) = redis_cli(&args) {
            panic!("redis-cli --cluster create failed: {why}");
        }
    }

    fn wait_ok(&self) {
        let deadline = Instant::now() + JOIN_TIMEOUT;
        loop {
            let states: Vec<String> = self.ports.iter().map(|&port| cluster_state(port)).collect();
            if states.iter().all(|state| state == "ok") {
                return;
            }
            if Instant::now() >= deadline {
                let ports = &self.ports;
                panic!("cluster on ports {ports:?} not up after {JOIN_TIMEOUT:?}: {states:?}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// One `redis-server` in cluster mode, killed (SIGKILL) on drop.
#[derive(Debug)]
struct Node {
    port: u16,
    child: Child,
    /// Its working folder, where it writes `nodes.conf` (the cluster's state).
    _dir: tempfile::TempDir,
}

impl Node {
    /// Starts a node on a free port and waits until it answers `PING`.
    fn start() -> Node {
        let mut last = String::new();
        for _ in 0..PORT_ATTEMPTS {
            let port = free_port();
            let dir = tempfile::tempdir().expect("a temporary folder for redis-server");
            let child = spawn(port, dir.path());
            let mut node = Node {
                port,
                child,
                _dir: dir,
            };
            match node.wait_ready() {
                Ok(()) => return node,
                Err(why) => last = format!("port {port}: {why}"),
            }
        }
        panic!("redis-server (cluster mode) did not start on {PORT_ATTEMPTS} free ports: {last}");
    }

    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + START_TIMEOUT;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("redis-server exited at start: {status}"));
            }
            if ask(self.port, &["PING"]).is_ok_and(|reply| reply == "PONG") {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(format!("no answer to PING within {START_TIMEOUT:?}"))
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(port: u16, dir: &Path) -> Child {
    let node = [
        "--cluster-enabled",
        "yes",
        "--cluster-config-file",
        "nodes.conf",
        "--cluster-node-timeout",
        "5000",
    ];
    super::redis::spawn(port, dir, &node).unwrap_or_else(|e| panic!("{e}"))
}

/// Runs `redis-cli ARGS`: its standard output, trimmed, or (when it exits with an error) its
/// status and all its output.
pub fn redis_cli(args: &[&str]) -> Result<String, String> {
    let mut command = Command::new("redis-cli");
    command.args(args).stdin(Stdio::null());
    let output = match command.output() {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            panic!("redis-cli not found: run `scripts/dev test`, which installs it")
        }
        run => run.unwrap_or_else(|e| panic!("cannot run redis-cli: {e}")),
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    if output.status.success() {
        return Ok(stdout.trim().to_owned());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let status = output.status;
    Err(format!("redis-cli {args:?}: {status}\n{stdout}{stderr}"))
}

/// The `cluster_state` line of a node's `CLUSTER INFO` (`ok`, `fail`), or why none came.
fn cluster_state(port: u16) -> String {
    match ask(port, &["CLUSTER", "INFO"]) {
        Ok(info) => info
            .lines()
            .find_map(|line| line.strip_prefix("cluster_state:"))
            .unwrap_or("(no cluster_state)")
            .to_owned(),
        Err(why) => format!("({why})"),
    }
}

/// Sends one command to the node on `port` and reads its reply: a simple string, an integer
/// or a bulk string, as text; an error reply is an `Err`.
fn ask(port: u16, args: &[&str]) -> io::Result<String> {
    let addr = (Ipv4Addr::LOCALHOST, port).into();
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(200))?;
    stream.set_read_timeout(Some(Duration::from_secs(1)))?;
    let mut request = format!("*{}\r\n", args.len());
    for arg in args {
        request += &format!("${}\r\n{arg}\r\n", arg.len());
    }
    stream.write_all(request.as_bytes())?;

    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let line = line.trim_end();
    match line.split_at_checked(1) {
        Some(("+" | ":", value)) => Ok(value.to_owned()),
        Some(("$", len)) => {
            let len: usize = len.parse().map_err(|_| io::Error::other(line))?;
            let mut bulk = vec![0; len + 2]; // and its CRLF
            reader.read_exact(&mut bulk)?;
            bulk.truncate(len);
            String::from_utf8(bulk).map_err(io::Error::other)
        }
        _ => Err(io::Error::other(line)), // `-ERR ...` or a reply type not expected here
    }
}

/// A port that was free a moment ago, at most 55535, whose bus port (+10000) was free too.
fn free_port() -> u16 {
    for _ in 0..100 {
        let port = super::free_port();
        let bus = port.checked_add(BUS_OFFSET);
        if bus.is_some_and(|bus| TcpListener::bind((Ipv4Addr::LOCALHOST, bus)).is_ok()) {
            return port;
        }
    }
    panic!("no free port on 127.0.0.1 with its cluster bus port (+{BUS_OFFSET}) free too");
}
