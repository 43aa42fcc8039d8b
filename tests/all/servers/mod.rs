//! Real servers started by the harness: Redis and an SMTP server (aiosmtpd).

pub mod redis;
pub mod smtp;
