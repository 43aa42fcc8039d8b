//! Trials and their statistics: each figure is the median of several trials, and the two
//! sides of a comparison alternate trial by trial, so a machine that gets busier during the
//! run slows both alike.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long the benchmark runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scale {
    /// One short trial per side: the command runs, the figures mean nothing.
    Quick,
    /// Several trials per side, long enough to be steady.
    Full,
}

impl Scale {
    /// Trials per side.
    pub(crate) fn trials(self) -> usize {
        match self {
            Scale::Quick => 1,
            Scale::Full => 5,
        }
    }

    /// How long one throughput trial runs.
    pub(crate) fn trial(self) -> Duration {
        match self {
            Scale::Quick => Duration::from_millis(150),
            Scale::Full => Duration::from_secs(2),
        }
    }

    /// Messages per trial of the email rows (the tutorial's script sends a fixed count).
    pub(crate) fn messages(self) -> usize {
        match self {
            Scale::Quick => 20,
            Scale::Full => 1_000,
        }
    }

    /// kinto-redis entries per trial of the worker row (both workers drain a fixed count).
    pub(crate) fn entries(self) -> usize {
        match self {
            Scale::Quick => 200,
            Scale::Full => 100_000,
        }
    }
}

/// Operations per second of `concurrency` tasks each running `op` in a loop for `time`.
pub(crate) async fn rate<F, Fut>(concurrency: usize, time: Duration, op: F) -> anyhow::Result<f64>
where
    F: Fn() -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send,
{
    let done = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let end = started + time;
    let mut tasks = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        let (op, done) = (op.clone(), done.clone());
        tasks.push(tokio::spawn(async move {
            while Instant::now() < end {
                op().await?;
                done.fetch_add(1, Ordering::Relaxed);
            }
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    let ops = done.load(Ordering::Relaxed) as f64;
    Ok(ops / started.elapsed().as_secs_f64())
}

/// The median of `values` (0 for none).
pub(crate) fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => 0.0,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// The `p`-th percentile (0-100) of `durations`, nearest rank.
pub(crate) fn percentile(durations: &mut [Duration], p: f64) -> Duration {
    if durations.is_empty() {
        return Duration::ZERO;
    }
    durations.sort_unstable();
    let rank = ((p / 100.0) * durations.len() as f64).ceil() as usize;
    durations[rank.clamp(1, durations.len()) - 1]
}

/// Runs `a` and `b` alternately, `trials` times each, and returns both medians.
pub(crate) async fn alternate<A, B, FA, FB>(trials: usize, a: A, b: B) -> anyhow::Result<(f64, f64)>
where
    A: Fn() -> FA,
    B: Fn() -> FB,
    FA: Future<Output = anyhow::Result<f64>>,
    FB: Future<Output = anyhow::Result<f64>>,
{
    let (mut left, mut right) = (Vec::new(), Vec::new());
    for _ in 0..trials {
        left.push(a().await?);
        right.push(b().await?);
    }
    Ok((median(&left), median(&right)))
}

/// [`alternate`] with two measures on side `a`, each trial running both: the medians of
/// each of `a`'s measures and of `b`.
pub(crate) async fn alternate_pair<A, B, FA, FB>(
    trials: usize,
    a: A,
    b: B,
) -> anyhow::Result<((f64, f64), f64)>
where
    A: Fn() -> FA,
    B: Fn() -> FB,
    FA: Future<Output = anyhow::Result<(f64, f64)>>,
    FB: Future<Output = anyhow::Result<f64>>,
{
    let (mut first, mut second, mut right) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..trials {
        let (x, y) = a().await?;
        first.push(x);
        second.push(y);
        right.push(b().await?);
    }
    Ok(((median(&first), median(&second)), median(&right)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_percentiles() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        let mut d: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&mut d, 50.0), Duration::from_millis(50));
        assert_eq!(percentile(&mut d, 99.0), Duration::from_millis(99));
    }
}
