//! Precompiled components: an on-disk cache of what [`Component::new`] produced, so that a
//! second start with the same components compiles nothing.
//!
//! Compiling a Python or JavaScript component takes seconds and half a gigabyte; loading its
//! precompiled artifact takes milliseconds. But wasmtime runs an artifact's machine code as
//! it is: deserialising is `unsafe` and trusts its bytes completely. So this cache only
//! loads what this runtime wrote itself:
//! - each file is `MAGIC`, an HMAC-SHA256 of the artifact under a key of 32 random bytes,
//!   then the artifact;
//! - the key is a file of its own *outside* the cache folder (created on first use, mode
//!   0600), so write access to the cache folder is not enough to forge an artifact;
//! - the file is read into memory once, its MAC verified, and those very bytes are
//!   deserialised (never the file again, which could have changed in between);
//! - a file whose MAC does not verify is refused, counted, deleted and compiled again.
//!
//! Files are named by the SHA-256 of the component's bytes and of the engine's
//! [`wasmtime::Engine::precompile_compatibility_hash`] (wasmtime's version and every
//! setting that changes code, fuel included): a component compiled under another engine
//! configuration is another file, never a refused one.
//!
//! The workspace denies `unsafe`; this module is the one place allowed it.
#![allow(unsafe_code)]

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};
use wasmtime::component::Component;

/// What every artifact file starts with; the version is the file format's.
const MAGIC: &[u8; 8] = b"WLART\x001\n";
/// The MAC's length: HMAC-SHA256.
const MAC_BYTES: usize = 32;
/// The key's length, in bytes of `getrandom`.
const KEY_BYTES: usize = 32;

/// Where artifacts and their key live.
#[derive(Debug, Clone)]
pub struct ArtifactCacheConfig {
    /// The folder of artifacts (created when missing).
    pub dir: PathBuf,
    /// The key file: keep it outside `dir`.
    pub key_file: PathBuf,
}

impl ArtifactCacheConfig {
    /// `<root>/compiled/` and the key `<root>/compiled.key`.
    pub fn under(root: &Path) -> ArtifactCacheConfig {
        ArtifactCacheConfig {
            dir: root.join("compiled"),
            key_file: root.join("compiled.key"),
        }
    }
}

/// Why an artifact was not used; the component is compiled instead.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Refused {
    #[error("{0} is not an artifact this runtime wrote (bad header)")]
    Header(PathBuf),
    #[error("{0} does not verify: it was not written by this runtime with this key")]
    Mac(PathBuf),
    #[error("{path} verified but wasmtime refused it: {error:#}")]
    Deserialize {
        path: PathBuf,
        error: wasmtime::Error,
    },
}

/// The cache: a folder and the key its files are authenticated with.
pub(crate) struct ArtifactCache {
    dir: PathBuf,
    key: [u8; KEY_BYTES],
    /// The engine's compatibility hash, part of every file name.
    engine_hash: [u8; 32],
}

impl std::fmt::Debug for ArtifactCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key stays out of logs.
        f.debug_struct("ArtifactCache")
            .field("dir", &self.dir)
            .finish()
    }
}

impl ArtifactCache {
    /// Opens (creating when missing) the folder and the key.
    pub(crate) fn open(
        config: &ArtifactCacheConfig,
        engine: &wasmtime::Engine,
    ) -> anyhow::Result<ArtifactCache> {
        std::fs::create_dir_all(&config.dir).map_err(|e| {
            anyhow::anyhow!(
                "cannot create the artifact folder {}: {e}",
                config.dir.display()
            )
        })?;
        let key = read_or_create_key(&config.key_file)?;
        let mut hasher = Sha256Hasher(Sha256::new());
        engine.precompile_compatibility_hash().hash(&mut hasher);
        Ok(ArtifactCache {
            dir: config.dir.clone(),
            key,
            engine_hash: hasher.0.finalize().into(),
        })
    }

