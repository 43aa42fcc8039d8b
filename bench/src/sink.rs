//! An SMTP sink that answers at once: the email rows' second sink, so that what they
//! measure against it is the client's path rather than the server's.
//!
//! It speaks just enough SMTP for a client that behaves (greeting, `EHLO`/`HELO`, `MAIL`,
//! `RCPT`, `DATA` up to the lone dot, `RSET`, `NOOP`, `QUIT`), counts nothing and keeps
//! nothing. It runs on its own thread with its own single-threaded runtime, so its work
//! does not queue behind the runtime's tasks.

use std::net::{Ipv4Addr, SocketAddr};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// A running sink; it stops with the process.
#[derive(Debug)]
pub(crate) struct InstantSink {
    pub(crate) port: u16,
}

impl InstantSink {
    pub(crate) fn start() -> anyhow::Result<InstantSink> {
        let std_listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        std_listener.set_nonblocking(true)?;
        let SocketAddr::V4(addr) = std_listener.local_addr()? else {
            anyhow::bail!("bound to IPv4, got another address");
        };
        std::thread::Builder::new()
            .name("instant-sink".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_io()
                    .build()
                    .expect("a current-thread runtime");
                runtime.block_on(async move {
                    let listener = TcpListener::from_std(std_listener).expect("a listener");
                    while let Ok((stream, _)) = listener.accept().await {
                        tokio::spawn(session(stream));
                    }
                });
            })?;
        Ok(InstantSink { port: addr.port() })
    }
}

/// One client's session, until it quits or goes away.
async fn session(stream: TcpStream) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    let mut line = String::new();
    write.write_all(b"220 instant-sink ESMTP\r\n").await?;
    let mut in_data = false;
    loop {
        line.clear();
        if lines.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        if in_data {
            if line == ".\r\n" {
                in_data = false;
                write.write_all(b"250 OK\r\n").await?;
            }
            continue;
        }
        let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
        let answer: &[u8] = match verb.as_str() {
            "EHLO" => b"250-instant-sink\r\n250 8BITMIME\r\n",
            "DATA" => {
                in_data = true;
                b"354 End data with <CR><LF>.<CR><LF>\r\n"
            }
            "QUIT" => {
                write.write_all(b"221 Bye\r\n").await?;
                return Ok(());
            }
            "HELO" | "MAIL" | "RCPT" | "RSET" | "NOOP" => b"250 OK\r\n",
            _ => b"502 Command not implemented\r\n",
        };
        write.write_all(answer).await?;
    }
}
