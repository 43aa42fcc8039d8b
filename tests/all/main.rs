//! The integration tests, in one binary (as wasmtime does): one module per subject.
//!
//! Guest programs (`examples/`) are built from source by the harness the first time a test
//! needs one (`helpers::guest`); the limit tests build their own components from WAT
//! (`components`). Logs stay quiet unless `TEST_LOG` is set.

// A test binary has no public API: `pub` only shares helpers between its modules.
#![allow(unreachable_pub)]

mod apart;
mod check;
mod cli;
mod cluster;
mod components;
mod deadlines;
mod delivery;
mod embedded;
mod errors;
mod helpers;
mod hostile;
mod http;
mod invocations;
mod kinto;
mod languages;
mod layering;
mod limits;
mod outcomes;
mod process;
mod queues;
mod reuse;
mod roundtrip;
mod sandbox;
mod serve;
mod servers;
mod smtp;
mod tenant_events;
mod tenants;
mod uploads;
mod worker;
