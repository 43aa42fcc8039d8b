//! The integration tests, in one binary (as wasmtime does): one module per subject.

mod roundtrip;
