//! The real backends behind the capabilities' traits ([`crate::EmailBackend`],
//! [`crate::QueueBackend`]): each external crate stays in its module.
//!
//! # Layout
//! - `mail/`: lettre: building a message, SMTP ([`SmtpBackend`]), the `.eml` outbox
//!   ([`OutboxBackend`]).
//! - `redis.rs`: the redis crate: `LPUSH` onto Redis lists, reconnecting ([`RedisQueue`]).
//! - `embedded_queue.rs`: queue pushes into the embedded store when no Redis is configured
//!   ([`EmbeddedQueue`]).

mod embedded_queue;
mod mail;
mod redis;

pub use embedded_queue::EmbeddedQueue;
pub use mail::{OutboxBackend, SmtpBackend, SmtpConfigError};
pub use redis::{RedisQueue, RedisSetupError};
