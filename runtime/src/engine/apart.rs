//! Compiling apart: a component compiled in a child process under CPU-time,
//! address-space and wall-clock limits, at the lowest priority, one core.
//!
//! Compiling is where an uploaded component can cost the host most, and Cranelift cannot
//! be cancelled: a child can be. The child (`wasm-listeners compile-child`, hidden) runs a
//! plain engine (no pooling allocator: its address reservations cannot live under an
//! address-space limit) with the same compilation settings as the serving engine (one
//! function, [`super::compilation_config`], makes both), reads the component on its
//! standard input and writes wasmtime's serialised artifact on its standard output. The
//! parent MACs it into the precompiled cache and loads it from there as any verified
//! artifact.
//!
//! The child bounds resources; it is not a security boundary: the parent runs the machine
//! code the child returns, as it runs what it compiles itself.

use super::CheckError;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{ExitCode, ExitStatus, Stdio};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// CPU time one compile may use by default: a 19 MB Python component takes ~15 s here.
pub(crate) const DEFAULT_COMPILE_CPU: Duration = Duration::from_secs(120);
/// Address space of the compiling child by default (compiling Python peaks near 0.5 GB).
pub(crate) const DEFAULT_COMPILE_ADDRESS_SPACE: u64 = 4 << 30;
/// Wall-clock time one compile may take by default (at the lowest priority it waits for
/// the calls).
pub(crate) const DEFAULT_COMPILE_WALL: Duration = Duration::from_secs(600);
/// The child's exit code when the component does not compile.
const EXIT_INVALID: u8 = 2;
/// The child's exit code when compiling ran out of memory (its address-space limit).
const EXIT_MEMORY: u8 = 3;
/// Lines of the child's standard error kept in an error.
const STDERR_BYTES: usize = 4096;

/// The child: which program, under which limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompileChild {
    /// The `wasm-listeners` binary to run as `compile-child` (the running one by default).
    pub program: PathBuf,
    /// CPU time (`RLIMIT_CPU`).
    pub cpu: Duration,
    /// Address space in bytes (`RLIMIT_AS`).
    pub address_space: u64,
    /// Wall-clock time, after which the parent kills it.
    pub wall: Duration,
}

impl CompileChild {
    /// The running binary as the child, with the default limits.
    pub fn current() -> std::io::Result<CompileChild> {
        Ok(CompileChild {
            program: std::env::current_exe()?,
            cpu: DEFAULT_COMPILE_CPU,
            address_space: DEFAULT_COMPILE_ADDRESS_SPACE,
            wall: DEFAULT_COMPILE_WALL,
        })
    }
}

/// Why compiling apart failed.
#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    /// The component itself was refused.
    #[error(transparent)]
    Refused(#[from] CheckError),
    /// Compiling used up the child's CPU time.
    #[error("compiling took more than {secs} s of CPU time, the limit of compilation: make the component smaller, or ask the operator")]
    CpuTime {
        /// The limit, in seconds.
        secs: u64,
    },
    /// Compiling needed more address space than the child has.
    #[error("compiling needed more than {bytes} bytes of memory, the limit of compilation: make the component smaller, or ask the operator")]
    Memory {
        /// The limit, in bytes.
        bytes: u64,
    },
    /// Compiling took longer than the wall-clock limit.
    #[error("compiling took longer than {secs} s, the limit of compilation: try again later")]
    WallClock {
        /// The limit, in seconds.
        secs: u64,
    },
    /// The child could not be run or talked to.
    #[error("cannot run the compile child {program}: {source}")]
    Spawn {
        /// The program.
        program: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The child failed in a way none of the above explains.
    #[error("the compile child failed ({status}): {stderr}")]
    Child {
        /// How it ended.
        status: ExitStatus,
        /// The end of its standard error.
        stderr: String,
    },
    /// The precompiled cache, which the artifact goes through, is not configured.
    #[error("compiling apart needs the precompiled cache ([engine] artifacts), which is off")]
    NoArtifactCache,
    /// The artifact could not be written to the precompiled cache.
    #[error("cannot store the compiled artifact: {0:#}")]
    Store(#[source] anyhow::Error),
}

/// Compiles `bytes` in `child`: wasmtime's serialised artifact.
pub(super) async fn compile(child: &CompileChild, bytes: &[u8]) -> Result<Vec<u8>, CompileError> {
    let spawn_failed = |source| CompileError::Spawn {
        program: child.program.clone(),
        source,
    };
    let mut process = tokio::process::Command::new(&child.program)
        .arg("compile-child")
        .arg("--cpu-secs")
        .arg(child.cpu.as_secs().max(1).to_string())
        .arg("--address-space-bytes")
        .arg(child.address_space.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(spawn_failed)?;
    let mut stdin = process.stdin.take().expect("a piped stdin");
    let mut stdout = process.stdout.take().expect("a piped stdout");
    let mut stderr = process.stderr.take().expect("a piped stderr");
    let input = bytes.to_vec();
    let talk = async move {
        let write = async move {
            // A child that dies early closes the pipe: its status says why.
            let _ = stdin.write_all(&input).await;
            drop(stdin);
        };
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let read_out = stdout.read_to_end(&mut out);
        let read_err = stderr.read_to_end(&mut err);
        let ((), o, e) = tokio::join!(write, read_out, read_err);
        o.and(e).map(|_| (out, err))
    };
    let Ok(talked) = tokio::time::timeout(child.wall, talk).await else {
        let _ = process.kill().await;
        return Err(CompileError::WallClock {
            secs: child.wall.as_secs(),
        });
    };
    let (out, err) = talked.map_err(spawn_failed)?;
    let status = process.wait().await.map_err(spawn_failed)?;
    let stderr = tail(&err);
    if status.success() {
        return Ok(out);
    }
    Err(classify(child, status, stderr))
}

/// Why the child ended as it did.
fn classify(child: &CompileChild, status: ExitStatus, stderr: String) -> CompileError {
    use std::os::unix::process::ExitStatusExt;
    const SIGKILL: i32 = 9;
    const SIGXCPU: i32 = 24;
    const SIGABRT: i32 = 6;
    match (status.code(), status.signal()) {
        (Some(code), _) if code == i32::from(EXIT_INVALID) => {
            CompileError::Refused(CheckError::Invalid(stderr))
        }
        (Some(code), _) if code == i32::from(EXIT_MEMORY) => CompileError::Memory {
            bytes: child.address_space,
        },
        // Past its soft CPU limit the kernel sends SIGXCPU, past the hard one SIGKILL.
        (_, Some(SIGXCPU | SIGKILL)) => CompileError::CpuTime {
            secs: child.cpu.as_secs(),
        },
        // An allocation refused under RLIMIT_AS aborts ("memory allocation of N bytes
        // failed"), or fails the engine's own reservations.
        (_, Some(SIGABRT)) => CompileError::Memory {
            bytes: child.address_space,
        },
        _ if stderr.contains("memory allocation") || stderr.contains("Cannot allocate memory") => {
            CompileError::Memory {
                bytes: child.address_space,
            }
        }
        _ => CompileError::Child { status, stderr },
    }
}

/// Whether compiling failed for want of memory: an `ENOMEM` anywhere in the chain (wasmtime
/// maps its buffers with `mmap`).
fn out_of_memory(e: &wasmtime::Error) -> bool {
    e.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::OutOfMemory)
    }) || format!("{e:#}").contains("Cannot allocate memory")
}

