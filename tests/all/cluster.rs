//! The Redis Cluster harness (`servers::redis_cluster`) itself: its three nodes share the
//! hash slots, so keys written through one node land on several.

use crate::servers::redis_cluster::{redis_cli, RedisCluster};

/// Keys whose hash slots lie in different thirds of the 16384 (`a` 15495, `b` 3300, `c`
/// 7365), and two that share one slot through their hash tag `{x}`.
const KEYS: [&str; 5] = ["a", "b", "c", "{x}1", "{x}2"];

#[test]
fn keys_spread_over_the_nodes() {
    let cluster = RedisCluster::start();
    let seed = cluster.seed_url();
    // `-c`: redis-cli follows the `MOVED` redirects to the node that owns each key's slot.
    for key in KEYS {
        let reply = cli(&["-c", "-u", &seed, "SET", key, &format!("value of {key}")]);
        assert_eq!(reply, "OK", "SET {key}");
    }
    for key in KEYS {
        let value = cli(&["-c", "-u", &seed, "GET", key]);
        assert_eq!(value, format!("value of {key}"), "GET {key}");
    }

    let mut sizes = Vec::new(); // (port, DBSIZE) of each node
    for (&port, url) in cluster.ports().iter().zip(cluster.urls()) {
        let reply = cli(&["-u", &url, "DBSIZE"]);
        let Ok(size) = reply.parse::<usize>() else {
            panic!("DBSIZE on {port}: {reply:?}");
        };
        sizes.push((port, size));
    }
    let total: usize = sizes.iter().map(|&(_, size)| size).sum();
    assert_eq!(total, KEYS.len(), "keys per node (port, DBSIZE): {sizes:?}");
    let holding = sizes.iter().filter(|&&(_, size)| size > 0).count();
    assert!(holding >= 2, "keys on {holding} node(s) only: {sizes:?}");
}

/// `redis-cli ARGS`, which must succeed: its output, trimmed.
fn cli(args: &[&str]) -> String {
    redis_cli(args).unwrap_or_else(|why| panic!("{why}"))
}
