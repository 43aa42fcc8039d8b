//! The real backends behind the capabilities' traits ([`crate::EmailBackend`],
//! [`crate::QueueBackend`]) and the delivery queue's ([`crate::DeliveryQueue`]): each
//! external crate stays in its module.
//!
//! # Layout
//! - `mail/`: lettre: building a message, SMTP ([`SmtpBackend`]), the `.eml` outbox
//!   ([`OutboxBackend`]).
//! - `redis.rs`: the redis crate: `LPUSH` onto Redis lists, reconnecting ([`RedisQueue`]);
//!   the connection to one server or a cluster.
//! - `redis_delivery.rs`: the delivery queue on Redis ([`RedisDelivery`]): streams, consumer
//!   group, retries, dead letters.
//! - `embedded_queue.rs`: queue pushes into the embedded store when no Redis is configured
//!   ([`EmbeddedQueue`]).

mod embedded_delivery;
mod embedded_queue;
mod mail;
mod redis;
mod redis_delivery;

pub(crate) use embedded_delivery::EmbeddedDelivery;
pub use embedded_queue::EmbeddedQueue;
pub use mail::{OutboxBackend, SmtpBackend, SmtpConfigError};
pub use redis::{RedisQueue, RedisSetupError};
pub use redis_delivery::RedisDelivery;