fn tail(bytes: &[u8]) -> String {
    let start = bytes.len().saturating_sub(STDERR_BYTES);
    String::from_utf8_lossy(&bytes[start..]).trim().to_owned()
}

/// The child's side: limits itself, then compiles what comes on standard input.
pub(crate) fn child_main(cpu_secs: u64, address_space: u64) -> ExitCode {
    use rustix::process::{setpriority_process, setrlimit, Resource, Rlimit};
    // The lowest priority: compiling waits for the calls.
    let _ = setpriority_process(None, 19);
    let cpu = Rlimit {
        current: Some(cpu_secs),
        maximum: Some(cpu_secs.saturating_add(1)),
    };
    let space = Rlimit {
        current: Some(address_space),
        maximum: Some(address_space),
    };
    for (resource, limit) in [(Resource::Cpu, cpu), (Resource::As, space)] {
        if let Err(e) = setrlimit(resource, limit) {
            eprintln!("compile-child: cannot set {resource:?}: {e}");
            return ExitCode::FAILURE;
        }
    }
    let mut bytes = Vec::new();
    // Past the address-space limit, any step may be the one refused: reading the bytes
    // (`try_reserve`), the engine's reservations, the compile; each says so.
    if let Err(e) = std::io::stdin().read_to_end(&mut bytes) {
        eprintln!("compile-child: cannot read the component: {e}");
        return match e.kind() {
            std::io::ErrorKind::OutOfMemory => ExitCode::from(EXIT_MEMORY),
            _ => ExitCode::FAILURE,
        };
    }
    let mut config = super::compilation_config();
    config.parallel_compilation(false);
    let engine = match wasmtime::Engine::new(&config) {
        Ok(engine) => engine,
        Err(e) => {
            eprintln!("compile-child: cannot create the engine: {e:#}");
            return match out_of_memory(&e) {
                true => ExitCode::from(EXIT_MEMORY),
                false => ExitCode::FAILURE,
            };
        }
    };
    let artifact = match wasmtime::component::Component::new(&engine, &bytes)
        .and_then(|component| component.serialize())
    {
        Ok(artifact) => artifact,
        Err(e) => {
            eprintln!("{e:#}");
            return ExitCode::from(match out_of_memory(&e) {
                true => EXIT_MEMORY,
                false => EXIT_INVALID,
            });
        }
    };
    let mut out = std::io::stdout().lock();
    match out.write_all(&artifact).and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("compile-child: cannot write the artifact: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use std::hash::{DefaultHasher, Hash, Hasher};

    fn hash(engine: &wasmtime::Engine) -> u64 {
        let mut hasher = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        hasher.finish()
    }

    /// The child's engine (no pooling allocator, one thread) and the serving engine make
    /// the same machine code: an artifact of one is an artifact of the other.
    #[test]
    fn the_child_and_the_serving_engine_are_compatible() {
        let serving = super::super::wasmtime_config(&super::super::EngineConfig::default());
        let serving = wasmtime::Engine::new(&serving).unwrap();
        let mut child = super::super::compilation_config();
        child.parallel_compilation(false);
        let child = wasmtime::Engine::new(&child).unwrap();
        assert_eq!(hash(&serving), hash(&child));
        let mut other = super::super::compilation_config();
        other.consume_fuel(false);
        let other = wasmtime::Engine::new(&other).unwrap();
        assert_ne!(hash(&serving), hash(&other), "the hash tells engines apart");
    }
}
