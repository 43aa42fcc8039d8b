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
//! - `redis_invocations.rs`: the invocation log on Redis.
//! - `embedded_queue.rs`: queue pushes into the embedded store when no Redis is configured
//!   ([`EmbeddedQueue`]).
//! - `embedded_delivery.rs`: the delivery queue in the embedded store; `embedded_invocations.rs`:
//!   the invocation log there; `embedded_registry.rs`: the registry's tenants and tokens.

mod embedded_delivery;
mod embedded_invocations;
mod embedded_queue;
mod embedded_registry;
mod mail;
mod redis;
mod redis_delivery;
mod redis_invocations;

pub(crate) use embedded_delivery::EmbeddedDelivery;
pub use embedded_queue::EmbeddedQueue;
pub(crate) use embedded_registry::EmbeddedRegistry;
pub use mail::{OutboxBackend, SmtpBackend, SmtpConfigError};
pub use redis::{RedisQueue, RedisSetupError};
pub use redis_delivery::RedisDelivery;
