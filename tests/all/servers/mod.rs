//! Real servers started by the harness: Redis (one server, or a three-node cluster) and an
//! SMTP server (aiosmtpd).

pub mod redis;
pub mod redis_cluster;
pub mod smtp;
