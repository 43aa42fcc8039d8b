//! The real backends behind the capabilities' traits: each external crate stays in its file.
//!
//! - `mail`: lettre (the only file that names it): address parsing, SMTP, the `.eml` outbox.
//! - `redis`: the redis crate: `LPUSH` onto Redis lists, reconnecting.
//! - `embedded_queue`: queue pushes into the embedded store when no Redis is configured.

pub mod embedded_queue;
pub mod mail;
pub mod redis;