    /// The file of a component's artifact under this engine.
    pub(crate) fn path(&self, component: &[u8]) -> PathBuf {
        let mut name = Sha256::new();
        name.update(Sha256::digest(component));
        name.update(self.engine_hash);
        self.dir.join(format!("{}.cwasm", hex(&name.finalize())))
    }

    /// The component of an artifact file, if there is one and it verifies; `Ok(None)` when
    /// there is no file.
    pub(crate) fn load(
        &self,
        engine: &wasmtime::Engine,
        path: &Path,
    ) -> Result<Option<Component>, Refused> {
        let Ok(file) = std::fs::read(path) else {
            return Ok(None);
        };
        let artifact = self.verified(&file, path)?;
        // SAFETY: `artifact` is a slice of the bytes just read into memory, and its MAC
        // verified under a key only this runtime holds (a file outside the cache folder):
        // these are the bytes `Component::serialize` gave `store` in a process of this
        // runtime. The file name binds them to this engine's compatibility hash, and
        // wasmtime checks its own header (version, settings) again. Nothing reads the file
        // a second time, so a change on disk after the check cannot reach wasmtime.
        let component = unsafe { Component::deserialize(engine, artifact) };
        component.map(Some).map_err(|error| Refused::Deserialize {
            path: path.to_owned(),
            error,
        })
    }

    /// The artifact inside `file`, once its header and MAC are checked.
    fn verified<'a>(&self, file: &'a [u8], path: &Path) -> Result<&'a [u8], Refused> {
        let header = MAGIC.len() + MAC_BYTES;
        if file.len() < header || &file[..MAGIC.len()] != MAGIC {
            return Err(Refused::Header(path.to_owned()));
        }
        let (mac, artifact) = file[MAGIC.len()..].split_at(MAC_BYTES);
        self.mac(artifact)
            .verify_slice(mac)
            .map_err(|_| Refused::Mac(path.to_owned()))?;
        Ok(artifact)
    }

    /// Writes `component`'s artifact to `path`: a temporary file renamed into place, so a
    /// reader sees a whole file or none.
    pub(crate) fn store(&self, path: &Path, component: &Component) -> anyhow::Result<()> {
        self.store_serialized(path, &component.serialize()?)
    }

    /// Writes an artifact wasmtime serialised (here, or in the compile child) to `path`.
    pub(crate) fn store_serialized(&self, path: &Path, artifact: &[u8]) -> anyhow::Result<()> {
        let mac = self.mac(artifact).finalize().into_bytes();
        let mut temp = tempfile::NamedTempFile::new_in(&self.dir)?;
        temp.write_all(MAGIC)?;
        temp.write_all(&mac)?;
        temp.write_all(artifact)?;
        temp.persist(path)?;
        Ok(())
    }

    fn mac(&self, artifact: &[u8]) -> Hmac<Sha256> {
        // HMAC takes a key of any length.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key).expect("any key length");
        mac.update(MAGIC);
        mac.update(artifact);
        mac
    }
}

