//! One reading of the clock per synchronous pipeline run.
//!
//! A cached request checks the freshness of two cache entries (tenant, membership), and each
//! check needs the time; reading the clock is among the costliest things such a request does.
//! [`TenantPipeline::run_now`](crate::TenantPipeline::run_now) runs without awaiting, on one
//! thread, so it opens a [`Snapshot`]: the first freshness check inside it reads the clock and
//! the later ones reuse that instant. Outside a snapshot (the awaited path, direct store calls)
//! every check reads the clock. Invalidations do not depend on it: they are exact either way.

use std::cell::Cell;

use tokio::time::Instant;

#[derive(Clone, Copy)]
enum Reading {
    /// No snapshot open: read the clock every time.
    Off,
    /// A snapshot is open and nobody asked for the time yet.
    Pending,
    /// A snapshot is open and the time was read.
    At(Instant),
}

thread_local! {
    static READING: Cell<Reading> = const { Cell::new(Reading::Off) };
}

/// While alive, [`now`] returns one instant on this thread (read on first use). Must not live
/// across an `.await` (it is `!Send`, so a future holding one cannot be spawned).
pub(crate) struct Snapshot {
    previous: Reading,
    _not_send: std::marker::PhantomData<*const ()>,
}

impl Snapshot {
    pub(crate) fn begin() -> Self {
        Self {
            previous: READING.replace(Reading::Pending),
            _not_send: std::marker::PhantomData,
        }
    }
}

impl Drop for Snapshot {
    fn drop(&mut self) {
        READING.set(self.previous);
    }
}

/// The current time on tokio's clock (pausable in tests), or the snapshot's instant.
#[cfg_attr(not(feature = "cache"), allow(dead_code))]
pub(crate) fn now() -> Instant {
    READING.with(|reading| match reading.get() {
        Reading::Off => Instant::now(),
        Reading::Pending => {
            let now = Instant::now();
            reading.set(Reading::At(now));
            now
        }
        Reading::At(now) => now,
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn one_reading_per_snapshot_and_none_outside() {
        let outside = now();
        {
            let _snapshot = Snapshot::begin();
            let first = now();
            tokio::time::advance(Duration::from_secs(5)).await;
            assert_eq!(now(), first, "inside a snapshot the instant is reused");
            assert_eq!(first, outside);
        }
        assert_eq!(
            now(),
            outside + Duration::from_secs(5),
            "outside, the clock is read"
        );
        // Nested snapshots restore what was there before.
        let outer = Snapshot::begin();
        let t = now();
        {
            let _inner = Snapshot::begin();
            tokio::time::advance(Duration::from_secs(1)).await;
            assert_eq!(now(), t + Duration::from_secs(1));
        }
        assert_eq!(now(), t);
        drop(outer);
    }
}
