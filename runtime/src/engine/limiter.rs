//! Memory accounting of one call: the limit and the peak.

/// Trap: the guest asked for more linear memory than its limit.
#[derive(Debug, thiserror::Error)]
#[error("memory limit reached: the listener asked for {desired} bytes of linear memory, its limit is {limit}")]
pub(crate) struct MemoryLimitExceeded {
    /// Bytes the guest would have held after growing.
    pub(crate) desired: u64,
    /// The listener's limit.
    pub(crate) limit: u64,
}

/// Sums the sizes of every linear memory of a call's instance (a Python or JavaScript
/// component has several) and refuses to grow past the listener's limit.
#[derive(Debug)]
pub(crate) struct MemoryLimiter {
    limit: u64,
    current: u64,
    peak: u64,
}

impl MemoryLimiter {
    pub(crate) fn new(limit: u64) -> MemoryLimiter {
        MemoryLimiter {
            limit,
            current: 0,
            peak: 0,
        }
    }

    /// The most linear memory held at once during the call, in bytes.
    pub(crate) fn peak(&self) -> u64 {
        self.peak
    }

    /// Starts the next call on a reused instance: the memory it holds stays counted, and
    /// the peak starts from it.
    pub(crate) fn next_call(&mut self) {
        self.peak = self.current;
    }
}

impl wasmtime::ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let total = self.current + (desired - current) as u64;
        if total > self.limit {
            // An error, not `Ok(false)`: the call traps at once with a typed cause instead
            // of letting the guest see `memory.grow` fail and trap later for another reason.
            let e = MemoryLimitExceeded {
                desired: total,
                limit: self.limit,
            };
            return Err(wasmtime::Error::new(e));
        }
        self.current = total;
        self.peak = self.peak.max(total);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        _desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // Tables are bounded by the pooling allocator's `table_elements`.
        Ok(true)
    }
}