/// Reads the key, or creates it (32 random bytes, mode 0600) when the file is missing.
fn read_or_create_key(path: &Path) -> anyhow::Result<[u8; KEY_BYTES]> {
    let shown = path.display();
    match std::fs::read(path) {
        Ok(bytes) => {
            return bytes.try_into().map_err(|bytes: Vec<u8>| {
                anyhow::anyhow!(
                    "the artifact key {shown} holds {} bytes, not {KEY_BYTES}: delete it (the cache is then rebuilt)",
                    bytes.len()
                )
            })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => anyhow::bail!("cannot read the artifact key {shown}: {e}"),
    }
    let mut key = [0; KEY_BYTES];
    getrandom::getrandom(&mut key).map_err(|e| anyhow::anyhow!("no randomness for a key: {e}"))?;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    // Written whole into a temporary file (mode 0600) and only then linked into place
    // without replacing anything: a process starting beside this one (`serve` and `worker`
    // on one data folder) reads a whole key or none, never a half-written one.
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut temp = tempfile::NamedTempFile::new_in(dir)
        .map_err(|e| anyhow::anyhow!("cannot create the artifact key {shown}: {e}"))?;
    temp.write_all(&key)
        .and_then(|()| temp.as_file().sync_all())
        .map_err(|e| anyhow::anyhow!("cannot write the artifact key {shown}: {e}"))?;
    match temp.persist_noclobber(path) {
        Ok(_) => Ok(key),
        // Another process put its key there first: use theirs.
        Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => read_or_create_key(path),
        Err(e) => anyhow::bail!("cannot create the artifact key {shown}: {}", e.error),
    }
}

/// Feeds `Hash` into SHA-256: stable across processes, unlike `DefaultHasher`.
struct Sha256Hasher(Sha256);

impl Hasher for Sha256Hasher {
    fn finish(&self) -> u64 {
        unreachable!("only finalised as SHA-256")
    }

    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(root: &Path) -> (wasmtime::Engine, ArtifactCache) {
        let mut config = wasmtime::Config::new();
        config.wasm_component_model(true);
        let engine = wasmtime::Engine::new(&config).unwrap();
        let cache = ArtifactCache::open(&ArtifactCacheConfig::under(root), &engine).unwrap();
        (engine, cache)
    }

    const COMPONENT: &str = "(component)";

    #[test]
    fn a_stored_artifact_loads_and_an_altered_one_is_refused() {
        let root = tempfile::tempdir().unwrap();
        let (engine, cache) = open(root.path());
        let bytes = wat::parse_str(COMPONENT).unwrap();
        let path = cache.path(&bytes);
        assert!(cache.load(&engine, &path).unwrap().is_none(), "no file yet");
        let component = Component::new(&engine, &bytes).unwrap();
        cache.store(&path, &component).unwrap();
        assert!(cache.load(&engine, &path).unwrap().is_some());

        let mut file = std::fs::read(&path).unwrap();
        let last = file.len() - 1;
        file[last] ^= 1;
        std::fs::write(&path, &file).unwrap();
        assert!(matches!(cache.load(&engine, &path), Err(Refused::Mac(_))));
        std::fs::write(&path, b"not an artifact").unwrap();
        assert!(matches!(
            cache.load(&engine, &path),
            Err(Refused::Header(_))
        ));
    }

    /// Processes starting at once on one folder (`serve` and `worker`) all get the one
    /// whole key: none reads a key file still being written.
    #[test]
    fn keys_made_at_once_are_one_whole_key() {
        for _ in 0..50 {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("compiled.key");
            let keys: Vec<[u8; KEY_BYTES]> = std::thread::scope(|s| {
                let makers: Vec<_> = (0..8)
                    .map(|_| s.spawn(|| read_or_create_key(&path).unwrap()))
                    .collect();
                makers.into_iter().map(|m| m.join().unwrap()).collect()
            });
            assert!(keys.iter().all(|k| *k == keys[0]));
            assert_eq!(std::fs::read(&path).unwrap(), keys[0]);
        }
    }

    #[test]
    fn another_key_does_not_verify_and_the_key_is_private() {
        let root = tempfile::tempdir().unwrap();
        let (engine, cache) = open(root.path());
        let bytes = wat::parse_str(COMPONENT).unwrap();
        let path = cache.path(&bytes);
        cache
            .store(&path, &Component::new(&engine, &bytes).unwrap())
            .unwrap();
        let key_file = root.path().join("compiled.key");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::remove_file(&key_file).unwrap();
        let (engine, fresh) = open(root.path());
        assert!(matches!(fresh.load(&engine, &path), Err(Refused::Mac(_))));
    }

    #[test]
    fn names_depend_on_the_component_and_the_engine() {
        let root = tempfile::tempdir().unwrap();
        let (_, cache) = open(root.path());
        assert_ne!(cache.path(b"a"), cache.path(b"b"));
        let mut config = wasmtime::Config::new();
        config.wasm_component_model(true).consume_fuel(true);
        let fueled = wasmtime::Engine::new(&config).unwrap();
        let other = ArtifactCache::open(&ArtifactCacheConfig::under(root.path()), &fueled).unwrap();
        assert_ne!(cache.path(b"a"), other.path(b"a"));
    }
}
